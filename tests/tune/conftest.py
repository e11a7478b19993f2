"""Trails for the tuning tests: a synthetic 30-day org trail, and CreateRole traffic whose
per-principal bursts the test knows."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cloudtrail_hunt.source import records_frame
from tests.conftest import make_event

DAY0 = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 30
ACCOUNT = "111122223333"


@pytest.fixture(scope="session")
def generated_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 31-day synthetic org trail (another seed than sample_logs/), ingested."""
    from cloudtrail_hunt import ingest
    from cloudtrail_hunt.synth import generate_org_trail

    root = tmp_path_factory.mktemp("generated")
    generate_org_trail(
        root / "logs",
        seed=11,
        start=date(2026, 9, 1),
        days=31,
        accounts=3,
        regions=("us-east-1",),
        events_per_day=30,
        files_per_day=2,
    )
    ingest(root / "logs", root / "lake")
    return root / "lake"


def role_event(when: datetime, who: str, n: int, *, bounded: bool = False) -> dict[str, Any]:
    """A successful CreateRole by `who` (a role without a boundary unless `bounded`)."""
    request: dict[str, Any] = {"roleName": f"r{n}", "assumeRolePolicyDocument": "{}"}
    if bounded:
        request["permissionsBoundary"] = f"arn:aws:iam::{ACCOUNT}:policy/boundary"
    return make_event(
        eventTime=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventName="CreateRole",
        eventSource="iam.amazonaws.com",
        eventID=f"00000000-0000-4000-8000-{n:012d}",
        readOnly=False,
        recipientAccountId=ACCOUNT,
        requestParameters=request,
        **{
            "userIdentity.type": "IAMUser",
            "userIdentity.arn": who,
            "userIdentity.accountId": ACCOUNT,
        },
    )


@dataclass(frozen=True)
class Burst:
    """`size` unbounded CreateRoles by `principal`, all within 30 minutes of `at`."""

    principal: str
    at: datetime
    size: int


def planted_bursts(seed: int) -> list[Burst]:
    """Per principal and day, a burst of a known size (0 to 9) at its own hour of the day.

    Bursts of one principal are at least 3 hours apart, so any window up to 1 hour sees each
    burst alone."""
    rng = random.Random(seed)
    principals = [f"arn:aws:iam::{ACCOUNT}:user/dev-{i}" for i in range(4)]
    weights = {p: rng.choice([0.2, 0.5, 0.9]) for p in principals}
    bursts = []
    for day in range(DAYS):
        for i, who in enumerate(principals):
            if rng.random() < weights[who]:
                size = rng.randint(1, 9)
                bursts.append(Burst(who, DAY0 + timedelta(days=day, hours=2 + 4 * i), size))
    return bursts


def bursts_frame(bursts: list[Burst]) -> pl.LazyFrame:
    """The bursts as CloudTrail records (plus bounded roles, which never match)."""
    records, n = [], 0
    for burst in bursts:
        step = timedelta(minutes=25) / max(burst.size - 1, 1)
        for k in range(burst.size):
            records.append(role_event(burst.at + k * step, burst.principal, n))
            n += 1
        records.append(
            role_event(burst.at + timedelta(minutes=5), burst.principal, n, bounded=True)
        )
        n += 1
    return records_frame(records)
