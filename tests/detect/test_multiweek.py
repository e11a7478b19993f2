"""Multi-week hunts over a generated organisation trail (issue 4, acceptance 4).

A benign trail from `generate_org_trail` (no scenarios) is ingested into a lake and hunted; then
a few events are delivered as one more log object, ingested incrementally, and hunted again: a
burst of IAM-user sign-ins pages once per identity per 24 h, and the learned allow-list of
control 02 silences the automation role it learned and nothing else.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cloudtrail_hunt import ingest
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.site import Site, site_from_org_json
from cloudtrail_hunt.synth import generate_org_trail
from tests.conftest import make_event

DAYS = 28
FIRST = date(2026, 10, 1)


@dataclass(frozen=True)
class Org:
    """The generated trail, its lake, and the facts the injected events need."""

    trail: Path
    lake: Path
    site: Site
    member: str
    org_id: str
    hunt_start: datetime
    end: datetime


def _midnight(day: str | date) -> datetime:
    value = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    root = tmp_path_factory.mktemp("multiweek")
    trail = root / "trail"
    generate_org_trail(
        trail,
        seed=29,
        start=FIRST,
        days=DAYS,
        accounts=2,
        events_per_day=50,
        files_per_day=2,
        scenarios=False,
    )
    facts = json.loads((trail / "side_inputs" / "org.json").read_text(encoding="utf-8"))
    ingest(trail, root / "lake", workers=1)  # in-process: no worker start-up for a small trail
    return Org(
        trail=trail,
        lake=root / "lake",
        site=site_from_org_json(trail / "side_inputs" / "org.json"),
        member=facts["accounts"][1]["id"],
        org_id=next(p.name for p in (trail / "AWSLogs").iterdir()),
        hunt_start=_midnight(facts["windows"]["hunt"][0]),
        end=_midnight(FIRST) + timedelta(days=DAYS),
    )


def _hunt(org: Org, start: datetime, end: datetime | None = None) -> pl.DataFrame:
    return hunt(
        org.lake,
        start=start,
        end=end or org.end,
        site=org.site,
        side_inputs=org.trail / "side_inputs",
    )


@pytest.fixture(scope="module")
def benign(org: Org) -> pl.DataFrame:
    """The findings over every day of the benign trail, before any injection."""
    return _hunt(org, _midnight(FIRST))


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(org: Org, name: str) -> dict[str, Any]:
    return {
        "userIdentity.type": "IAMUser",
        "userIdentity.arn": f"arn:aws:iam::{org.member}:user/{name}",
        "userIdentity.principalId": f"AIDA{name.upper()}EXAMPLE",
        "userIdentity.accountId": org.member,
        "userIdentity.userName": name,
        "userIdentity.sessionContext": None,
        "userIdentity.accessKeyId": None,
        "recipientAccountId": org.member,
        "eventSource": "signin.amazonaws.com",
        "eventType": "AwsConsoleSignIn",
        "eventName": "ConsoleLogin",
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MFAUsed": "Yes", "MobileVersion": "No"},
    }


def _role(org: Org, name: str) -> dict[str, Any]:
    return {
        "userIdentity.arn": f"arn:aws:sts::{org.member}:assumed-role/{name}/session-1",
        "userIdentity.accountId": org.member,
        "userIdentity.sessionContext.sessionIssuer.arn": f"arn:aws:iam::{org.member}:role/{name}",
        "userIdentity.sessionContext.sessionIssuer.accountId": org.member,
        "userIdentity.sessionContext.sessionIssuer.userName": name,
        "recipientAccountId": org.member,
        "eventName": "CreateAccessKey",
        "readOnly": False,
        "requestParameters": {"userName": "svc-export"},
    }


def _injected(org: Org) -> list[dict[str, Any]]:
    day1, day2 = org.hunt_start, org.hunt_start + timedelta(days=1)
    at = lambda base, h, m=0, s=0: _stamp(base + timedelta(hours=h, minutes=m, seconds=s))  # noqa: E731
    events = [
        # mallory: a burst of 6 sign-ins, one 23:59:59 after the first, one 24 h after it.
        *(make_event(**_user(org, "mallory"), eventTime=at(day1, 9, 20 * i)) for i in range(6)),
        make_event(**_user(org, "mallory"), eventTime=at(day1, 32, 59, 59)),
        make_event(**_user(org, "mallory"), eventTime=at(day1, 33)),
        # trent: three sign-ins in an hour.
        *(make_event(**_user(org, "trent"), eventTime=at(day1, 14, 20 * i)) for i in range(3)),
        # ci-keys made a key three weeks before the hunt (baseline) and makes one in it.
        make_event(**_role(org, "ci-keys"), eventTime=at(day2 - timedelta(days=21), 3)),
        make_event(**_role(org, "ci-keys"), eventTime=at(day2, 3)),
        # rogue makes its first key inside the hunt.
        make_event(**_role(org, "rogue"), eventTime=at(day2, 4)),
    ]
    for n, event in enumerate(events):
        event["eventID"] = f"inject-{n:02d}"
        event["requestID"] = f"req-inject-{n:02d}"
    return events


@pytest.fixture(scope="module")
def injected(org: Org, benign: pl.DataFrame) -> Org:
    """The org trail with the injected events delivered as one more object and ingested."""
    assert benign is not None  # hunted before the injection
    day = org.hunt_start
    folder = (
        org.trail
        / "AWSLogs"
        / org.org_id
        / org.member
        / "CloudTrail"
        / "us-east-1"
        / f"{day:%Y}"
        / f"{day:%m}"
        / f"{day:%d}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{org.member}_CloudTrail_us-east-1_{day:%Y%m%dT%H%MZ}_InjectedTestObject.json.gz"
    records = _injected(org)
    (folder / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    summary = ingest(org.trail, org.lake, workers=1)
    assert (summary.objects_ingested, summary.stored) == (1, len(records))
    return org


def test_multiweek_benign_background_pages_nothing(benign: pl.DataFrame) -> None:
    pages = benign.filter(pl.col("tier") == "page")
    assert pages.is_empty(), pages.select("detection", "signal", "principal", "first_seen")


def test_multiweek_burst_pages_once_per_identity_per_24h(injected: Org) -> None:
    findings = _hunt(injected, injected.hunt_start)
    logins = findings.filter(pl.col("signal") == "iam-user-console-login").sort("first_seen")
    got = [
        (row["principal"].rsplit("/", 1)[-1], row["tier"], row["count"], row["first_seen"])
        for row in logins.iter_rows(named=True)
    ]
    day1 = injected.hunt_start
    assert got == [
        ("mallory", "page", 7, day1 + timedelta(hours=9)),
        ("trent", "page", 3, day1 + timedelta(hours=14)),
        ("mallory", "page", 1, day1 + timedelta(hours=33)),
    ]


def test_multiweek_learned_allow_list_silences_what_it_learned_and_nothing_else(
    injected: Org,
) -> None:
    findings = _hunt(injected, injected.hunt_start)
    tickets = findings.filter(pl.col("signal") == "automation-allow-list")
    assert tickets["principal"].to_list() == [f"arn:aws:iam::{injected.member}:role/rogue"]


def test_multiweek_without_its_baseline_the_automation_is_not_learned(injected: Org) -> None:
    # A hunt that starts before ci-keys' first key has nothing to learn it from.
    start = injected.hunt_start - timedelta(days=22)
    findings = _hunt(injected, start)
    tickets = findings.filter(pl.col("signal") == "automation-allow-list")
    assert sorted(tickets["principal"].unique()) == [
        f"arn:aws:iam::{injected.member}:role/ci-keys",
        f"arn:aws:iam::{injected.member}:role/rogue",
    ]


def test_multiweek_injection_adds_no_page_outside_the_burst(
    injected: Org, benign: pl.DataFrame
) -> None:
    findings = _hunt(injected, _midnight(FIRST))
    pages = findings.filter(pl.col("tier") == "page")
    assert set(pages["signal"]) == {"iam-user-console-login"}
    assert benign.filter(pl.col("signal") == "iam-user-console-login").is_empty()
