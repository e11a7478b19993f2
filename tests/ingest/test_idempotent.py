"""Acceptance: ingest is idempotent, incremental and crash-safe (property tests)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import cloudtrail_hunt as ch
from cloudtrail_hunt.ingest.manifest import Ledger
from cloudtrail_hunt.ingest.quarantine import duplicates_report, quarantine_report
from tests.conftest import REPO
from tests.ingest.trails import object_key, small_trail, write_object


def lake_state(lake: Path) -> dict:
    """Everything a reader can observe of a lake, independent of file layout and batch ids."""
    rows = ch.scan(lake).collect().drop("ingest_batch").sort("source", "source_index")
    objects = sorted(
        (o.uri, o.etag, o.records, o.stored, o.duplicates, o.quarantined)
        for o in Ledger(lake).snapshot().objects.values()
    )
    quarantine = quarantine_report(lake).drop("batch").sort("source", "index").rows()
    return {"rows": rows, "objects": objects, "quarantine": quarantine}


def assert_same_lake(a: Path, b: Path) -> None:
    sa, sb = lake_state(a), lake_state(b)
    assert sa["rows"].equals(sb["rows"]), "lake rows differ"
    assert sa["objects"] == sb["objects"]
    assert sa["quarantine"] == sb["quarantine"]


def test_ingest_twice_equals_once(tmp_path: Path) -> None:
    src = tmp_path / "src"
    keys = small_trail(src)
    first = ch.ingest(src, tmp_path / "lake", workers=1)
    files = sorted(p.relative_to(tmp_path / "lake") for p in (tmp_path / "lake").rglob("*.parquet"))
    state = lake_state(tmp_path / "lake")
    second = ch.ingest(src, tmp_path / "lake", workers=1)
    assert first.objects_ingested == len(keys) and first.records == len(keys) * 4
    assert second.as_dict() == {
        **first.as_dict(),
        "objects_ingested": 0,
        "objects_skipped": len(keys),
        "records": 0,
        "duplicates": 0,
        "quarantined_objects": 0,
        "quarantined_records": 0,
    }
    assert (
        sorted(p.relative_to(tmp_path / "lake") for p in (tmp_path / "lake").rglob("*.parquet"))
        == files
    )
    assert lake_state(tmp_path / "lake")["rows"].equals(state["rows"])


@settings(max_examples=8)
@given(split=st.lists(st.booleans(), min_size=24, max_size=24), overlap=st.integers(0, 5))
def test_ingest_incremental_a_then_b_equals_a_union_b(tmp_path_factory, split, overlap) -> None:
    tmp = tmp_path_factory.mktemp("inc")
    everything = tmp / "all"
    keys = small_trail(everything, days=3, objects_per_day=2)  # 2 accounts x 2 regions x 3 x 2 = 24
    # Redeliver `overlap` objects under new keys (org trail and account trail overlap).
    for key in keys[:overlap]:
        copy = key.replace("_s", "_dup")
        shutil.copy(everything / key, everything / copy)
        keys.append(copy)
    in_a = dict(zip(keys, split + [True] * overlap, strict=True))
    # One bucket, first holding A, then A and B; then a fresh lake from the full bucket at once.
    bucket = tmp / "bucket"
    for part in ([k for k in keys if in_a[k]], [k for k in keys if not in_a[k]]):
        for key in part:
            (bucket / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(everything / key, bucket / key)
        if bucket.exists():
            ch.ingest(bucket, tmp / "inc", workers=1)
    once = ch.ingest(bucket, tmp / "once", workers=1)
    inc = ch.scan(tmp / "inc").select("dedup_key", "message").collect().sort("dedup_key")
    one = ch.scan(tmp / "once").select("dedup_key", "message").collect().sort("dedup_key")
    assert inc.equals(one)
    assert inc["dedup_key"].is_unique().all()
    assert once.duplicates == overlap * 4
    assert duplicates_report(tmp / "inc").height == duplicates_report(tmp / "once").height


def test_ingest_adding_objects_adds_only_them(tmp_path: Path) -> None:
    src = tmp_path / "src"
    small_trail(src)
    ch.ingest(src, tmp_path / "lake", workers=1)
    before = ch.scan(tmp_path / "lake").collect()
    new = [make_new(src, i) for i in range(3)]
    added = ch.ingest(src, tmp_path / "lake", workers=1)
    after = ch.scan(tmp_path / "lake").collect()
    assert added.objects_ingested == len(new) and added.records == len(new) * 2
    assert after.height == before.height + len(new) * 2
    fresh = after.join(
        before.select("source", "source_index"), on=["source", "source_index"], how="anti"
    )
    assert sorted(set(fresh["source"])) == sorted(str(p) for p in new)


def make_new(src: Path, i: int) -> Path:
    from datetime import datetime

    from tests.conftest import make_event

    when = datetime(2026, 10, 2, 23, 55, tzinfo=UTC)
    records = [
        make_event(eventID=f"new-{i}-{j}", eventTime=f"2026-10-02T23:5{j}:00Z") for j in range(2)
    ]
    return write_object(src, object_key("012345678901", "us-east-1", when, f"new{i}"), records)


_INGEST = (
    "import sys, cloudtrail_hunt as ch; "
    "ch.ingest(sys.argv[1], sys.argv[2], workers=1, batch_bytes=1)"
)


def _run_ingest(src: Path, lake: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", _INGEST, str(src), str(lake)], env=env)


@settings(max_examples=6)
@given(fraction=st.floats(0.05, 0.95))
def test_ingest_killed_part_way_and_rerun_equals_one_clean_run(tmp_path_factory, fraction) -> None:
    tmp = tmp_path_factory.mktemp("crash")
    src = tmp / "src"
    small_trail(src, days=4, objects_per_day=4)  # 64 objects, one batch each
    write_object(
        src,
        object_key(
            "012345678901", "us-east-1", __import__("datetime").datetime(2026, 10, 1), "bad"
        ),
        [{"no": "time"}],
    )
    clean = tmp / "clean"
    started = time.perf_counter()
    assert _run_ingest(src, clean).wait(timeout=300) == 0
    duration = time.perf_counter() - started
    crashed = tmp / "crashed"
    proc = _run_ingest(src, crashed)
    time.sleep(duration * fraction)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert _run_ingest(src, crashed).wait(timeout=300) == 0
    assert_same_lake(clean, crashed)
    assert not list((crashed / "_ledger" / "pending").glob("*.json"))
    live = {f.path for f in Ledger(crashed).snapshot().files}
    on_disk = {
        str(p.relative_to(crashed)) for p in crashed.rglob("*.parquet") if "_ledger" not in p.parts
    }
    assert on_disk == live  # no orphan files from the killed run


def test_compaction_merges_small_files_and_keeps_every_row(tmp_path: Path) -> None:
    from cloudtrail_hunt.ingest.compact import compact

    src = tmp_path / "src"
    small_trail(src, days=1, objects_per_day=1)
    ch.ingest(src, tmp_path / "lake", workers=1)
    for i in range(3):  # three more deliveries into the same partitions, one run each
        make_new(src, i)
        ch.ingest(src, tmp_path / "lake", workers=1)
    before = lake_state(tmp_path / "lake")
    files_before = Ledger(tmp_path / "lake").snapshot().files
    done = compact(tmp_path / "lake")
    files_after = Ledger(tmp_path / "lake").snapshot().files
    assert done.files_removed > done.files_written >= 1
    assert len(files_after) == len(files_before) - done.files_removed + done.files_written
    assert before["rows"].equals(lake_state(tmp_path / "lake")["rows"])
    on_disk = {
        str(p.relative_to(tmp_path / "lake"))
        for p in (tmp_path / "lake").rglob("*.parquet")
        if "_ledger" not in p.parts
    }
    assert on_disk == {f.path for f in files_after}
    assert compact(tmp_path / "lake").partitions == 0  # nothing left to merge
    again = ch.ingest(src, tmp_path / "lake", workers=1)
    assert again.objects_ingested == 0 and again.duplicates == 0


def test_checkpoint_keeps_the_snapshot_and_later_commits_replay_on_top(tmp_path: Path) -> None:
    src = tmp_path / "src"
    small_trail(src, days=2, objects_per_day=2)
    ch.ingest(src, tmp_path / "lake", workers=1, batch_bytes=1)  # one commit per object
    ledger = Ledger(tmp_path / "lake")
    before = ledger.snapshot()
    state = lake_state(tmp_path / "lake")
    ledger.checkpoint()
    after = Ledger(tmp_path / "lake").snapshot()
    assert after.files == before.files and after.objects == before.objects
    assert (
        before.commits_since_checkpoint == len(before.objects)
        and after.commits_since_checkpoint == 0
    )
    assert lake_state(tmp_path / "lake")["rows"].equals(state["rows"])
    new = make_new(src, 0)
    added = ch.ingest(src, tmp_path / "lake", workers=1)
    assert added.objects_ingested == 1 and added.objects_skipped == len(before.objects)
    sources = set(ch.scan(tmp_path / "lake").select("source").collect()["source"])
    assert str(new) in sources and len(sources) == len(before.objects) + 1
