"""The guide's baseline calibrations, one per control that names one, as Polars frames.

=====  ==========================================================================================
01     root-login cadence per account and day over 30 days (``stats count() by accountId``)
02     candidate automation principals for the allow-list: key creators of the prior 30 days
03     distinct IAM-user console identities over 30 days against the onboarding ledger (CSV)
04     the effect of the 5-minute enrol grace on IAM-user sign-ins without MFA
06     7-day moving average of distinct role-assumers against the 90-day baseline, the 3x line
07     unbounded CreateRole clusters per principal and hour
08     distinct SCP-denied fenced APIs per principal and 30 minutes
=====  ==========================================================================================

Each reads ``[end - days, end)`` (by default the 30 days up to the end of the last day of data)
with the rule pack's own expressions and match pass, so a calibration sees what the detection
sees. :func:`calibrate` dispatches by detection id; cloudtrail_hunt.tune.charts draws them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import engine, registry
from cloudtrail_hunt.detect.baselines import daily_distinct, moving_vs_baseline
from cloudtrail_hunt.detect.hunt import BASELINE, lake_of, site_of
from cloudtrail_hunt.detect.model import Signal
from cloudtrail_hunt.detect.site import Site
from cloudtrail_hunt.errors import ConfigError
from cloudtrail_hunt.ingest.lake import to_utc
from cloudtrail_hunt.source import Source, open_source
from cloudtrail_hunt.tune.backtest import default_range, resolve_signal

__all__ = [
    "CALIBRATIONS",
    "Calibration",
    "automation_candidates",
    "calibrate",
    "console_identities",
    "create_role_clusters",
    "enrol_grace",
    "read_ledger",
    "role_assumers_ratio",
    "root_login_cadence",
    "scp_denial_walks",
]

_TIME = schema.EVENT_TIME
_ACCOUNT = pl.coalesce(pl.col("recipientAccountId"), pl.col("account"))
_LEDGER_KEY, _DETECTION_KEY = "--ledger", "--detection"
When = datetime | date | str | None


def _window(
    source: Source, end: When, days: int, before: timedelta = timedelta(0)
) -> tuple[pl.LazyFrame, datetime, datetime]:
    """The source's events of ``[start - before, end)`` and the range ``[start, end)``."""
    lake = lake_of(source)  # resolved once and pinned, as the hunt and the backtest do
    frame = open_source(source) if lake is None else None
    start, stop = default_range(frame, lake, None, to_utc(end), timedelta(days=days))
    if lake is not None:  # a lake opens only the days of the range
        frame = lake.scan(start=start - before, end=stop)
    assert frame is not None
    in_range = (pl.col(_TIME) >= start - before) & (pl.col(_TIME) < stop)
    return frame.filter(in_range), start, stop


def _days(start: datetime, end: datetime) -> pl.Series:
    last = (end - timedelta(microseconds=1)).date()
    return pl.date_range(start.date(), last, "1d", eager=True).alias("day")


def _signal_matches(
    source: Source, name: str, end: When, days: int, site: Site | None, lookback: timedelta
) -> tuple[pl.DataFrame, datetime, datetime]:
    """One signal's matches in ``[start - lookback, end)`` through the engine's match pass,
    with the site's allow-lists but without its learned allow-list (the thing calibrated)."""
    detection, signal = resolve_signal(name)
    frame, start, stop = _window(source, end, days, lookback)
    site = site if site is not None else site_of(source)
    alone = replace(detection, signals=(replace(signal, learn_allow=None),))
    matches = engine.match_pass(frame, [alone], lo=start - lookback, hi=stop, site=site)
    rows, _ = engine.signal_rows(matches, alone, alone.signals[0], {}, BASELINE)  # type: ignore[arg-type]
    return rows.rename({engine._TIME: _TIME}), start, stop


# ── 01 ───────────────────────────────────────────────────────────────────────────────────────


def root_login_cadence(source: Source, *, end: When = None, days: int = 30) -> pl.DataFrame:
    """Root console sign-ins per account and UTC day: ``account``, ``day``, ``logins``,
    ``without_mfa``; every account seen in the range on every day (zeros included)."""
    frame, start, stop = _window(source, end, days)
    root = ct.event("ConsoleLogin") & ct.identity("Root")
    counts = (
        frame.filter(root)
        .group_by(_ACCOUNT.alias("account"), pl.col(_TIME).dt.date().alias("day"))
        .agg(
            pl.len().cast(pl.Int64).alias("logins"),
            ct.mfa_not_used().sum().cast(pl.Int64).alias("without_mfa"),
        )
    )
    accounts = frame.select(_ACCOUNT.alias("account")).unique().drop_nulls()
    grid = accounts.join(_days(start, stop).to_frame().lazy(), how="cross")
    return (
        grid.join(counts, on=["account", "day"], how="left")
        .with_columns(pl.col("logins", "without_mfa").fill_null(0))
        .sort("account", "day")
        .collect(engine="streaming")
    )


# ── 02 ───────────────────────────────────────────────────────────────────────────────────────


def automation_candidates(
    source: Source, *, end: When = None, days: int = 30, site: Site | None = None
) -> pl.DataFrame:
    """Principals that created access keys in the range (the guide's "feed the prior 30 days
    into a static allow-list of approved automation principals"): ``principal``, ``accounts``,
    ``keys``, ``active_days``, ``first_seen``, ``last_seen``, busiest first."""
    rows, _, _ = _signal_matches(
        source, "aws-iam-02/automation-allow-list", end, days, site, timedelta(0)
    )
    return (
        rows.group_by("principal")
        .agg(
            pl.col("account").n_unique().alias("accounts"),
            pl.len().cast(pl.Int64).alias("keys"),
            pl.col(_TIME).dt.date().n_unique().alias("active_days"),
            pl.col(_TIME).min().alias("first_seen"),
            pl.col(_TIME).max().alias("last_seen"),
        )
        .sort(["active_days", "keys", "principal"], descending=[True, True, False])
    )


# ── 03 ───────────────────────────────────────────────────────────────────────────────────────


def read_ledger(path: str | Path) -> pl.DataFrame:
    """The onboarding ledger: a CSV with a ``user`` (or ``user_name``) column and optionally
    ``account`` (or ``account_id``); returns ``account`` (null when absent) and ``user``."""
    file = str(path)
    try:
        ledger = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise ConfigError(_LEDGER_KEY, f"cannot read it: {error}", file=file) from None
    names = {c.strip().lower(): c for c in ledger.columns}
    user = next((names[k] for k in ("user", "user_name", "username") if k in names), None)
    if user is None:
        raise ConfigError(
            _LEDGER_KEY, "no user column", "name a column `user` (and optionally `account`)", file
        )
    account = next((names[k] for k in ("account", "account_id") if k in names), None)
    return ledger.select(
        (pl.col(account) if account else pl.lit(None, pl.String))
        .str.strip_chars()
        .alias("account"),
        pl.col(user).str.strip_chars().alias("user"),
    ).filter(pl.col("user").is_not_null() & (pl.col("user") != ""))


def console_identities(
    source: Source,
    ledger: str | Path | pl.DataFrame | None = None,
    *,
    end: When = None,
    days: int = 30,
    site: Site | None = None,
) -> pl.DataFrame:
    """Distinct IAM-user console identities of the range against the onboarding ledger.

    Returns ``account``, ``user``, ``logins``, ``first_seen``, ``last_seen``, ``break_glass``
    and ``status``: ``in ledger``, ``unknown`` (seen, not in the ledger) or ``never seen`` (in
    the ledger, no console sign-in in the range); ``not checked`` without a ledger. A ledger row
    without an account matches the user in any account.
    """
    frame, _, _ = _window(source, end, days)
    site = site if site is not None else site_of(source)
    seen = (
        frame.filter(ct.event("ConsoleLogin") & ct.identity("IAMUser"))
        .group_by(
            _ACCOUNT.alias("account"),
            pl.coalesce("userIdentity.userName", "userIdentity.arn").alias("user"),
        )
        .agg(
            pl.len().cast(pl.Int64).alias("logins"),
            pl.col(_TIME).min().alias("first_seen"),
            pl.col(_TIME).max().alias("last_seen"),
        )
        .collect(engine="streaming")
    )
    if ledger is None:
        out = seen.with_columns(status=pl.lit("not checked"))
    else:
        book = ledger if isinstance(ledger, pl.DataFrame) else read_ledger(ledger)
        exact = book.filter(pl.col("account").is_not_null())
        anywhere = book.filter(pl.col("account").is_null()).select("user").unique()
        known = (
            seen.join(exact, on=["account", "user"], how="semi")
            .vstack(seen.join(anywhere, on="user", how="semi"))
            .unique(["account", "user"])
        )
        unseen_exact = exact.join(seen, on=["account", "user"], how="anti")
        unseen_anywhere = anywhere.join(seen, on="user", how="anti").with_columns(
            account=pl.lit(None, pl.String)
        )
        never = pl.concat([unseen_exact, unseen_anywhere.select("account", "user")]).unique()
        out = pl.concat(
            [
                known.with_columns(status=pl.lit("in ledger")),
                seen.join(known, on=["account", "user"], how="anti").with_columns(
                    status=pl.lit("unknown")
                ),
                never.with_columns(
                    logins=pl.lit(0, pl.Int64),
                    first_seen=pl.lit(None, seen.schema["first_seen"]),
                    last_seen=pl.lit(None, seen.schema["last_seen"]),
                    status=pl.lit("never seen"),
                ).select(seen.columns + ["status"]),
            ]
        )
    prefix = site.break_glass_prefix
    return out.with_columns(
        break_glass=pl.col("user").str.starts_with(prefix) if prefix else pl.lit(False)
    ).sort("status", "account", "user", nulls_last=True)


# ── 04 ───────────────────────────────────────────────────────────────────────────────────────


def enrol_grace(
    source: Source, *, end: When = None, days: int = 30, site: Site | None = None
) -> pl.DataFrame:
    """Every IAM-user console sign-in without MFA, with the enrolment before it.

    Returns ``account``, ``principal``, ``login``, ``enrolled`` (the principal's latest
    successful EnableMFADevice before the sign-in, or null), ``gap`` (a duration) and
    ``silenced``: whether the guide's grace (5 minutes after an enrolment) keeps it from paging.
    """
    _, signal = resolve_signal("aws-iam-04/iam-user-console-login-mfa-no")
    assert isinstance(signal, Signal) and signal.unless_after is not None
    guard, grace = signal.unless_after
    frame, start, _ = _window(source, end, days, grace)
    site = site if site is not None else site_of(source)
    columns = [_TIME, _ACCOUNT.alias("account"), signal.principal.alias("principal")]
    frame = frame.with_columns(
        __login=signal.expression(site).fill_null(False), __enrol=guard.fill_null(False)
    ).filter(pl.col("__login") | pl.col("__enrol"))
    both = frame.select(*columns, "__login", "__enrol").collect(engine="streaming").sort(_TIME)
    logins = both.filter(pl.col("__login")).select(
        "account", "principal", pl.col(_TIME).alias("login")
    )
    enrolments = both.filter(pl.col("__enrol")).select(
        pl.col("principal").alias("__who"), pl.col(_TIME).alias("enrolled")
    )
    joined = logins.join_asof(
        enrolments,
        left_on="login",
        right_on="enrolled",
        by_left="principal",
        by_right="__who",
        strategy="backward",
        check_sortedness=False,  # both sorted by time above
    )
    out = joined.with_columns(gap=pl.col("login") - pl.col("enrolled")).with_columns(
        silenced=(pl.col("gap") <= grace).fill_null(False)
    )
    # Enrolments in the grace before the range are read; only sign-ins in it are judged.
    return out.filter(pl.col("login") >= start).drop("__who", strict=False).sort("login")


# ── 06 ───────────────────────────────────────────────────────────────────────────────────────


def role_assumers_ratio(source: Source, *, end: When = None, days: int = 30) -> pl.DataFrame:
    """Per role and day of the range: ``distinct`` assumers, ``ma`` (7-day moving average),
    ``base`` (mean of up to 90 days before), ``history`` days, ``line`` (3x the baseline, at
    least 3x the floor), ``ratio`` (ma / line x 3: crossing 3 is the detection firing) and
    ``fired``; the same rule and expressions as aws-iam-06's fan-out signal."""
    from detections.aws_iam_06_role_assumption import _ASSUME, _ASSUMER, _STS, VARIANCE

    history = timedelta(days=VARIANCE.window + VARIANCE.baseline)
    frame, start, stop = _window(source, end, days, history)
    assumptions = frame.filter(_STS & _ASSUME).with_columns(
        _ACCOUNT.alias("account"),
        pl.col("requestParameters").str.json_path_match("$.roleArn").alias("role"),
        _ASSUMER.alias("assumer"),
    )
    keys = ["account", "role"]
    daily = daily_distinct(assumptions.filter(pl.col("role").is_not_null()), keys, "assumer")
    if daily.is_empty():
        return pl.DataFrame(
            schema={
                "account": pl.String, "role": pl.String, "day": pl.Date, "distinct": pl.Int64,
                "ma": pl.Float64, "base": pl.Float64, "history": pl.Int64, "line": pl.Float64,
                "ratio": pl.Float64, "fired": pl.Boolean,
            }
        )  # fmt: skip
    first = daily["day"].min()
    assert isinstance(first, date)
    judged = moving_vs_baseline(
        daily, keys, first, (stop - timedelta(microseconds=1)).date(), VARIANCE
    )
    floor = pl.max_horizontal(pl.col("base").fill_null(0.0), pl.lit(VARIANCE.floor))
    return (
        judged.filter(pl.col("day") >= start.date())
        .with_columns(line=VARIANCE.factor * floor, ratio=pl.col("ma") / floor)
        .select(*keys, "day", "distinct", "ma", "base", "history", "line", "ratio", "fired")
        .sort(*keys, "day")
    )


# ── 07, 08 ───────────────────────────────────────────────────────────────────────────────────


def create_role_clusters(
    source: Source, *, end: When = None, days: int = 30, site: Site | None = None
) -> pl.DataFrame:
    """Unbounded CreateRole calls per principal and clock hour: ``account``, ``principal``,
    ``hour``, ``roles``; the guide tickets 3 or more within an hour."""
    rows, _, _ = _signal_matches(
        source, "aws-iam-07/create-role-without-boundary-burst", end, days, site, timedelta(0)
    )
    return (
        rows.group_by("account", "principal", pl.col(_TIME).dt.truncate("1h").alias("hour"))
        .agg(pl.len().cast(pl.Int64).alias("roles"))
        .sort("roles", "hour", "principal", descending=[True, False, False])
    )


def scp_denial_walks(
    source: Source, *, end: When = None, days: int = 30, site: Site | None = None
) -> pl.DataFrame:
    """SCP denials of fenced APIs per principal and 30-minute bucket: ``account``,
    ``principal``, ``bucket``, ``denials``, ``distinct_apis``; the guide pages on 5 distinct
    APIs within 30 minutes."""
    rows, _, _ = _signal_matches(
        source, "aws-iam-08/scp-denials-5-distinct-30min", end, days, site, timedelta(0)
    )
    return (
        rows.group_by("account", "principal", pl.col(_TIME).dt.truncate("30m").alias("bucket"))
        .agg(
            pl.len().cast(pl.Int64).alias("denials"),
            pl.col("eventName").n_unique().cast(pl.Int64).alias("distinct_apis"),
        )
        .sort("distinct_apis", "bucket", "principal", descending=[True, False, False])
    )


# ── Dispatch ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Calibration:
    """One control's calibration: its frame, what it shows, and the threshold the guide sets
    on its `value` column (None where the guide gives no number)."""

    detection: str
    title: str
    frame: pl.DataFrame
    entity: str
    value: str
    threshold: float | None


_Run = Callable[..., pl.DataFrame]
#: Detection number → (function, title, entity column, value column, guide threshold).
CALIBRATIONS: dict[str, tuple[_Run, str, str, str, float | None]] = {
    "01": (root_login_cadence, "Root console sign-ins per account and day", "account", "logins", 1),
    "02": (automation_candidates, "Access-key creators: allow-list candidates", "principal",
           "active_days", None),
    "03": (console_identities, "IAM-user console identities against the ledger", "user",
           "logins", None),
    "04": (enrol_grace, "Sign-ins without MFA and the 5-minute enrol grace", "principal",
           "gap_minutes", 5),
    "06": (role_assumers_ratio, "Distinct role-assumers: 7-day average against the baseline",
           "role", "ratio", 3),
    "07": (create_role_clusters, "Unbounded CreateRole calls per principal and hour",
           "principal", "roles", 3),
    "08": (scp_denial_walks, "Distinct SCP-denied fenced APIs per principal per 30 minutes",
           "principal", "distinct_apis", 5),
}  # fmt: skip


def ledger_beside(source: Source) -> Path | None:
    """``side_inputs/onboarding-ledger.csv`` beside raw logs, if there is one."""
    if not isinstance(source, str | Path):
        return None
    book = Path(source) / "side_inputs" / "onboarding-ledger.csv"
    return book if book.is_file() else None


def calibration_of(detection: str) -> tuple[str, str]:
    """The detection's id and control number, if the guide names a calibration for it."""
    ids = [d.id for d in registry.select(registry.load(), [detection])]
    number = ids[0].split("-")[2]
    if number not in CALIBRATIONS:
        known = ", ".join(f"aws-iam-{n}" for n in CALIBRATIONS)
        raise ConfigError(_DETECTION_KEY, f"the guide names no calibration for {ids[0]}", known)
    return ids[0], number


def calibrate(
    source: Source,
    detection: str,
    *,
    end: When = None,
    days: int = 30,
    ledger: str | Path | pl.DataFrame | None = None,
    site: Site | None = None,
) -> Calibration:
    """The calibration the guide prescribes for `detection` (an id or ``aws-iam-NN``).

    `ledger` (control 03 only) is the onboarding ledger CSV, by default
    `side_inputs/onboarding-ledger.csv` beside raw logs when there is one; `site` the
    organisation facts (by default the org.json of the lake's side tables, see `site_of`).
    """
    detection_id, number = calibration_of(detection)
    if ledger is not None and number != "03":
        raise ConfigError(_LEDGER_KEY, "only control 03 reads an onboarding ledger")
    run, title, entity, value, threshold = CALIBRATIONS[number]
    kwargs: dict[str, Any] = {"end": end, "days": days}
    if number in ("02", "03", "04", "07", "08"):
        kwargs["site"] = site
    if number == "03":
        kwargs["ledger"] = ledger if ledger is not None else ledger_beside(source)
    # Raw logs are ingested into their cache lake once; the calibration reads it pinned, and
    # the organisation facts from its side tables (`site_of`).
    lake = lake_of(source)
    frame = run(lake if lake is not None else source, **kwargs)
    if number == "04":
        frame = frame.with_columns(gap_minutes=pl.col("gap").dt.total_seconds() / 60)
    return Calibration(detection_id, title, frame, entity, value, threshold)
