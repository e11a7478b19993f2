"""Small org trails written to disk in the real S3 key layout, for ingest tests."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import make_event

ORG = "o-test000001"


def object_key(account: str, region: str, when: datetime, suffix: str) -> str:
    """The org-trail key of a log object delivered at `when`."""
    return (
        f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{when:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )


def write_object(root: Path, key: str, records: list[dict[str, Any]]) -> Path:
    """Write one gzipped `{"Records": [...]}` object (fixed mtime: same bytes every time)."""
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"Records": records}).encode()
    path.write_bytes(gzip.compress(body, mtime=0))
    return path


def small_trail(
    root: Path,
    *,
    accounts: tuple[str, ...] = ("012345678901", "111122223333"),
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
    days: int = 3,
    objects_per_day: int = 3,
    records_per_object: int = 4,
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC),
) -> list[str]:
    """Write a small trail; return the keys written, sorted."""
    keys: list[str] = []
    n = 0
    for account in accounts:
        for region in regions:
            for day in range(days):
                for obj in range(objects_per_day):
                    when = start + timedelta(days=day, hours=obj * 6)
                    records = []
                    for i in range(records_per_object):
                        n += 1
                        t = when + timedelta(minutes=i)
                        records.append(
                            make_event(
                                eventID=f"00000000-0000-4000-8000-{n:012d}",
                                eventTime=t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                eventName=("ListRoles", "GetUser", "DescribeInstances")[n % 3],
                                awsRegion=region,
                                recipientAccountId=account,
                            )
                        )
                    key = object_key(account, region, when, f"s{n:06d}")
                    write_object(root, key, records)
                    keys.append(key)
    return sorted(keys)
