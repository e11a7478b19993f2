"""`lake upgrade`: a lake of the old layout (schema 2, `_ledger`) rewritten as Delta tables.

`tests/data/lake_schema2` was written by the previous release's ingest (with a checkpoint, a
later commit, a quarantined record, a duplicate and an Insights event).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.errors import LakeError
from cloudtrail_hunt.ingest.quarantine import duplicates_report, quarantine_report
from cloudtrail_hunt.ingest.upgrade import upgrade
from tests.conftest import REPO

OLD = REPO / "tests" / "data" / "lake_schema2"


def _old_rows(table: str) -> pl.DataFrame:
    """The old lake's committed rows, read straight from its commit files (independently)."""
    live: dict[str, str] = {}
    for path in sorted((OLD / "_ledger" / "commits").glob("*.json")):
        commit = json.loads(path.read_bytes())
        for removed in commit["removed"]:
            live.pop(removed, None)
        for added in commit["added"]:
            live[added["path"]] = added["table"]
    paths = [str(OLD / p) for p, t in live.items() if t == table]
    return pl.read_parquet(paths, hive_partitioning=False)


def _hashes(frame: pl.DataFrame) -> list[tuple[str, int, int]]:
    rows = frame.select("source", pl.col("source_index").cast(pl.Int64), pl.col("message").hash())
    return sorted(rows.rows())


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory) -> Path:
    new = tmp_path_factory.mktemp("up") / "lake"
    upgrade(OLD, new)
    return new


def test_upgrade_keeps_every_row_and_message(upgraded: Path) -> None:
    for table in ("events", "insights"):
        old = _old_rows(table)
        new = ch.scan(upgraded, table=table).collect()
        assert old.height > 0 and new.height == old.height
        assert _hashes(new) == _hashes(old)  # equal `message` hashes, row for row
    new = ch.scan(upgraded).collect()
    assert new.schema["account"] == pl.String and "012345678901" in set(new["account"])


def test_upgrade_carries_the_ledger_and_side_tables(upgraded: Path) -> None:
    ledger = ch.Lake.open(upgraded).read_table("ledger")
    old = _old_objects()
    assert sorted(ledger.select("uri", "etag", "stored").rows()) == sorted(
        (o["uri"], o["etag"], o["stored"]) for o in old
    )
    assert quarantine_report(upgraded).height >= 1
    assert duplicates_report(upgraded).height >= 1


def _old_objects() -> list[dict]:
    found: dict[tuple[str, str], dict] = {}
    for path in sorted((OLD / "_ledger" / "commits").glob("*.json")):
        for obj in json.loads(path.read_bytes())["objects"]:
            found[obj["uri"], obj["etag"]] = obj
    return list(found.values())


def test_upgrade_refuses_a_target_that_is_already_a_lake(upgraded: Path, tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="already a lake"):
        upgrade(OLD, upgraded)
    shutil.copytree(upgraded, tmp_path / "copy")
    with pytest.raises(LakeError, match="old layout"):
        upgrade(tmp_path / "copy", tmp_path / "other")
