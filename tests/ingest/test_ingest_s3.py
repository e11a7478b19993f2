"""Acceptance: ingest from a real S3 server over HTTP, with throttling and a limited listing."""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import cloudtrail_hunt as ch
from tests.conftest import make_event
from tests.fixtures_s3 import FaultProxy, S3Server

pytestmark = pytest.mark.s3

ORG = "o-s3ingest01"
ACCOUNTS = ("012345678901", "111122223333")
REGIONS = ("us-east-1", "eu-west-1")
DAYS = tuple(date(2026, 10, 1) + timedelta(days=i) for i in range(3))
PER_SLOT = 92  # 2 accounts x 2 regions x 3 days x 92 objects = 1,104 objects


def _bucket_contents() -> dict[str, bytes]:
    bodies: dict[str, bytes] = {}
    for account in ACCOUNTS:
        for region in REGIONS:
            for day in DAYS:
                for n in range(PER_SLOT):
                    when = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                        minutes=15 * n
                    )
                    key = (
                        f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"
                        f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{n:04d}.json.gz"
                    )
                    records = [
                        make_event(
                            eventID=f"{account}-{region}-{day}-{n}-{i}",
                            eventTime=(when + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            recipientAccountId=account,
                            awsRegion=region,
                        )
                        for i in range(3)
                    ]
                    bodies[key] = gzip.compress(json.dumps({"Records": records}).encode(), mtime=0)
    return bodies


@pytest.fixture(scope="module")
def org_bucket(s3_server: S3Server) -> tuple[str, dict[str, bytes]]:
    bucket = "org-trail-ingest"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    bodies = _bucket_contents()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=bodies[k]), bodies))
    client.close()
    return bucket, bodies


def _event_ids(lake: Path) -> list[str]:
    return sorted(ch.scan(lake).select("eventID").collect()["eventID"])


def test_s3_ingest_of_over_1000_objects_survives_throttling_and_loses_nothing(
    aws_env: S3Server, org_bucket, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    bucket, bodies = org_bucket
    assert len(bodies) > 1000
    fault_proxy.slow_down(3, lambda r: r.method == "GET" and not r.is_list_v2)
    fault_proxy.slow_down(2, lambda r: r.is_list_v2 and "delimiter" not in r.params)
    fault_proxy.reset(2, lambda r: r.method == "GET" and r.path.endswith("_0007.json.gz"))
    fault_proxy.truncate(1, lambda r: r.method == "GET" and r.path.endswith("_0011.json.gz"))
    summary = ch.ingest(
        f"s3://{bucket}", tmp_path / "lake", endpoint_url=fault_proxy.endpoint_url, workers=2
    )
    assert fault_proxy.pending_faults() == 0  # every fault was met, and retried
    assert summary.objects_seen == summary.objects_ingested == len(bodies)
    assert summary.records == len(bodies) * 3 and summary.quarantined_records == 0
    expected = sorted(
        r["eventID"]
        for body in bodies.values()
        for r in json.loads(gzip.decompress(body))["Records"]
    )
    assert _event_ids(tmp_path / "lake") == expected
    sources = set(ch.scan(tmp_path / "lake").select("source").collect()["source"])
    assert sources == {f"s3://{bucket}/{k}" for k in bodies}


def test_s3_one_day_one_account_ingest_lists_only_that_prefix(
    aws_env: S3Server, org_bucket, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    bucket, bodies = org_bucket
    account, day = ACCOUNTS[1], DAYS[1]
    summary = ch.ingest(
        f"s3://{bucket}",
        tmp_path / "lake",
        endpoint_url=fault_proxy.endpoint_url,
        start=day,
        end=day,
        accounts=[account],
        workers=1,
    )
    wanted = [k for k in bodies if f"/{account}/" in k and f"/{day:%Y/%m/%d}/" in k]
    assert summary.objects_ingested == len(wanted) == len(REGIONS) * PER_SLOT
    requests = fault_proxy.recorded()
    flat = sorted(
        r.params["prefix"] for r in requests if r.is_list_v2 and "delimiter" not in r.params
    )
    assert flat == sorted(
        f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/" for region in REGIONS
    )
    fetched = {
        r.path.split(f"/{bucket}/", 1)[1]
        for r in requests
        if r.method == "GET" and not r.is_list_v2
    }
    assert fetched == set(wanted)
    lake = ch.scan(tmp_path / "lake").select("account", "day").unique().collect()
    assert lake.rows() == [(account, day)]
    assert lake.schema["account"] == pl.String  # the leading-zero trap: account ids stay text


def test_s3_rerun_lists_again_but_fetches_nothing(
    aws_env: S3Server, org_bucket, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    bucket, _ = org_bucket
    args = dict(
        endpoint_url=fault_proxy.endpoint_url,
        start=DAYS[0],
        end=DAYS[0],
        accounts=[ACCOUNTS[0]],
        workers=1,
    )
    first = ch.ingest(f"s3://{bucket}", tmp_path / "lake", **args)
    fault_proxy.clear()
    second = ch.ingest(f"s3://{bucket}", tmp_path / "lake", **args)
    assert second.objects_skipped == first.objects_ingested and second.objects_ingested == 0
    assert not [r for r in fault_proxy.recorded() if r.method == "GET" and not r.is_list_v2]
