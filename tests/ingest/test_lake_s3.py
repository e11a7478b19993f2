"""The lake on a real S3 server: ingest writes it, scan/query/hunt read it; concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.detect.hunt import hunt
from tests.conftest import REPO
from tests.fixtures_s3 import FaultProxy, S3Server
from tests.ingest.trails import small_trail

pytestmark = pytest.mark.s3


def _rows(lake: str | Path | ch.Lake, **options: object) -> pl.DataFrame:
    frame = ch.scan(ch.Lake.open(lake, **options)).collect()
    return frame.drop("ingest_batch").sort("source", "source_index")


def test_s3_lake_ingest_scan_query_hunt_and_time_travel(
    aws_env: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    small_trail(tmp_path / "src", days=3)
    lake = f"s3://{s3_bucket}/lake"
    endpoint = aws_env.endpoint_url
    first = ch.ingest(tmp_path / "src", lake, endpoint_url=endpoint, workers=1)
    ch.ingest(tmp_path / "src", tmp_path / "local", workers=1)
    assert first.stored == 4 * 3 * 3 * 4
    handle = ch.Lake.open(lake, endpoint_url=endpoint)
    assert handle.exists() and _rows(handle).equals(_rows(tmp_path / "local"))
    got = ch.query("stats count() as n by account", handle)
    assert sorted(got.rows()) == [("012345678901", 72), ("111122223333", 72)]
    found = hunt(handle)
    assert found["lake_version"].to_list() == [handle.version] * found.height
    # A second delivery: time travel on S3 reads the version before it.
    version = handle.version
    from tests.ingest.test_idempotent import make_new

    make_new(tmp_path / "src", 0)
    again = ch.ingest(tmp_path / "src", lake, endpoint_url=endpoint, workers=1)
    assert again.objects_ingested == 1
    now = ch.scan(ch.Lake.open(lake, endpoint_url=endpoint)).collect().height
    then = ch.scan(ch.Lake.open(lake, endpoint_url=endpoint, as_of=version)).collect().height
    assert now == then + 2
    assert not [
        o["Key"]
        for o in aws_env.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])
        if o["Key"].endswith("_writer.lock")
    ]  # the writer lock is released


def test_s3_one_day_query_reads_only_that_days_files(
    aws_env: S3Server, s3_bucket: str, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    small_trail(tmp_path / "src", days=3)
    lake = f"s3://{s3_bucket}/lake"
    ch.ingest(tmp_path / "src", lake, endpoint_url=aws_env.endpoint_url, workers=1)
    fault_proxy.clear()
    # As a process: delta-rs holds the GIL while it waits on the network, which would stall
    # the proxy's thread in this process.
    env = {**os.environ, "PYTHONPATH": str(REPO), "AWS_ENDPOINT_URL": fault_proxy.endpoint_url}
    query = "stats count() as n"
    args = [lake, query, "--start", "2026-10-02", "--end", "2026-10-03", "--format", "csv"]
    done = subprocess.run(
        [sys.executable, "-m", "cloudtrail_hunt", "query", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["n", str(2 * 2 * 3 * 4)]
    data = [
        r.path
        for r in fault_proxy.recorded()
        if r.method == "GET"
        and not r.is_list_v2
        and r.path.endswith(".parquet")
        and "/_delta_log/" not in r.path
    ]
    assert data, "the query read no data file through the proxy"
    assert all("/lake/events/day=2026-10-02/" in p for p in data), data


_INGEST = (
    "import sys, cloudtrail_hunt as ch; "
    "ch.ingest(sys.argv[1], sys.argv[2], endpoint_url=sys.argv[3] or None, workers=1, "
    "batch_bytes=1, commit_rows=1)"
)


def _concurrent_ingests(sources: list[Path], lake: str, endpoint: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _INGEST, str(src), lake, endpoint], env=env)
        for src in sources
    ]
    assert [p.wait(timeout=600) for p in procs] == [0] * len(procs)


def _two_overlapping_sources(tmp: Path) -> tuple[Path, Path, Path]:
    """Two sources sharing some objects, and their union."""
    union = tmp / "union"
    keys = small_trail(union, days=2, objects_per_day=2)
    a, b = tmp / "a", tmp / "b"
    for i, key in enumerate(keys):
        for dest, wanted in ((a, i % 3 != 0), (b, i % 3 != 1)):
            if wanted:
                (dest / key).parent.mkdir(parents=True, exist_ok=True)
                (dest / key).write_bytes((union / key).read_bytes())
    return a, b, union


def _events(lake: str | Path | ch.Lake) -> pl.DataFrame:
    """Every event once (the objects' paths differ between the sources: compare records)."""
    frame = ch.scan(ch.Lake.open(lake)).select("dedup_key", "message").collect()
    assert frame["dedup_key"].is_unique().all()
    return frame.sort("dedup_key")


def test_two_concurrent_ingests_on_disk_lose_nothing(tmp_path: Path) -> None:
    a, b, union = _two_overlapping_sources(tmp_path)
    _concurrent_ingests([a, b], str(tmp_path / "lake"), "")
    ch.ingest(union, tmp_path / "once", workers=1)
    assert _events(tmp_path / "lake").equals(_events(tmp_path / "once"))


def test_two_concurrent_ingests_on_s3_lose_nothing(
    aws_env: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    a, b, union = _two_overlapping_sources(tmp_path)
    lake = f"s3://{s3_bucket}/lake"
    _concurrent_ingests([a, b], lake, aws_env.endpoint_url)
    ch.ingest(union, tmp_path / "once", workers=1)
    got = _events(ch.Lake.open(lake, endpoint_url=aws_env.endpoint_url))
    assert got.height > 0 and got.equals(_events(tmp_path / "once"))
