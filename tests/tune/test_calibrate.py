"""Each of the guide's calibrations on generated events with a known answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cloudtrail_hunt.errors import ConfigError
from cloudtrail_hunt.source import records_frame
from cloudtrail_hunt.tune.calibrate import (
    automation_candidates,
    calibrate,
    console_identities,
    create_role_clusters,
    enrol_grace,
    role_assumers_ratio,
    root_login_cadence,
    scp_denial_walks,
)
from tests.conftest import make_event
from tests.tune.conftest import DAY0, DAYS, bursts_frame, planted_bursts

A, B = "111122223333", "444455556666"
END = DAY0 + timedelta(days=DAYS)
_ids = count()


def _event(when: datetime, name: str, account: str = A, **fields: Any) -> dict[str, Any]:
    return make_event(
        eventTime=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventName=name,
        eventID=f"00000000-0000-4000-8000-{next(_ids):012d}",
        recipientAccountId=account,
        **fields,
    )


def _login(when: datetime, kind: str, user: str, account: str = A, mfa: str = "Yes") -> dict:
    arn = (
        f"arn:aws:iam::{account}:root" if kind == "Root" else f"arn:aws:iam::{account}:user/{user}"
    )
    return _event(
        when,
        "ConsoleLogin",
        account,
        eventSource="signin.amazonaws.com",
        responseElements={"ConsoleLogin": "Success"},
        additionalEventData={"MFAUsed": mfa},
        **{"userIdentity.type": kind, "userIdentity.arn": arn, "userIdentity.userName": user},
    )


def test_01_root_login_cadence_counts_per_account_and_day() -> None:
    records = [
        _login(DAY0 + timedelta(days=2, hours=9), "Root", "root", A, mfa="No"),
        _login(DAY0 + timedelta(days=9, hours=9), "Root", "root", A),
        _login(DAY0 + timedelta(days=9, hours=10), "Root", "root", A),
        _event(DAY0 + timedelta(days=4), "ListRoles", B),  # B is seen, its root never signs in
        _login(DAY0 - timedelta(days=1), "Root", "root", A),  # before the 30 days
    ]
    cadence = root_login_cadence(records_frame(records), end=END)
    assert cadence.height == 2 * DAYS  # both accounts, every day
    per_account = dict(cadence.group_by("account").agg(pl.col("logins").sum()).iter_rows())
    assert per_account == {A: 3, B: 0}
    busy = cadence.filter(pl.col("logins") > 0)
    assert busy["day"].to_list() == [(DAY0 + timedelta(days=d)).date() for d in (2, 9)]
    assert busy["logins"].to_list() == [1, 2] and busy["without_mfa"].to_list() == [1, 0]


def _key(when: datetime, issuer: str | None, *, failed: bool = False) -> dict[str, Any]:
    identity: dict[str, Any] = {"userIdentity.type": "AssumedRole"}
    if issuer is None:
        identity = {"userIdentity.type": "Root", "userIdentity.arn": f"arn:aws:iam::{A}:root"}
    else:
        identity["userIdentity.sessionContext.sessionIssuer.arn"] = issuer
    extra = {"errorCode": "AccessDenied"} if failed else {}
    return _event(when, "CreateAccessKey", eventSource="iam.amazonaws.com", **identity, **extra)


def test_02_automation_candidates_are_the_key_creators_of_the_window() -> None:
    pipeline, once = f"arn:aws:iam::{A}:role/ci-keys", f"arn:aws:iam::{A}:role/ops"
    records = [
        _key(DAY0 + timedelta(days=d, hours=h), pipeline) for d in range(0, 30, 3) for h in (1, 2)
    ]
    records += [
        _key(DAY0 + timedelta(days=5), once),
        _key(DAY0 + timedelta(days=6), None),  # root: control 02's page, not automation
        _key(DAY0 + timedelta(days=7), f"arn:aws:iam::{A}:role/denied", failed=True),
        _key(END + timedelta(hours=1), f"arn:aws:iam::{A}:role/later"),  # after the window
    ]
    found = automation_candidates(records_frame(records), end=END)
    assert found.select("principal", "keys", "active_days").rows() == [
        (pipeline, 20, 10),
        (once, 1, 1),
    ]


def test_03_ledger_diff_lists_exactly_the_planted_unknown_and_unseen_users(
    tmp_path: Path,
) -> None:
    records = [
        _login(DAY0 + timedelta(days=d), "IAMUser", user)
        for d, user in [
            (1, "alice"),
            (2, "alice"),
            (3, "bob"),
            (4, "mallory"),
            (5, "break-glass-1"),
        ]
    ]
    records.append(_login(DAY0 + timedelta(days=6), "IAMUser", "eve", B))  # alice's name, not hers
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        f"account,user,team\n{A},alice,web\n,bob,data\n{A},carol,web\n{A},break-glass-1,sec\n"
    )
    found = console_identities(records_frame(records), ledger, end=END)
    status = {(r["account"], r["user"]): r["status"] for r in found.iter_rows(named=True)}
    assert status == {
        (A, "alice"): "in ledger",
        (A, "bob"): "in ledger",  # a ledger row without an account matches any account
        (A, "break-glass-1"): "in ledger",
        (A, "mallory"): "unknown",
        (B, "eve"): "unknown",
        (A, "carol"): "never seen",
    }
    assert found.filter(pl.col("user") == "alice")["logins"].item() == 2
    assert found.filter(pl.col("break_glass"))["user"].to_list() == ["break-glass-1"]


def test_03_a_ledger_without_a_user_column_is_refused(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("name,team\nalice,web\n")
    with pytest.raises(ConfigError, match="no user column"):
        calibrate(records_frame([_login(DAY0, "IAMUser", "a")]), "aws-iam-03", ledger=ledger)


def _enable(when: datetime, user: str) -> dict[str, Any]:
    return _event(
        when,
        "EnableMFADevice",
        eventSource="iam.amazonaws.com",
        **{"userIdentity.type": "IAMUser", "userIdentity.arn": f"arn:aws:iam::{A}:user/{user}"},
    )


def test_04_enrol_grace_silences_sign_ins_within_5_minutes_of_enrolling() -> None:
    t = DAY0 + timedelta(days=3, hours=10)
    records = [
        _enable(t, "u1"), _login(t + timedelta(minutes=3), "IAMUser", "u1", mfa="No"),
        _enable(t, "u2"), _login(t + timedelta(minutes=6), "IAMUser", "u2", mfa="No"),
        _login(t, "IAMUser", "u3", mfa="No"),
        _enable(t, "u4"), _login(t + timedelta(minutes=5), "IAMUser", "u4", mfa="No"),
    ]  # fmt: skip
    found = enrol_grace(records_frame(records), end=END)
    silenced = {
        r["principal"].rsplit("/", 1)[1]: r["silenced"] for r in found.iter_rows(named=True)
    }
    assert silenced == {"u1": True, "u2": False, "u3": False, "u4": True}
    assert found.filter(pl.col("principal").str.ends_with("u2"))["gap"].item() == timedelta(
        minutes=6
    )


def _assume(when: datetime, role: str, assumer: str) -> dict[str, Any]:
    return _event(
        when,
        "AssumeRole",
        eventSource="sts.amazonaws.com",
        requestParameters={"roleArn": role, "roleSessionName": "s"},
        **{"userIdentity.type": "IAMUser", "userIdentity.arn": assumer,
           "userIdentity.sessionContext": None},
    )  # fmt: skip


def test_06_the_3x_line_is_crossed_on_the_planted_day() -> None:
    role = f"arn:aws:iam::{A}:role/app"
    start = DAY0 - timedelta(days=60)
    planted = DAY0 + timedelta(days=20)
    records = [
        _assume(start + timedelta(days=d, hours=5), role, f"arn:aws:iam::{A}:user/svc")
        for d in range(90)
    ]
    records += [
        _assume(planted + timedelta(minutes=i), role, f"arn:aws:iam::{A}:user/u{i}")
        for i in range(30)
    ]
    series = role_assumers_ratio(records_frame(records), end=END)
    assert series.height == DAYS and series["day"].min() == DAY0.date()
    fired = series.filter(pl.col("fired"))
    assert fired["day"].min() == planted.date()
    on_the_day = series.filter(pl.col("day") == planted.date()).row(0, named=True)
    assert on_the_day["distinct"] == 31 and on_the_day["line"] == 3.0
    assert on_the_day["ratio"] == pytest.approx((6 + 31) / 7)
    assert series.filter(pl.col("day") < planted.date())["ratio"].max() == pytest.approx(1.0)


def test_07_create_role_clusters_are_the_planted_bursts() -> None:
    bursts = planted_bursts(5)
    found = create_role_clusters(bursts_frame(bursts), end=END)
    # Each burst spans 25 minutes from the top of its hour: one clock hour holds it.
    expected = sorted((b.principal, b.at, b.size) for b in bursts)
    assert sorted(found.select("principal", "hour", "roles").rows()) == expected


def _denial(when: datetime, name: str, who: str) -> dict[str, Any]:
    return _event(
        when,
        name,
        errorCode="AccessDenied",
        errorMessage=f"User: {who} is not authorized to perform: x with an explicit deny in a "
        "service control policy",
        **{"userIdentity.arn": who},
    )


def test_08_scp_denial_walks_count_distinct_fenced_apis_per_30_minutes() -> None:
    walker, prober = f"arn:aws:sts::{A}:assumed-role/x/walker", f"arn:aws:sts::{A}:assumed-role/x/p"
    fenced = ["StopLogging", "DeleteTrail", "ScheduleKeyDeletion", "DisableKey",
              "StopConfigurationRecorder"]  # fmt: skip
    t = DAY0 + timedelta(days=4, hours=3)
    records = [_denial(t + timedelta(minutes=2 * i), n, walker) for i, n in enumerate(fenced)]
    records += [
        _denial(t + timedelta(minutes=i), n, prober)
        for i, n in enumerate(["StopLogging", "StopLogging", "DeleteTrail", "DisableKey"])
    ]
    records.append(_denial(t, "ListRoles", prober))  # not fenced
    found = scp_denial_walks(records_frame(records), end=END)
    assert found.select("principal", "denials", "distinct_apis").rows() == [
        (walker, 5, 5),
        (prober, 4, 3),
    ]


def test_calibrate_dispatches_and_refuses_controls_without_one() -> None:
    frame = records_frame([_login(DAY0, "Root", "root", A)])
    calibration = calibrate(frame, "aws-iam-01", end=END)
    assert calibration.detection == "aws-iam-01-root-mfa"
    assert calibration.frame["logins"].sum() == 1 and calibration.threshold == 1
    with pytest.raises(ConfigError, match="no calibration for aws-iam-05"):
        calibrate(frame, "aws-iam-05", end=END)


def test_03_reads_the_ledger_beside_raw_logs(generated_lake: Path) -> None:
    from cloudtrail_hunt.synth.ledger import LEDGER, NEVER_SEEN

    logs = generated_lake.parent / "logs"
    assert (logs / LEDGER).is_file()
    found = calibrate(logs, "aws-iam-03").frame
    never = found.filter(pl.col("status") == "never seen")["user"].to_list()
    assert NEVER_SEEN in never
    # The ledger holds break-glass and legacy users only: any other console user is unknown.
    unknown = found.filter(pl.col("status") == "unknown")["user"].to_list()
    assert all(not u.startswith(("break-glass-", "legacy-")) for u in unknown)
