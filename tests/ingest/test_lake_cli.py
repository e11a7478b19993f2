"""The lake commands as processes: compact, vacuum, lake history, --as-of on query and hunt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

import cloudtrail_hunt as ch
from tests.ingest.test_idempotent import make_new
from tests.ingest.trails import small_trail
from tests.test_cli import run


@pytest.fixture
def grown(tmp_path: Path) -> tuple[Path, int]:
    """A lake ingested in four runs into the same day; the events version after the first."""
    small_trail(tmp_path / "src", days=1, objects_per_day=1)
    ch.ingest(tmp_path / "src", tmp_path / "lake", workers=1)
    first = ch.Lake.open(tmp_path / "lake").version
    for i in range(3):
        make_new(tmp_path / "src", i)
        ch.ingest(tmp_path / "src", tmp_path / "lake", workers=1, compact=False)
    return tmp_path / "lake", first


def test_cli_compact_merges_files_and_query_as_of_reads_an_old_version(grown) -> None:
    lake, first = grown
    files = len(DeltaTable(str(lake / "events")).file_uris())
    done = run("compact", str(lake))
    assert done.returncode == 0, done.stderr
    assert "compacted 1 day partitions" in done.stdout
    assert len(DeltaTable(str(lake / "events")).file_uris()) == files - 3 + 1  # 3 into 1
    count = "stats count() as n"
    now = run("query", str(lake), count, "--format", "csv")
    then = run("query", str(lake), count, "--format", "csv", "--as-of", str(first))
    assert now.returncode == then.returncode == 0, then.stderr
    assert int(now.stdout.split()[1]) == int(then.stdout.split()[1]) + 6
    history = run("lake", "history", str(lake))
    versions = [int(line.split("\t")[0]) for line in history.stdout.splitlines()]
    assert versions[0] == ch.Lake.open(lake).version and first in versions
    assert "OPTIMIZE" in history.stdout


def test_cli_query_as_of_a_version_the_lake_never_had_is_a_clear_error(grown) -> None:
    lake, _ = grown
    done = run("query", str(lake), "stats count()", "--as-of", "999")
    assert done.returncode == 2
    assert "lake history" in done.stderr and "Traceback" not in done.stderr


def test_cli_vacuum_refuses_less_than_seven_days_and_keeps_recent_files(grown) -> None:
    lake, first = grown
    run("compact", str(lake))
    refused = run("vacuum", str(lake), "--retention-days", "1")
    assert refused.returncode == 2 and "below the minimum" in refused.stderr
    kept = run("vacuum", str(lake), "--dry-run")
    assert kept.returncode == 0 and "would delete 0 files" in kept.stderr
    assert ch.scan(lake, as_of=first).collect().height > 0


def test_cli_hunt_reports_the_lake_version_and_findings_carry_it(sample_lake: Path) -> None:
    version = ch.Lake.open(sample_lake).version
    done = run("hunt", str(sample_lake), "--format", "jsonl", "--no-fail", "--as-of", str(version))
    assert done.returncode == 0, done.stderr
    assert f"at lake version {version}" in done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows and {r["lake_version"] for r in rows} == {version}


def test_ingest_compacts_a_day_once_it_holds_many_small_files(tmp_path: Path) -> None:
    from cloudtrail_hunt.ingest.compact import AUTO_COMPACT_FILES

    small_trail(tmp_path / "src", days=1, objects_per_day=1)
    ch.ingest(tmp_path / "src", tmp_path / "lake", workers=1)
    counts = []
    for i in range(AUTO_COMPACT_FILES + 1):
        make_new(tmp_path / "src", i)
        ch.ingest(tmp_path / "src", tmp_path / "lake", workers=1)
        counts.append(len(DeltaTable(str(tmp_path / "lake/events")).file_uris()))
    # Day 2026-10-02 gets one file per run until it holds more than AUTO_COMPACT_FILES.
    assert counts[: AUTO_COMPACT_FILES - 1] == list(range(2, AUTO_COMPACT_FILES + 1))
    assert counts[-1] < counts[-2]
    assert ch.scan(tmp_path / "lake").collect().height == 16 + 2 * (AUTO_COMPACT_FILES + 1)


def test_cli_lake_upgrade_rewrites_an_old_lake(tmp_path: Path) -> None:
    from tests.ingest.test_upgrade import OLD, _old_rows

    done = run("lake", "upgrade", str(OLD), str(tmp_path / "new"))
    assert done.returncode == 0, done.stderr
    assert f"upgraded {_old_rows('events').height} events" in done.stdout
    again = run("lake", "upgrade", str(OLD), str(tmp_path / "new"))
    assert again.returncode == 2 and "already a lake" in again.stderr
