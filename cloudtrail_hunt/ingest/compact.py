"""Compaction and vacuum of the lake's Delta tables (delta-rs `optimize` and `vacuum`).

Each ingest commit group writes one file per day it touches, so a day delivered over many runs
ends up in many small files. Compaction (delta-rs ``optimize.compact``) rewrites a day's small
files into files of about `target_size` bytes in one atomic commit; it changes no row
(``dataChange: false`` in the log), keeps the rows of each input file together (so a day stays
clustered by account and region) and leaves the replaced files for time travel until `vacuum`
removes them, never sooner than the retention (7 days by default).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from cloudtrail_hunt.errors import LakeError
from cloudtrail_hunt.ingest.lake import writer_properties
from cloudtrail_hunt.lake import EVENT_TABLES, LEDGER_TABLES, Lake

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from pathlib import Path

#: Target size of a compacted file: Delta's usual order of magnitude (hundreds of MB).
TARGET_SIZE = 256 * 1024 * 1024
#: After an ingest, a day written to is compacted once it holds more than this many files.
AUTO_COMPACT_FILES = 4
#: Vacuum keeps files removed less than this long ago, so time travel to then still works.
RETENTION = timedelta(days=7)


@dataclass(slots=True)
class CompactionSummary:
    """What one compaction did."""

    partitions: int = 0
    files_removed: int = 0
    files_written: int = 0
    rows: int = 0


def _files_per_day(lake: Lake, table: str) -> Counter[str]:
    """Live data files per day partition, from the Delta log alone."""
    return Counter(p.rsplit("/", 2)[-2] for p in lake.table(table, latest=True).file_uris())


def _compact(
    lake: Lake, table: str, days: Collection[str] | None, target_size: int, min_files: int
) -> CompactionSummary:
    done = CompactionSummary()
    counts = _files_per_day(lake, table)
    chosen = sorted(d for d, n in counts.items() if n >= min_files and (days is None or d in days))
    for day in chosen:
        metrics = lake.table(table, latest=True).optimize.compact(
            partition_filters=[("day", "=", day.removeprefix("day="))],
            target_size=target_size,
            writer_properties=writer_properties(),
        )
        if metrics.get("numFilesRemoved", 0):
            done.partitions += 1
            done.files_removed += metrics["numFilesRemoved"]
            done.files_written += metrics["numFilesAdded"]
    return done


def compact(
    lake: str | Path | Lake, *, target_size: int = TARGET_SIZE, min_files: int = 2
) -> CompactionSummary:
    """Merge the files of every day of `events` and `insights` holding at least `min_files`.

    A scan returns the same rows before and after; older versions still read the old files.
    """
    handle = Lake.open(lake)
    handle.require()
    summary = CompactionSummary()
    with handle.writer_lock():
        for table in EVENT_TABLES:
            done = _compact(handle, table, None, target_size, min_files)
            summary.partitions += done.partitions
            summary.files_removed += done.files_removed
            summary.files_written += done.files_written
        for name in LEDGER_TABLES:  # many tiny appends: one small file each
            if len(handle.table(name, latest=True).file_uris()) >= min_files:
                handle.table(name, latest=True).optimize.compact(target_size=target_size)
    return summary


def compact_small_days(lake: Lake, days: Mapping[str, Collection[date]]) -> CompactionSummary:
    """After an ingest: compact the days it wrote that now hold too many files."""
    summary = CompactionSummary()
    for table, written in days.items():
        wanted = {f"day={d.isoformat()}" for d in written}
        done = _compact(lake, table, wanted, TARGET_SIZE, AUTO_COMPACT_FILES + 1)
        summary.partitions += done.partitions
        summary.files_removed += done.files_removed
        summary.files_written += done.files_written
    return summary


def vacuum(
    lake: str | Path | Lake, *, retention: timedelta = RETENTION, dry_run: bool = False
) -> list[str]:
    """Delete files no version newer than `retention` ago reads; return their paths.

    Time travel to a version older than the retention stops working for the files removed,
    so a retention below the default is refused (delta-rs enforces the table's own minimum).
    """
    if retention < RETENTION:
        msg = f"retention {retention} is below the minimum {RETENTION}"
        hint = "time travel and running readers need the old files; keep at least 7 days"
        raise LakeError(str(lake), msg, hint)
    handle = Lake.open(lake)
    handle.require()
    removed: list[str] = []
    hours = int(retention.total_seconds() // 3600)
    with handle.writer_lock():
        for name in (*EVENT_TABLES, *LEDGER_TABLES):
            table = handle.table(name, latest=True)
            found = table.vacuum(retention_hours=hours, dry_run=dry_run)
            removed.extend(f"{name}/{path}" for path in found)
    return sorted(removed)
