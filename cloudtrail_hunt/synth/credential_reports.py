"""IAM credential reports computed from credential state and the trail, and the labels they imply.

A report row says what the trail shows: last-used dates come from the records themselves (or,
for use before the trail starts, from the planted history). Labels for report-based signals are
derived here with the guide's rules, so they match the CSVs exactly:

* root key flip: ``access_key_N_active`` false (or absent) -> true on the root row between two
  consecutive reports of the account;
* password without MFA: rows (root excluded) with ``password_enabled=true, mfa_active=false``,
  1-5 ticket, 6+ page;
* key older than 90 days (ticket) / 180 days (page): active key, ``last_rotated`` that far behind;
* last-used gap: active key rotated > 30 days ago whose last use is > 30 days old (ticket);
* never used: active password or key, last used N/A, set > 45 days ago (ticket);
* stale users (scheduled audit runs only): any active credential idle >= 45 days (its last use,
  or its creation if never used). > 10 in a run: page; > 0 in two consecutive runs: ticket per
  user stale in the second run.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass

from cloudtrail_hunt.synth.identities import IamUser, Org
from cloudtrail_hunt.synth.records import iso_offset
from cloudtrail_hunt.synth.scenarios.base import guide_label
from cloudtrail_hunt.synth.trail import DAY, Label, ReportRun, Trail

__all__ = ["HEADER", "Report", "derive_labels", "reports"]

HEADER = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
)
NA = "N/A"


@dataclass(slots=True)
class KeyState:
    active: bool
    rotated: int
    used: tuple[int, str, str] | None


@dataclass(slots=True)
class RowState:
    user: IamUser
    password: bool
    password_used: int | None
    mfa: bool
    keys: list[KeyState]

    @property
    def is_root(self) -> bool:
        return self.user.name == "<root_account>"


@dataclass(slots=True)
class Report:
    """One generated report: its run, the rows, and its path under the output root."""

    run: ReportRun
    rows: list[RowState]

    @property
    def date(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.run.t))

    @property
    def path(self) -> str:
        return f"side_inputs/credential-reports/{self.run.account}/{self.date}.csv"

    def csv(self) -> str:
        """The report as IAM returns it (base64-decoded ``Content``)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER)
        for row in self.rows:
            w.writerow(_render(row))
        return buf.getvalue()


def _row(org: Org, trail: Trail, user: IamUser, t: int) -> RowState:
    keys = []
    for key in sorted((k for k in user.keys if k.created <= t), key=lambda k: k.created)[:2]:
        used = trail.last_key_use(key.key_id, t)
        if (
            key.prior_use is not None
            and key.prior_use[0] <= t
            and (used is None or key.prior_use[0] > used[0])
        ):
            used = key.prior_use
        keys.append(KeyState(bool(key.active.at(t)), key.created, used))
    login = trail.last_login(user.account, user.name, t)
    if (
        user.prior_login is not None
        and user.prior_login <= t
        and (login is None or user.prior_login > login)
    ):
        login = user.prior_login
    return RowState(user, bool(user.password.at(t)), login, bool(user.mfa.at(t)), keys)


def _render(row: RowState) -> list[str]:
    u = row.user

    def ts(t: int | None) -> str:
        return iso_offset(t - t % 60) if t is not None else NA

    out = [u.name, u.arn, iso_offset(u.created)]
    if row.is_root:
        out += [
            "not_supported",
            ts(row.password_used) if row.password_used else "no_information",
            "not_supported",
            "not_supported",
        ]
    elif row.password:
        changed = u.password_changed or u.created
        out += ["true", ts(row.password_used), iso_offset(changed), iso_offset(changed + 90 * DAY)]
    else:
        out += ["false", NA, NA, NA]
    out.append("true" if row.mfa else "false")
    for n in range(2):
        if n < len(row.keys):
            k = row.keys[n]
            used = k.used
            out += [
                "true" if k.active else "false",
                iso_offset(k.rotated),
                ts(used[0] if used else None),
                used[1] if used else NA,
                used[2] if used else NA,
            ]
        else:
            out += ["false", NA, NA, NA, NA]
    out += ["false", NA, "false", NA]
    return out


def reports(org: Org, trail: Trail) -> list[Report]:
    """Every report of the run, ordered by account then time (root row first in each)."""
    out = []
    for run in sorted(trail.reports, key=lambda r: (r.account, r.t)):
        users = sorted(
            (u for (acct, _), u in org.users.items() if acct == run.account and u.created <= run.t),
            key=lambda u: u.name,
        )
        rows = [_row(org, trail, org.roots[run.account], run.t)]
        rows += [_row(org, trail, u, run.t) for u in users]
        out.append(Report(run, rows))
    return out


def _stale(row: RowState, t: int) -> bool:
    if row.is_root:
        return False
    idle = []
    if row.password:
        idle.append(row.password_used or row.user.password_changed or row.user.created)
    idle += [k.used[0] if k.used else k.rotated for k in row.keys if k.active]
    return any(t - x >= 45 * DAY for x in idle)


def _label(
    scenario: str,
    control: int,
    signal: str,
    tier: str | None,
    account: str,
    principal: str,
    note: str,
    group: list[Report],
) -> Label:
    return guide_label(
        scenario, control, signal, tier, account, principal, note,
        evidence=[r.path for r in group], first=group[0].run.t, last=group[-1].run.t,
    )  # fmt: skip


def derive_labels(org: Org, reps: list[Report]) -> list[Label]:
    """Labels for every report-based signal the reports contain (see the module docstring)."""
    names = {a.id: a.name.removeprefix("acme-") for a in org.accounts}
    out: list[Label] = []
    per_user: dict[tuple[str, str, str], list[Report]] = {}
    by_account: dict[str, list[Report]] = {}
    for rep in reps:
        by_account.setdefault(rep.run.account, []).append(rep)
    for acct, seq in by_account.items():
        short = names[acct]
        prev: Report | None = None
        band_groups: list[tuple[str | None, list[Report]]] = []
        prev_stale: set[str] | None = None
        for rep in seq:
            t = rep.run.t
            root = rep.rows[0]
            if prev is not None:
                before = prev.rows[0].keys
                for n, k in enumerate(root.keys):
                    if k.active and not (n < len(before) and before[n].active):
                        out.append(
                            _label(
                                f"root-key-flip-{short}-{rep.date}-key-{n + 1}",
                                2,
                                "credential-report-root-key-flip",
                                "page",
                                acct,
                                root.user.arn,
                                f"access_key_{n + 1}_active turns true on the <root_account> row.",
                                [prev, rep],
                            )
                        )
            count = sum(1 for r in rep.rows if not r.is_root and r.password and not r.mfa)
            band = None if count == 0 else ("ticket" if count <= 5 else "page")
            if band_groups and band_groups[-1][0] == band:
                band_groups[-1][1].append(rep)
            else:
                band_groups.append((band, [rep]))
            for r in rep.rows:
                active = [k for k in r.keys if k.active]
                for signal, hit in (
                    (
                        "credential-report-key-over-90-days",
                        any(t - k.rotated > 90 * DAY for k in active),
                    ),
                    ("key-age-over-180-days", any(t - k.rotated > 180 * DAY for k in active)),
                    (
                        "key-last-used-gap",
                        any(
                            k.used and t - k.rotated > 30 * DAY and t - k.used[0] > 30 * DAY
                            for k in active
                        ),
                    ),
                    (
                        "credential-never-used-over-45-days",
                        not r.is_root
                        and (
                            any(k.used is None and t - k.rotated > 45 * DAY for k in active)
                            or (
                                r.password
                                and r.password_used is None
                                and t - (r.user.password_changed or r.user.created) > 45 * DAY
                            )
                        ),
                    ),
                ):
                    if hit:
                        per_user.setdefault((signal, acct, r.user.arn), []).append(rep)
            if rep.run.scheduled:
                stale = {r.user.arn for r in rep.rows if _stale(r, t)}
                if len(stale) > 10:
                    out.append(
                        _label(
                            f"stale-users-over-10-{short}-{rep.date}",
                            10,
                            "stale-users-over-10",
                            "page",
                            acct,
                            ",".join(sorted(a.rsplit("/", 1)[1] for a in stale)),
                            f"{len(stale)} users are stale in one audit run.",
                            [rep],
                        )
                    )
                if prev_stale and stale:
                    for arn in sorted(stale):
                        per_user.setdefault(
                            ("stale-users-two-consecutive-runs", acct, arn), []
                        ).append(rep)
                prev_stale = stale
            prev = rep
        for band, group in band_groups:
            if band is not None:
                out.append(
                    _label(
                        f"password-without-mfa-{band}-{short}-{group[0].date}",
                        4,
                        "credential-report-password-no-mfa",
                        band,
                        acct,
                        f"arn:aws:iam::{acct}:root",
                        f"Users with a console password and no MFA in the report ({band} band).",
                        group,
                    )
                )
        if all(b is None for b, _ in band_groups) and acct == org.management.id:
            out.append(
                _label(
                    f"password-without-mfa-zero-{short}",
                    4,
                    "credential-report-password-no-mfa",
                    None,
                    acct,
                    f"arn:aws:iam::{acct}:root",
                    "Near miss: no user with a password lacks MFA (0 rows = silent).",
                    seq,
                )
            )
    meta = {
        "credential-report-key-over-90-days": (
            5,
            "ticket",
            "An active key rotated more than 90 days before the report.",
        ),
        "key-age-over-180-days": (5, "page", "An active key older than 180 days."),
        "key-last-used-gap": (
            5,
            "ticket",
            "An active key, rotated over 30 days ago, unused for over 30 days.",
        ),
        "credential-never-used-over-45-days": (
            10,
            "ticket",
            "An active credential never used since it was set more than 45 days ago.",
        ),
        "stale-users-two-consecutive-runs": (
            10,
            "ticket",
            "A stale user, in a run that follows another run with stale users.",
        ),
    }
    for (signal, acct, arn), group in sorted(per_user.items()):
        control, tier, note = meta[signal]
        user = arn.rsplit("/", 1)[1] if "/" in arn else "root"
        out.append(
            _label(f"{signal}-{names[acct]}-{user}", control, signal, tier, acct, arn, note, group)
        )
    return out
