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
from cloudtrail_hunt.ingest.quarantine import duplicates_report, quarantine_report
from tests.conftest import REPO
from tests.ingest.trails import object_key, small_trail, write_object


def lake_state(lake: Path) -> dict:
    """Everything a reader can observe of a lake, independent of file layout and batch ids."""
    rows = ch.scan(lake).collect().drop("ingest_batch").sort("source", "source_index")
    ledger = ch.Lake.open(lake).read_table("ledger")
    objects = sorted(
        ledger.select("uri", "etag", "records", "stored", "duplicates", "quarantined").rows()
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
    "ch.ingest(sys.argv[1], sys.argv[2], workers=1, batch_bytes=1, commit_rows=1)"
)
#: Ingest that SIGKILLs itself at a chosen point: before the Nth commit to table `argv[4]`
#: (the data of the group is committed, its ledger rows are not, for "ledger").
_KILL_AT = (
    "import os, signal, sys, cloudtrail_hunt as ch; "
    "from cloudtrail_hunt.ingest import lake as writer; "
    "table, at, calls = sys.argv[3], int(sys.argv[4]), []\n"
    "def kill_at(name):\n"
    "    def wrapped(lake, n, *args, **kw):\n"
    "        if n == table and len(args[0]):\n"
    "            calls.append(n)\n"
    "            if len(calls) == at: os.kill(os.getpid(), signal.SIGKILL)\n"
    "        return name(lake, n, *args, **kw)\n"
    "    return wrapped\n"
    "writer.write_rows = kill_at(writer.write_rows)\n"
    "writer.write_event_table = kill_at(writer.write_event_table)\n"
    "ch.ingest(sys.argv[1], sys.argv[2], workers=1, batch_bytes=1, commit_rows=1)"
)


def _run_ingest(src: Path, lake: Path, *kill_at: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = _KILL_AT if kill_at else _INGEST
    return subprocess.Popen([sys.executable, "-c", code, str(src), str(lake), *kill_at], env=env)


def _crash_source(tmp: Path) -> Path:
    src = tmp / "src"
    small_trail(src, days=2, objects_per_day=2)  # 16 objects, one batch and one group each
    write_object(
        src,
        object_key(
            "012345678901", "us-east-1", __import__("datetime").datetime(2026, 10, 1), "bad"
        ),
        [{"no": "time"}],
    )
    return src


def _assert_no_orphan_rows(lake: Path) -> None:
    """Every group with rows in the lake is in the ledger (reconcile removed the others)."""
    handle = ch.Lake.open(lake)
    groups = set(handle.read_table("ledger")["batch"])
    for table in ("events", "insights"):
        assert (
            set(ch.scan(lake, table=table).select("ingest_batch").collect()["ingest_batch"])
            <= groups
        )
    for table in ("quarantine", "duplicates", "digests"):
        assert set(handle.read_table(table)["batch"]) <= groups


@settings(max_examples=4)
@given(fraction=st.floats(0.05, 0.95))
def test_ingest_killed_part_way_and_rerun_equals_one_clean_run(tmp_path_factory, fraction) -> None:
    tmp = tmp_path_factory.mktemp("crash")
    src = _crash_source(tmp)
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
    _assert_no_orphan_rows(crashed)


@settings(max_examples=6)
@given(
    table=st.sampled_from(["events", "quarantine", "ledger"]),
    at=st.integers(1, 12),
)
def test_ingest_killed_between_a_groups_commits_and_rerun_equals_one_clean_run(
    tmp_path_factory, table, at
) -> None:
    """SIGKILL just before the group's Nth commit to `table`: for the ledger, its data is in."""
    tmp = tmp_path_factory.mktemp("kill")
    src = _crash_source(tmp)
    clean = tmp / "clean"
    assert _run_ingest(src, clean).wait(timeout=300) == 0
    crashed = tmp / "crashed"
    code = _run_ingest(src, crashed, table, str(at)).wait(timeout=300)
    if table == "quarantine" and at > 1:  # one object only has a bad record: one commit
        assert code == 0
    else:
        assert code == -signal.SIGKILL
        if table == "ledger":  # readers may see the group's rows; the ledger does not count it
            ledger = ch.Lake.open(crashed).read_table("ledger")
            assert ledger["batch"].n_unique() == at - 1
    assert _run_ingest(src, crashed).wait(timeout=300) == 0
    assert_same_lake(clean, crashed)
    _assert_no_orphan_rows(crashed)


def _live_files(lake: Path) -> list[str]:
    from deltalake import DeltaTable

    return sorted(DeltaTable(str(lake / "events")).file_uris())


def test_compaction_merges_small_files_and_keeps_every_row(tmp_path: Path) -> None:
    from cloudtrail_hunt.ingest.compact import compact

    src = tmp_path / "src"
    small_trail(src, days=1, objects_per_day=1)
    ch.ingest(src, tmp_path / "lake", workers=1)
    for i in range(3):  # three more deliveries into the same day, one run each
        make_new(src, i)
        ch.ingest(src, tmp_path / "lake", workers=1)
    before = lake_state(tmp_path / "lake")
    version = ch.Lake.open(tmp_path / "lake").version
    files_before = _live_files(tmp_path / "lake")
    done = compact(tmp_path / "lake")
    files_after = _live_files(tmp_path / "lake")
    assert done.files_removed > done.files_written >= 1
    assert len(files_after) == len(files_before) - done.files_removed + done.files_written
    assert before["rows"].equals(lake_state(tmp_path / "lake")["rows"])
    # The replaced files stay for time travel: the old version still reads its own files.
    old = ch.scan(tmp_path / "lake", as_of=version).collect().drop("ingest_batch")
    assert old.sort("source", "source_index").equals(before["rows"])
    assert compact(tmp_path / "lake").partitions == 0  # nothing left to merge
    again = ch.ingest(src, tmp_path / "lake", workers=1)
    assert again.objects_ingested == 0 and again.duplicates == 0


def test_vacuum_refuses_a_retention_below_seven_days_and_keeps_recent_files(
    tmp_path: Path,
) -> None:
    from datetime import timedelta

    import pytest

    from cloudtrail_hunt.errors import LakeError
    from cloudtrail_hunt.ingest.compact import compact, vacuum

    src = tmp_path / "src"
    small_trail(src, days=1, objects_per_day=1)
    ch.ingest(src, tmp_path / "lake", workers=1)
    make_new(src, 0)
    ch.ingest(src, tmp_path / "lake", workers=1)
    version = ch.Lake.open(tmp_path / "lake").version
    compact(tmp_path / "lake")
    with pytest.raises(LakeError, match="below the minimum"):
        vacuum(tmp_path / "lake", retention=timedelta(hours=1))
    assert vacuum(tmp_path / "lake") == []  # the replaced files are minutes old: kept
    assert ch.scan(tmp_path / "lake", as_of=version).collect().height > 0


def test_time_travel_reads_the_lake_as_it_was(tmp_path: Path) -> None:
    src = tmp_path / "src"
    small_trail(src, days=2, objects_per_day=2)
    ch.ingest(src, tmp_path / "lake", workers=1)
    before = ch.Lake.open(tmp_path / "lake").version
    rows_before = ch.scan(tmp_path / "lake").collect().height
    new = make_new(src, 0)
    ch.ingest(src, tmp_path / "lake", workers=1)
    assert ch.Lake.open(tmp_path / "lake").version > before
    now = ch.scan(tmp_path / "lake").select("source").collect()["source"]
    then = ch.scan(tmp_path / "lake", as_of=before).select("source").collect()["source"]
    assert str(new) in set(now) and str(new) not in set(then)
    assert then.len() == rows_before == now.len() - 2


def test_as_of_a_version_reads_every_table_as_of_that_commit(tmp_path: Path) -> None:
    src = tmp_path / "src"
    small_trail(src, days=1, objects_per_day=1)
    ch.ingest(src, tmp_path / "lake", workers=1)
    first = ch.Lake.open(tmp_path / "lake").version
    objects = ch.Lake.open(tmp_path / "lake").read_table("ledger").height
    make_new(src, 0)
    ch.ingest(src, tmp_path / "lake", workers=1)
    pinned = ch.Lake.open(tmp_path / "lake", as_of=first)
    assert pinned.read_table("ledger").height == objects
    assert ch.Lake.open(tmp_path / "lake").read_table("ledger").height == objects + 1
