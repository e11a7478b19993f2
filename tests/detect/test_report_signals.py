"""Report-backed signals of controls 03 and 04: IAM-user inventory drift, MFA removed from a
user who still has a console password."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cloudtrail_hunt.detect.hunt import hunt
from tests.conftest import SAMPLE_LOGS, make_event

HEADER = (
    (SAMPLE_LOGS / "side_inputs/credential-reports/099074203064/2026-10-04.csv")
    .read_text(encoding="utf-8")
    .splitlines()[0]
)
ACCOUNT = "111122223333"


def _row(user: str, *, password: bool) -> str:
    fields = dict.fromkeys(HEADER.split(","), "N/A")
    fields.update(
        user=user,
        arn=f"arn:aws:iam::{ACCOUNT}:user/{user}",
        user_creation_time="2026-01-01T00:00:00+00:00",
        password_enabled=str(password).lower(),
        mfa_active="true",
        access_key_1_active="false",
        access_key_2_active="false",
        cert_1_active="false",
        cert_2_active="false",
    )
    return ",".join(fields[name] for name in HEADER.split(","))


def _reports(tmp_path: Path, runs: dict[str, list[tuple[str, bool]]]) -> Path:
    folder = tmp_path / "side_inputs"
    for day, users in runs.items():
        path = folder / "credential-reports" / ACCOUNT / f"{day}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [_row(u, password=p) for u, p in users]
        path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return folder


def _signal(found: pl.DataFrame, name: str) -> pl.DataFrame:
    return found.filter(pl.col("signal") == name)


def _event(name: str, time: str, **fields: object) -> dict[str, object]:
    return make_event(eventName=name, eventTime=time, recipientAccountId=ACCOUNT, **fields)


def test_inventory_drift_digests_a_rise_in_iam_users(tmp_path: Path) -> None:
    side = _reports(
        tmp_path,
        {
            "2026-10-04": [("a", True), ("b", True)],
            "2026-10-11": [("a", True), ("b", True), ("c", True)],
        },
    )
    created = _event("CreateUser", "2026-10-06T12:00:00Z", requestParameters={"userName": "c"})
    found = hunt(
        [created], start="2026-10-01", end="2026-10-20", detections=["aws-iam-03"], side_inputs=side
    )
    drift = _signal(found, "iam-user-inventory-drift")
    assert drift["tier"].to_list() == ["digest"]
    assert created["eventID"] in [e["event_id"] for e in drift["evidence"][0]]


def test_inventory_drift_is_silent_when_the_count_holds(tmp_path: Path) -> None:
    side = _reports(
        tmp_path,
        {"2026-10-04": [("a", True), ("b", True)], "2026-10-11": [("a", True), ("c", True)]},
    )
    found = hunt(
        [], start="2026-10-01", end="2026-10-20", detections=["aws-iam-03"], side_inputs=side
    )
    assert _signal(found, "iam-user-inventory-drift").is_empty()


def _mfa_removed(
    tmp_path: Path, *, password: bool, extra: list[dict[str, object]] = ()
) -> pl.DataFrame:
    side = _reports(tmp_path, {"2026-10-04": [("bob", password)]})
    removed = _event(
        "DeactivateMFADevice",
        "2026-10-06T10:00:00Z",
        requestParameters={"userName": "bob", "serialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/bob"},
    )
    found = hunt(
        [*extra, removed],
        start="2026-10-05",
        end="2026-10-07",
        detections=["aws-iam-04"],
        side_inputs=side,
    )
    return found


def test_mfa_removed_from_a_user_with_a_password_tickets(tmp_path: Path) -> None:
    hits = _signal(_mfa_removed(tmp_path, password=True), "iam-user-mfa-removed-with-login-profile")
    assert hits["tier"].to_list() == ["ticket"]
    assert hits["resource"].to_list() == [f"arn:aws:iam::{ACCOUNT}:user/bob"]
    # Who acted, not whose device it was.
    assert hits["principal"].to_list() == [make_event()["userIdentity"]["arn"]]


def test_mfa_removed_from_a_user_without_a_password_is_silent(tmp_path: Path) -> None:
    found = _mfa_removed(tmp_path, password=False)
    assert _signal(found, "iam-user-mfa-removed-with-login-profile").is_empty()


def test_login_profile_created_after_the_report_counts(tmp_path: Path) -> None:
    created = _event(
        "CreateLoginProfile", "2026-10-05T09:00:00Z", requestParameters={"userName": "bob"}
    )
    found = _mfa_removed(tmp_path, password=False, extra=[created])
    assert _signal(found, "iam-user-mfa-removed-with-login-profile")["tier"].to_list() == ["ticket"]


def test_a_report_after_a_login_profile_deletion_wins(tmp_path: Path) -> None:
    # Deleted on the 3rd, but the report of the 4th shows a password again (recreated outside
    # the trail's view): the later source of truth counts.
    deleted = _event(
        "DeleteLoginProfile", "2026-10-03T09:00:00Z", requestParameters={"userName": "bob"}
    )
    found = _mfa_removed(tmp_path, password=True, extra=[deleted])
    assert _signal(found, "iam-user-mfa-removed-with-login-profile")["tier"].to_list() == ["ticket"]


def test_a_login_profile_deletion_after_the_report_wins(tmp_path: Path) -> None:
    deleted = _event(
        "DeleteLoginProfile", "2026-10-05T09:00:00Z", requestParameters={"userName": "bob"}
    )
    found = _mfa_removed(tmp_path, password=True, extra=[deleted])
    assert _signal(found, "iam-user-mfa-removed-with-login-profile").is_empty()
