"""Computed signals of controls 02, 04, 05 and 10: each threshold at its boundary and just below."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloudtrail_hunt.detect import engine, reports
from cloudtrail_hunt.detect.model import HuntContext, Tier
from cloudtrail_hunt.detect.site import Site
from cloudtrail_hunt.source import records_frame
from detections import aws_iam_05_key_rotation as c05
from detections import aws_iam_10_credential_report as c10
from tests.conftest import make_event
from tests.detect.test_side_inputs import ACCOUNT, T0, iso, row, write_config, write_report

DAY, WEEK = timedelta(days=1), timedelta(days=7)
Rows = list[dict[str, Any]]
AUDIT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/credential-report-audit-role"


def context(
    folder: Path | None, events: list[dict[str, Any]] | None = None, site: Site | None = None
) -> HuntContext:
    """A hunt over 2026 with `events` (one harmless event by default) and side inputs."""
    frame = records_frame(events or [make_event()])
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    return HuntContext(frame, start, end, site or Site(), folder, timedelta(days=30))


def run(signal: Callable[[HuntContext], Rows], folder: Path, **kwargs: Any) -> Rows:
    return signal(context(folder, **kwargs))


def key(age: timedelta, used: timedelta | None = None, n: int = 1) -> dict[str, str]:
    """Columns of an active key slot rotated `age` before T0, last used `used` before T0."""
    fields = {f"access_key_{n}_active": "true", f"access_key_{n}_last_rotated": iso(T0 - age)}
    if used is not None:
        fields[f"access_key_{n}_last_used_date"] = iso(T0 - used)
    return fields


# ── control 04: password without MFA ──────────────────────────────────────────────────────


def no_mfa(n: int) -> list[dict[str, str]]:
    used = iso(T0 - DAY)
    return [row(f"u{i}", password_enabled="true", password_last_used=used) for i in range(n)]


@pytest.mark.parametrize(("rows", "tier"), [(5, Tier.TICKET), (6, Tier.PAGE)])
def test_password_no_mfa_bands(tmp_path: Path, rows: int, tier: Tier) -> None:
    rel = write_report(tmp_path, T0, [row("<root_account>"), *no_mfa(rows)])
    (found,) = run(reports.password_no_mfa, tmp_path)
    # Each IAM user whose row matches is named; never root (whose row is not counted).
    users = ",".join(f"arn:aws:iam::{ACCOUNT}:user/u{i}" for i in range(rows))
    assert (found["tier"], found["principal"]) == (tier, users)
    assert [(e["source"], e["index"]) for e in found["evidence"]] == [
        (rel, i) for i in range(1, rows + 1)
    ]


def test_password_no_mfa_zero_rows_silent(tmp_path: Path) -> None:
    with_mfa = row("u", password_enabled="true", mfa_active="true")
    write_report(tmp_path, T0, [row("<root_account>", mfa_active="false"), with_mfa])
    assert run(reports.password_no_mfa, tmp_path) == []


def test_password_no_mfa_one_finding_per_report(tmp_path: Path) -> None:
    write_report(tmp_path, T0, no_mfa(1))
    write_report(tmp_path, T0 + WEEK, no_mfa(1))
    assert [f["first_seen"] for f in run(reports.password_no_mfa, tmp_path)] == [T0, T0 + WEEK]


# ── control 02: root key flip ─────────────────────────────────────────────────────────────


def test_root_key_flip_false_to_true_pages(tmp_path: Path) -> None:
    before = write_report(tmp_path, T0, [row("<root_account>")])
    after = write_report(tmp_path, T0 + WEEK, [row("<root_account>", **key(DAY, n=2))])
    (found,) = run(reports.root_key_flip, tmp_path)
    assert found["tier"] == Tier.PAGE and found["first_seen"] == T0 + WEEK
    assert [e["source"] for e in found["evidence"]] == [before, after]
    assert "access_key_2_active" in found["threshold"]


def test_root_key_flip_already_active_silent(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("<root_account>", **key(DAY))])
    write_report(tmp_path, T0 + WEEK, [row("<root_account>", **key(DAY + WEEK))])
    assert run(reports.root_key_flip, tmp_path) == []


def test_root_key_flip_needs_a_previous_report(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("<root_account>", **key(DAY))])
    assert run(reports.root_key_flip, tmp_path) == []


# ── control 05: key age and last-used gap ─────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("signal", "days"),
    [(reports.key_over_90_days, 90), (reports.key_over_180_days, 180)],
)
def test_key_age_just_over_fires(
    tmp_path: Path, signal: Callable[[HuntContext], Rows], days: int
) -> None:
    write_report(tmp_path, T0, [row("svc", **key(timedelta(days=days, minutes=1), DAY))])
    (found,) = run(signal, tmp_path)
    assert found["principal"] == f"arn:aws:iam::{ACCOUNT}:user/svc"


@pytest.mark.parametrize(
    ("signal", "days"),
    [(reports.key_over_90_days, 90), (reports.key_over_180_days, 180)],
)
def test_key_age_at_threshold_silent(
    tmp_path: Path, signal: Callable[[HuntContext], Rows], days: int
) -> None:
    write_report(tmp_path, T0, [row("svc", **key(timedelta(days=days), DAY))])
    assert run(signal, tmp_path) == []


def test_key_age_tiers(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("svc", **key(181 * DAY, DAY))])
    assert [f["tier"] for f in run(reports.key_over_90_days, tmp_path)] == [Tier.TICKET]
    assert [f["tier"] for f in run(reports.key_over_180_days, tmp_path)] == [Tier.PAGE]


def test_key_age_inactive_key_silent(tmp_path: Path) -> None:
    old = {**key(200 * DAY, DAY), "access_key_1_active": "false"}
    write_report(tmp_path, T0, [row("svc", **old)])
    assert run(reports.key_over_90_days, tmp_path) == []


def test_key_age_consecutive_reports_one_finding(tmp_path: Path) -> None:
    paths = [write_report(tmp_path, T0 + k * WEEK, [row("svc", **key(91 * DAY))]) for k in (0, 1)]
    (found,) = run(reports.key_over_90_days, tmp_path)
    assert [e["source"] for e in found["evidence"]] == paths
    assert (found["first_seen"], found["last_seen"]) == (T0, T0 + WEEK)


def test_key_age_broken_streak_two_findings(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("svc", **key(91 * DAY))])
    write_report(tmp_path, T0 + WEEK, [row("svc")])
    write_report(tmp_path, T0 + 2 * WEEK, [row("svc", **key(91 * DAY))])
    assert [f["first_seen"] for f in run(reports.key_over_90_days, tmp_path)] == [
        T0,
        T0 + 2 * WEEK,
    ]


@pytest.mark.parametrize(
    ("rotated", "used", "fires"),
    [(31, 31, True), (31, 30, False), (30, 30, False)],
)
def test_key_last_used_gap(tmp_path: Path, rotated: int, used: int, fires: bool) -> None:
    write_report(tmp_path, T0, [row("svc", **key(rotated * DAY + DAY / 24, used * DAY))])
    assert len(run(reports.key_last_used_gap, tmp_path)) == int(fires)


def test_key_last_used_gap_never_used_is_not_a_gap(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("svc", **key(100 * DAY))])
    assert run(reports.key_last_used_gap, tmp_path) == []


# ── control 05: Config ACCESS_KEYS_ROTATED ────────────────────────────────────────────────


def iam_user_event(name: str, user_id: str) -> dict[str, Any]:
    return make_event(
        userIdentity={
            "type": "IAMUser",
            "principalId": user_id,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "accountId": ACCOUNT,
            "accessKeyId": "AKIAEXAMPLE",
            "userName": name,
        }
    )


def test_config_non_compliant_ticket_per_user(tmp_path: Path) -> None:
    first = write_config(tmp_path, T0, [("AIDA1", "NON_COMPLIANT"), ("AIDA2", "COMPLIANT")])
    second = write_config(
        tmp_path, T0 + WEEK, [("AIDA1", "NON_COMPLIANT"), ("AIDA3", "NON_COMPLIANT")]
    )
    found = run(reports.config_non_compliant, tmp_path, events=[iam_user_event("etl", "AIDA1")])
    by_principal = {f["principal"]: f for f in found}
    assert set(by_principal) == {f"arn:aws:iam::{ACCOUNT}:user/etl", "AIDA3"}
    etl = by_principal[f"arn:aws:iam::{ACCOUNT}:user/etl"]
    assert [(e["source"], e["index"]) for e in etl["evidence"]] == [(first, 0), (second, 0)]
    assert {f["tier"] for f in found} == {Tier.TICKET}


def test_config_compliant_silent(tmp_path: Path) -> None:
    write_config(tmp_path, T0, [("AIDA1", "COMPLIANT")])
    assert run(reports.config_non_compliant, tmp_path) == []


# ── control 10: stale, never used ─────────────────────────────────────────────────────────


def stale(name: str, idle: timedelta = 46 * DAY) -> dict[str, str]:
    return row(name, **key(200 * DAY, idle))


@pytest.mark.parametrize(
    ("idle", "stale_users"), [(45 * DAY, 1), (45 * DAY - timedelta(minutes=1), 0)]
)
def test_stale_rows_45_days_inclusive(tmp_path: Path, idle: timedelta, stale_users: int) -> None:
    write_report(tmp_path, T0, [stale("svc", idle)])
    loaded = reports.load(context(tmp_path))
    assert loaded is not None
    assert reports.stale_rows(loaded.reports).height == stale_users


def test_stale_rows_password_never_used_counts_from_change(tmp_path: Path) -> None:
    changed = iso(T0 - 45 * DAY)
    write_report(tmp_path, T0, [row("h", password_enabled="true", password_last_changed=changed)])
    loaded = reports.load(context(tmp_path))
    assert loaded is not None
    assert reports.stale_rows(loaded.reports)["user"].to_list() == ["h"]


@pytest.mark.parametrize(("users", "pages"), [(11, 1), (10, 0)])
def test_stale_users_over_10(tmp_path: Path, users: int, pages: int) -> None:
    write_report(tmp_path, T0, [stale(f"ctr-{i:02d}") for i in range(users)])
    found = run(reports.stale_over_10, tmp_path)
    assert [f["tier"] for f in found] == [Tier.PAGE] * pages


def test_stale_users_over_10_ignores_manual_runs(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [stale(f"ctr-{i:02d}") for i in range(11)], scheduled=False)
    assert run(reports.stale_over_10, tmp_path) == []


def test_stale_two_consecutive_runs_ticket_per_user(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [stale("a")])
    second = write_report(tmp_path, T0 + WEEK, [stale("a"), stale("b")])
    found = run(reports.stale_two_consecutive_runs, tmp_path)
    assert sorted(f["principal"].rsplit("/", 1)[1] for f in found) == ["a", "b"]
    assert {e["source"] for f in found for e in f["evidence"]} == {second}


def test_stale_single_run_silent(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [stale("a")])
    write_report(tmp_path, T0 + WEEK, [row("a", **key(200 * DAY, DAY))])
    assert run(reports.stale_two_consecutive_runs, tmp_path) == []


def test_stale_two_runs_skip_manual_run_between(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [stale("a")])
    write_report(tmp_path, T0 + DAY, [row("a")], scheduled=False)
    write_report(tmp_path, T0 + WEEK, [stale("a")])
    assert len(run(reports.stale_two_consecutive_runs, tmp_path)) == 1


@pytest.mark.parametrize(("age", "fires"), [(46 * DAY, True), (45 * DAY, False)])
def test_never_used_key_over_45_days(tmp_path: Path, age: timedelta, fires: bool) -> None:
    write_report(tmp_path, T0, [row("svc", **key(age))])
    assert len(run(reports.never_used_over_45_days, tmp_path)) == int(fires)


@pytest.mark.parametrize(("age", "fires"), [(46 * DAY, True), (45 * DAY, False)])
def test_never_used_password_over_45_days(tmp_path: Path, age: timedelta, fires: bool) -> None:
    password = {"password_enabled": "true", "password_last_changed": iso(T0 - age)}
    write_report(tmp_path, T0, [row("h", **password)])
    assert len(run(reports.never_used_over_45_days, tmp_path)) == int(fires)


def test_never_used_skips_used_and_root(tmp_path: Path) -> None:
    write_report(
        tmp_path, T0, [row("<root_account>", **key(100 * DAY)), row("s", **key(100 * DAY, DAY))]
    )
    assert run(reports.never_used_over_45_days, tmp_path) == []


def test_no_side_inputs_no_findings() -> None:
    assert reports.key_over_90_days(context(None)) == []


# ── control 05: dormant key (CloudTrail call volume) ──────────────────────────────────────


def key_call(t: datetime, key_id: str = "AKIASVC", n: int = 0) -> dict[str, Any]:
    event = iam_user_event("svc", "AIDASVC")
    event["userIdentity"]["accessKeyId"] = key_id
    return {**event, "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventID": f"call-{n}"}


def dormant(tmp_path: Path, silent: timedelta, age: timedelta, report: bool = True) -> Rows:
    """Daily calls for ten days up to T0, then `silent` of other traffic; key `age` at the end."""
    calls = [key_call(T0 - k * DAY, n=k) for k in range(10)]
    end = T0 + silent
    other = make_event(eventTime=end.strftime("%Y-%m-%dT%H:%M:%SZ"), eventID="other")
    if report:
        slot = {"access_key_1_active": "true", "access_key_1_last_rotated": iso(end - age)}
        slot["access_key_1_last_used_date"] = iso(T0)
        write_report(tmp_path, T0 + DAY, [row("svc", **slot)])
    return run(c05.dormant_keys, tmp_path, events=[*calls, other])


def test_dormant_key_30_days_silent_fires(tmp_path: Path) -> None:
    (found,) = dormant(tmp_path, 30 * DAY, 61 * DAY)
    assert found["tier"] == Tier.TICKET and found["first_seen"] == T0 + 30 * DAY
    assert [e["event_id"] for e in found["evidence"]] == ["call-0"]


def test_dormant_key_29_days_silent_quiet(tmp_path: Path) -> None:
    assert dormant(tmp_path, 29 * DAY, 61 * DAY) == []


def test_dormant_key_active_60_days_quiet(tmp_path: Path) -> None:
    assert dormant(tmp_path, 30 * DAY, 60 * DAY) == []


def test_dormant_key_deactivated_in_report_quiet(tmp_path: Path) -> None:
    calls = [key_call(T0 - k * DAY, n=k) for k in range(10)]
    other = make_event(eventTime=(T0 + 31 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ"))
    inactive = {
        "access_key_1_last_rotated": iso(T0 - 100 * DAY),
        "access_key_1_last_used_date": iso(T0),
    }
    write_report(tmp_path, T0 + DAY, [row("svc", **inactive)])
    assert run(c05.dormant_keys, tmp_path, events=[*calls, other]) == []


def test_dormant_key_deactivated_in_trail_quiet(tmp_path: Path) -> None:
    calls = [key_call(T0 - k * DAY, n=k) for k in (0, 80)]
    early = make_event(eventName="UpdateAccessKey", eventTime=iso_z(T0 - 90 * DAY))
    deactivate = make_event(eventName="UpdateAccessKey", eventTime=iso_z(T0 + DAY))
    for event in (early, deactivate):
        event["requestParameters"] = {"accessKeyId": "AKIASVC", "status": "Inactive"}
    other = make_event(eventTime=iso_z(T0 + 30 * DAY))
    events = [*calls, early, other]
    assert len(run(c05.dormant_keys, tmp_path, events=events)) == 1
    assert run(c05.dormant_keys, tmp_path, events=[*events, deactivate]) == []


def iso_z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_dormant_key_without_reports_uses_trail_age(tmp_path: Path) -> None:
    calls = [key_call(T0 - k * DAY, n=k) for k in (0, 40)]
    other = make_event(eventTime=(T0 + 30 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert len(run(c05.dormant_keys, tmp_path, events=[*calls, other])) == 1


def test_dormant_session_keys_ignored(tmp_path: Path) -> None:
    calls = [key_call(T0, key_id="ASIATEMP")]
    other = make_event(eventTime=(T0 + 90 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert run(c05.dormant_keys, tmp_path, events=[*calls, other]) == []


# ── control 10: the audit job ─────────────────────────────────────────────────────────────


def generate(
    t: datetime, n: int, role: str = AUDIT_ROLE, error: str | None = None
) -> dict[str, Any]:
    event = make_event(
        eventName="GenerateCredentialReport",
        eventTime=t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventID=f"gen-{n}",
        recipientAccountId=ACCOUNT,
        **{"userIdentity.sessionContext.sessionIssuer.arn": role},
    )
    if error:
        event["errorCode"] = error
    return event


AUDIT_SITE = Site(audit_roles=frozenset({AUDIT_ROLE}))


@pytest.mark.parametrize(("gap", "pages"), [(14 * DAY + timedelta(seconds=1), 1), (14 * DAY, 0)])
def test_audit_missed_over_14_days(tmp_path: Path, gap: timedelta, pages: int) -> None:
    events = [generate(T0 - WEEK, 0), generate(T0, 1), generate(T0 + gap, 2)]
    found = run(c10.audit_missed, tmp_path, events=events, site=AUDIT_SITE)
    assert [(f["tier"], f["first_seen"]) for f in found] == [(Tier.PAGE, T0 + 14 * DAY)] * pages


def test_audit_missed_until_end_of_trail_with_disable_rule(tmp_path: Path) -> None:
    disable = make_event(
        eventName="DisableRule",
        eventSource="events.amazonaws.com",
        eventTime=(T0 + DAY).strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventID="disable",
        recipientAccountId=ACCOUNT,
    )
    later = make_event(eventTime=(T0 + 20 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ"))
    found = run(
        c10.audit_missed, tmp_path, events=[generate(T0, 0), disable, later], site=AUDIT_SITE
    )
    assert [e["event_id"] for f in found for e in f["evidence"]] == ["gen-0", "disable"]
    assert found[0]["principal"] == AUDIT_ROLE


def test_audit_missed_other_roles_ignored(tmp_path: Path) -> None:
    events = [
        generate(T0, 0, role="arn:aws:iam::1:role/other"),
        make_event(eventTime="2026-12-01T00:00:00Z"),
    ]
    assert run(c10.audit_missed, tmp_path, events=events, site=AUDIT_SITE) == []


def findings_of(events: list[dict[str, Any]], signal: str) -> Rows:
    frame = records_frame(events)
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    out = engine.run(frame, [c10.DETECTION], start=start, end=end, site=AUDIT_SITE)
    return [f for f in out.to_dicts() if f["signal"] == signal]


def test_generation_failing_ticket_joins_retries() -> None:
    events = [
        generate(T0, 0, error="Throttling"),
        generate(T0 + timedelta(seconds=94), 1, error="ServiceFailure"),
    ]
    (found,) = findings_of(events, "credential-report-generation-failing")
    assert found["tier"] == "ticket"
    assert [e["event_id"] for e in found["evidence"]] == ["gen-0", "gen-1"]


def test_generation_succeeding_or_other_role_silent() -> None:
    events = [generate(T0, 0), generate(T0, 1, role="arn:aws:iam::1:role/dev", error="Throttling")]
    assert findings_of(events, "credential-report-generation-failing") == []
