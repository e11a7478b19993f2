"""Computed signals read from the credential reports and Config evaluations (controls 02-05, 10).

side_inputs.py ──► **reports** ──► Computed.evaluate ──► engine. Each public function takes a
HuntContext and returns finding rows (see model.Computed). A report row is evidence as
(path relative to the side-inputs folder, row index); a Config result as (file, result index).
"Now" is each report's generation time, never the clock. A per-user condition that holds in
consecutive reports is one finding (a streak), reported in the range where it began.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from cloudtrail_hunt.detect import side_inputs
from cloudtrail_hunt.detect.model import HuntContext, Tier

ROOT = "<root_account>"  # the root user's row in a credential report
_DAY = timedelta(days=1)
_T = pl.col("generated_at")
Row = dict[str, Any]


@functools.lru_cache(maxsize=4)
def _cached(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> side_inputs.SideInputs:
    return side_inputs.load(folder)


def load(ctx: HuntContext) -> side_inputs.SideInputs | None:
    """The hunt's side inputs, loaded once per folder state (every computed signal reads them)."""
    if ctx.side_inputs is None:
        return None
    folder = Path(ctx.side_inputs)
    files = [
        p for sub in (side_inputs.REPORTS, side_inputs.CONFIG) for p in (folder / sub).rglob("*")
    ]
    stamp = tuple((p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(files))
    return _cached(folder.as_posix(), stamp)


def _reports(ctx: HuntContext) -> pl.DataFrame:
    loaded = load(ctx)
    return loaded.reports if loaded is not None else pl.DataFrame()


def _evidence(paths: Iterable[str], rows: Iterable[int]) -> list[Row]:
    return [{"event_id": None, "source": p, "index": i} for p, i in zip(paths, rows, strict=True)]


def _finding(tier: Tier, row: Row, threshold: str, baseline: str | None = None) -> Row:
    return {
        "tier": tier,
        "account": row["account"],
        "principal": row["principal"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "evidence": _evidence(row["paths"], row["rows"]),
        "threshold": threshold,
        "baseline": baseline,
    }


def _streaks(hits: pl.DataFrame, seq: str = "seq") -> pl.DataFrame:
    """One row per run of consecutive reports (by `seq`) in which a principal's condition held."""
    hits = hits.unique(["account", "principal", seq, "path", "row"]).sort(seq, "row")
    rank = pl.col(seq).rank("dense").over("account", "principal").cast(pl.Int64)
    return (
        hits.with_columns(streak=pl.col(seq) - rank)
        .group_by("account", "principal", "streak")
        .agg(first_seen=_T.min(), last_seen=_T.max(), paths=pl.col("path"), rows=pl.col("row"))
        .sort("first_seen", "account", "principal")
    )


def _per_principal(hits: pl.DataFrame, tier: Tier, threshold: str, seq: str = "seq") -> list[Row]:
    if hits.is_empty():
        return []
    return [_finding(tier, r, threshold) for r in _streaks(hits, seq).iter_rows(named=True)]


def key_slots(reports: pl.DataFrame) -> pl.DataFrame:
    """One row per active access key of each report row: ``slot``, ``rotated``, ``used``."""
    common = ["account", "arn", "user", "path", "row", "seq", "generated_at", "scheduled"]
    slots = [
        reports.select(
            *common,
            slot=pl.lit(n),
            active=pl.col(f"access_key_{n}_active"),
            rotated=pl.col(f"access_key_{n}_last_rotated"),
            used=pl.col(f"access_key_{n}_last_used_date"),
        )
        for n in (1, 2)
    ]
    keys = pl.concat(slots).filter(pl.col("active").fill_null(False))
    return keys.with_columns(principal=pl.col("arn"))


def _key_signal(ctx: HuntContext, condition: pl.Expr, tier: Tier, threshold: str) -> list[Row]:
    reports = _reports(ctx)
    if reports.is_empty():
        return []
    return _per_principal(key_slots(reports).filter(condition), tier, threshold)


def key_over_90_days(ctx: HuntContext) -> list[Row]:
    """Control 05: an active key whose last_rotated is more than 90 days behind the report."""
    # Guide: "credential-report rows where access_key_1_last_rotated (or _2_) is more than 90
    # days behind the report timestamp".
    over = _T - pl.col("rotated") > 90 * _DAY
    return _key_signal(
        ctx, over, Tier.TICKET, "active key last rotated > 90 days before the report"
    )


def key_over_180_days(ctx: HuntContext) -> list[Row]:
    """Control 05: an active key older than 180 days (double the policy threshold): page."""
    over = _T - pl.col("rotated") > 180 * _DAY
    return _key_signal(ctx, over, Tier.PAGE, "active key last rotated > 180 days before the report")


def key_last_used_gap(ctx: HuntContext) -> list[Row]:
    """Control 05: an active key rotated over 30 days ago whose last use is over 30 days old."""
    # Guide: "access_key_1_last_used_date trails access_key_1_last_rotated by more than 30 days
    # while still active"; read as the synthetic labels do: both are > 30 days behind the report
    # (a key used once right after rotation, then never again).
    gap = (_T - pl.col("rotated") > 30 * _DAY) & (_T - pl.col("used") > 30 * _DAY)
    return _key_signal(ctx, gap, Tier.TICKET, "active key, rotated and last used > 30 days ago")


def root_key_flip(ctx: HuntContext) -> list[Row]:
    """Control 02: access_key_N_active goes false -> true on the root row between two reports."""
    # Guide: "IAM credential-report deltas where access_key_1_active or access_key_2_active flips
    # from false to true on the <root_account> row between consecutive ... report runs". Every
    # run counts (a manual run after a flip is the first evidence of it).
    reports = _reports(ctx)
    if reports.is_empty():
        return []
    roots = reports.filter(pl.col("user") == ROOT)
    pairs = side_inputs.pair_consecutive(reports).filter(pl.col("previous_path").is_not_null())
    cols = ["path", "row", "access_key_1_active", "access_key_2_active"]
    joined = pairs.join(roots.select("arn", *cols), on="path").join(
        roots.select(cols), left_on="previous_path", right_on="path", how="left", suffix="_before"
    )
    out = []
    for n in (1, 2):
        now, before = pl.col(f"access_key_{n}_active"), pl.col(f"access_key_{n}_active_before")
        flipped = joined.filter(now.fill_null(False) & ~before.fill_null(False))
        for r in flipped.iter_rows(named=True):
            # The earlier report's root row, then the later one's (IAM always writes a root row).
            skip = 0 if r["row_before"] is not None else 1
            row = {
                **r,
                "principal": r["arn"],
                "first_seen": r["generated_at"],  # the flip is seen in the later report
                "last_seen": r["generated_at"],
                "paths": [r["previous_path"], r["path"]][skip:],
                "rows": [r["row_before"], r["row"]][skip:],
            }
            what = (
                f"access_key_{n}_active false -> true on the root row between consecutive reports"
            )
            out.append(_finding(Tier.PAGE, row, what))
    return out


def _account_rows(rows: pl.DataFrame, principal: pl.Expr) -> pl.DataFrame:
    """Per report: the matching rows, their count, and who the finding names."""
    return (
        rows.group_by("account", "path", "generated_at")
        .agg(
            n=pl.len(),
            principal=principal,
            first_seen=_T.first(),
            last_seen=_T.first(),
            paths=pl.col("path"),
            rows=pl.col("row"),
        )
        .sort("first_seen", "account")
    )


def password_no_mfa(ctx: HuntContext) -> list[Row]:
    """Control 04: rows with a console password and no MFA; 1-5 ticket, 6+ page, per report."""
    # Guide: "Credential-report row count with password_enabled=true AND mfa_active=false > 0 —
    # daily digest with severity proportional to the row count (0 = silent, 1-5 = ticket,
    # 6+ = page)." The root row has no password_enabled (not_supported): not counted.
    reports = _reports(ctx)
    if reports.is_empty():
        return []
    rows = reports.filter(
        (pl.col("user") != ROOT) & pl.col("password_enabled") & ~pl.col("mfa_active")
    )
    # A digest of IAM users' rows names each of those users, never root (which has no row here).
    users = pl.col("arn").sort().str.join(",")
    out = []
    for r in _account_rows(rows, users).iter_rows(named=True):
        tier = Tier.PAGE if r["n"] >= 6 else Tier.TICKET
        rule = "password_enabled=true and mfa_active=false: 1-5 rows ticket, 6+ page"
        out.append(_finding(tier, r, rule, f"{r['n']} rows in the report"))
    return out


def _idle_since() -> pl.Expr:
    """When a row's most idle active credential was last used (or set, if never used)."""
    password = pl.when(pl.col("password_enabled").fill_null(False)).then(
        pl.coalesce("password_last_used", "password_last_changed", "user_creation_time")
    )
    keys = [
        pl.when(pl.col(f"access_key_{n}_active").fill_null(False)).then(
            pl.coalesce(f"access_key_{n}_last_used_date", f"access_key_{n}_last_rotated")
        )
        for n in (1, 2)
    ]
    return pl.min_horizontal(password, *keys)


def stale_rows(reports: pl.DataFrame, days: int = 45) -> pl.DataFrame:
    """Rows of scheduled runs with an active credential idle >= `days` (root excluded)."""
    # Guide: "identify IAM users whose passwords or access keys have not been used in ≥45 days"
    # (CIS 1.12); the audit Lambda's StaleUsers metric counts them per scheduled run.
    runs = reports.filter(pl.col("scheduled")).select("account", "path").unique()
    runs = runs.sort("path").with_columns(run=pl.int_range(pl.len()).over("account"))
    idle = _T - _idle_since() >= days * _DAY
    stale = reports.filter((pl.col("user") != ROOT) & idle.fill_null(False))
    return stale.join(runs, on=["account", "path"]).with_columns(principal=pl.col("arn"))


def stale_over_10(ctx: HuntContext) -> list[Row]:
    """Control 10: more than 10 stale users in one scheduled run: page."""
    reports = _reports(ctx)
    if reports.is_empty():
        return []
    names = pl.col("user").sort().str.join(",")
    rows = _account_rows(stale_rows(reports), names).filter(pl.col("n") > 10)
    rule = "StaleUsers > 10 in one scheduled run (idle >= 45 days)"
    return [
        _finding(Tier.PAGE, r, rule, f"{r['n']} stale users") for r in rows.iter_rows(named=True)
    ]


def stale_two_consecutive_runs(ctx: HuntContext) -> list[Row]:
    """Control 10: a stale user in a scheduled run that follows a run with stale users."""
    # Guide: "Custom metric StaleUsers > 0 for two consecutive runs — ticket per stale user";
    # one isolated run (a freshly onboarded user) stays silent.
    reports = _reports(ctx)
    if reports.is_empty():
        return []
    stale = stale_rows(reports)
    follows = stale.select("account", run=pl.col("run") + 1).unique()
    hits = stale.join(follows, on=["account", "run"], how="semi")
    return _per_principal(hits, Tier.TICKET, "StaleUsers > 0 in two consecutive runs", "run")


def never_used_over_45_days(ctx: HuntContext) -> list[Row]:
    """Control 10: an active password or key never used, set more than 45 days before the report."""
    # Guide: "password_last_used or access_key_1_last_used_date remains N/A for > 45 days while
    # the corresponding credential remains active".
    reports = _reports(ctx)
    if reports.is_empty():
        return []
    since = pl.coalesce("password_last_changed", "user_creation_time")
    password = (
        pl.col("password_enabled").fill_null(False)
        & pl.col("password_last_used").is_null()
        & (_T - since > 45 * _DAY)
    )
    keys = [
        pl.col(f"access_key_{n}_active").fill_null(False)
        & pl.col(f"access_key_{n}_last_used_date").is_null()
        & (_T - pl.col(f"access_key_{n}_last_rotated") > 45 * _DAY)
        for n in (1, 2)
    ]
    hits = reports.filter((pl.col("user") != ROOT) & pl.any_horizontal(password, *keys))
    rule = "active credential last used N/A for > 45 days"
    return _per_principal(hits.with_columns(principal=pl.col("arn")), Tier.TICKET, rule)


def _user_arns(ctx: HuntContext) -> pl.DataFrame:
    """IAM user id -> ARN, from the trail (Config names users by their `AIDA…` id)."""
    return (
        ctx.events.filter(pl.col("userIdentity.type") == "IAMUser")
        .select(resource_id=pl.col("userIdentity.principalId"), arn=pl.col("userIdentity.arn"))
        .unique("resource_id")
        .collect()
    )


def config_non_compliant(ctx: HuntContext) -> list[Row]:
    """Control 05: ACCESS_KEYS_ROTATED evaluates an IAM user NON_COMPLIANT: ticket per user."""
    # Guide: "Non-zero count of NON_COMPLIANT users on the weekly Config evaluation cadence —
    # informational ticket per user with rotation-required acknowledgement deadline of 14 days."
    loaded = load(ctx)
    if loaded is None or loaded.config.is_empty():
        return []
    rotated = pl.col("rule").str.contains(r"(?i)access.?keys.?rotated") | pl.col(
        "path"
    ).str.contains("ACCESS_KEYS_ROTATED")
    config = loaded.config.filter(rotated & (pl.col("resource_type") == "AWS::IAM::User"))
    runs = config.select("account", "evaluated_at").unique().sort("evaluated_at")
    runs = runs.with_columns(seq=pl.int_range(pl.len()).over("account"))
    hits = (
        config.filter(pl.col("compliance") == "NON_COMPLIANT")
        .join(runs, on=["account", "evaluated_at"])
        .join(_user_arns(ctx), on="resource_id", how="left")
        .select(
            "account", "seq", "path",
            row=pl.col("index"),
            generated_at=pl.col("evaluated_at"),
            principal=pl.coalesce("arn", "resource_id"),
        )
    )  # fmt: skip
    rule = "ACCESS_KEYS_ROTATED NON_COMPLIANT (key older than maxAccessKeyAge)"
    return _per_principal(hits, Tier.TICKET, rule)


def login_profiles(ctx: HuntContext) -> pl.DataFrame:
    """Each user's `password_enabled` per credential report: account, user, generated_at."""
    frame = _reports(ctx)
    if frame.is_empty():
        return pl.DataFrame(
            schema={
                "account": pl.String,
                "user": pl.String,
                "at": pl.Datetime("us", "UTC"),
                "password_enabled": pl.Boolean,
            }
        )
    return frame.select(
        "account", "user", pl.col("generated_at").alias("at"), "password_enabled"
    ).sort("at")


def login_profile_at(
    states: pl.DataFrame, key: tuple[str, str], when: datetime
) -> tuple[datetime, bool | None] | None:
    """When the last report before `when` was generated, and whether it showed a console
    password for (account, user); None without such a report."""
    account, user = key
    before = states.filter(
        (pl.col("account") == account) & (pl.col("user") == user) & (pl.col("at") <= when)
    )
    if before.is_empty():
        return None
    value = before["password_enabled"][-1]
    return before["at"][-1], None if value is None else bool(value)
