"""Compaction: merge a partition's small files into one, committed like an ingest batch.

Incremental ingest adds one file per partition per batch, so a day of a busy account delivered in
many runs ends up in many small files. Compaction rewrites each partition that has more than one
file as a single file sorted by eventTime, named after the files it replaces (a rerun after a
crash writes the same name), and commits the swap atomically through the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import xxhash

from cloudtrail_hunt.ingest.lake import scan_files, write_partition
from cloudtrail_hunt.ingest.manifest import LakeFile, Ledger


@dataclass(slots=True)
class CompactionSummary:
    """What one compaction did."""

    partitions: int = 0
    files_removed: int = 0
    files_written: int = 0
    rows: int = 0


def compact(lake: str | Path, *, min_files: int = 2) -> CompactionSummary:
    """Merge every partition holding at least `min_files` files into one file.

    Rows, their order within a file (by eventTime) and every column are preserved; a scan of the
    lake returns the same rows before and after.
    """
    lake = Path(lake)
    ledger = Ledger(lake)
    summary = CompactionSummary()
    with ledger.lock():
        ledger.recover()
        groups: dict[str, list[LakeFile]] = {}
        for f in ledger.snapshot(objects=False).files:
            groups.setdefault(f.path.rsplit("/", 1)[0], []).append(f)
        for directory, files in sorted(groups.items()):
            if len(files) < min_files:
                continue
            paths = sorted(f.path for f in files)
            batch = "c" + xxhash.xxh3_128_hexdigest("\n".join(paths).encode())[:19]
            target = f"{directory}/part-{batch}.parquet"
            ledger.begin(batch, [target])
            frame = scan_files([str(lake / p) for p in paths]).collect()
            write_partition(lake, target, frame)
            first = files[0]
            merged = LakeFile(
                first.table, target, first.account, first.region, first.day, frame.height
            )
            ledger.commit(batch, [], [merged], removed=paths)
            summary.partitions += 1
            summary.files_removed += len(paths)
            summary.files_written += 1
            summary.rows += frame.height
        if summary.partitions:
            ledger.checkpoint()
    return summary
