"""The Parquet lake: Hive-partitioned tables written atomically, opened as a pruned LazyFrame.

Last stage of ingest (list → decode → normalize → **lake**) and the first of every read. Layout::

    <lake>/events/account=<id>/region=<region>/day=<YYYY-MM-DD>/part-<batch>.parquet
    <lake>/insights/...      CloudTrail Insights events, same layout, never mixed with API events
    <lake>/_ledger/...       which objects and files are in the lake (see manifest.py)

File names come from the batch that wrote them, and a batch's id from its input objects, so a
retried write replaces a file instead of adding a second copy. Readers go through the ledger's
committed file list, so they never see the files of an unfinished batch.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.errors import LakeError
from cloudtrail_hunt.ingest.manifest import LakeFile, Ledger
from cloudtrail_hunt.ingest.normalize import partition_value

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

TABLES = ("events", "insights")
#: zstd level 1: measured ~10% cheaper to write than level 3 on ~400-row partition files, and
#: no bigger (most of a file is the JSON text, which compresses alike at both levels).
_COMPRESSION_LEVEL = 1
#: The stored columns, in order; built once (a schema costs ~50 µs, a batch writes hundreds).
_COLUMNS = S.event_schema().names()


def partition_dir(table: str, account: str, region: str, day: date) -> str:
    """Return the lake-relative directory of one partition (values made path-safe)."""
    return (
        f"{table}/account={partition_value(account)}/region={partition_value(region)}"
        f"/day={day.isoformat()}"
    )


def write_atomic(path: Path, write: Callable[[str], object]) -> None:
    """Write a file through a temporary sibling and an atomic rename, so no reader sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_partition(lake: Path, rel: str, frame: pl.DataFrame) -> None:
    """Write one partition file: rows sorted by eventTime, zstd, statistics for pruning."""
    # Indexing by names skips the expression machinery of `select` (~0.2 ms a file).
    data = frame[_COLUMNS]
    order = data.select(pl.arg_sort_by(S.EVENT_TIME, S.SOURCE, S.SOURCE_INDEX)).to_series()
    # Rows mostly arrive sorted (a permutation is sorted only if it is the identity), and
    # gathering every column anyway cost ~4 µs a row.
    if not order.is_sorted():
        data = data[order]
    write_atomic(
        lake / rel,
        lambda tmp: data.write_parquet(
            tmp, compression="zstd", compression_level=_COMPRESSION_LEVEL, statistics=True
        ),
    )


def scan(
    lake: str | Path,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    table: str = "events",
) -> pl.LazyFrame:
    """Open the lake as a LazyFrame, reading only the partitions the range and filters allow.

    Parameters
    ----------
    lake
        The lake folder.
    start, end
        Event-time range, start inclusive, end exclusive. A `date` (or ``YYYY-MM-DD``) means
        midnight UTC, so ``end=date(2026, 10, 2)`` ends with 1 October; naive datetimes are UTC.
    accounts, regions
        Keep only these partition values.
    table
        ``"events"`` or ``"insights"``.

    Returns
    -------
    pl.LazyFrame
        The lake schema (:func:`cloudtrail_hunt.schema.lake_schema`); partitions outside the
        range are never opened and the time filter is pushed into the Parquet scan.
    """
    if table not in TABLES:
        msg = f"unknown lake table {table!r}; expected one of {', '.join(map(repr, TABLES))}"
        raise LakeError(str(lake), msg)
    root = Path(lake)
    if not (root / "_ledger").is_dir():
        msg = "not a cloudtrail-hunt lake (no `_ledger` folder); run `cloudtrail-hunt ingest` first"
        raise LakeError(str(root), msg)
    lo, hi = to_utc(start), to_utc(end)
    files = [
        f
        for f in Ledger(root).snapshot(objects=False).files
        if f.table == table and _wanted(f, lo, hi, accounts, regions)
    ]
    if not files:
        return pl.LazyFrame(schema=S.lake_schema())
    frame = scan_files(
        [str(root / f.path) for f in sorted(files, key=lambda f: f.path)],
        hive_partitioning=True,
        hive_schema=S.HIVE_SCHEMA,
    ).select(S.lake_schema().names())
    if lo is not None:
        frame = frame.filter(pl.col(S.EVENT_TIME) >= lo)
    if hi is not None:
        frame = frame.filter(pl.col(S.EVENT_TIME) < hi)
    return frame


def scan_files(paths: list[str], **options: Any) -> pl.LazyFrame:
    """Open lake data files in the current schema; `options` go to `pl.scan_parquet`.

    Files written before a column was added (schema versions) read it as null.
    """
    return pl.scan_parquet(paths, schema=S.event_schema(), missing_columns="insert", **options)


def latest_time(frame: pl.LazyFrame) -> datetime | None:
    """The latest `eventTime` of `frame` (None when it has no rows)."""
    latest: datetime | None = (
        frame.select(pl.col(S.EVENT_TIME).max()).collect(engine="streaming").item()
    )
    return latest


def _wanted(
    f: LakeFile,
    lo: datetime | None,
    hi: datetime | None,
    accounts: Collection[str] | None,
    regions: Collection[str] | None,
) -> bool:
    if accounts is not None and f.account not in accounts:
        return False
    if regions is not None and f.region not in regions:
        return False
    day_start = datetime(f.day.year, f.day.month, f.day.day, tzinfo=UTC)
    if lo is not None and day_start + timedelta(days=1) <= lo:
        return False
    return hi is None or day_start < hi


def to_utc(value: datetime | date | str | None) -> datetime | None:
    """Read a range bound: ISO text, a date (midnight UTC) or a datetime (naive means UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        from cloudtrail_hunt.instants import parse_instant  # one message for every bad date

        value = parse_instant(value)
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def latest_event(lake: str | Path, table: str = "events") -> datetime | None:
    """The time of the lake's latest event, reading only its last day's files (None if empty).

    Partitions are by event day, so the latest event is in the latest day: a year-long lake
    answers as fast as a one-day lake.
    """
    root = Path(lake)
    files = [f for f in Ledger(root).snapshot(objects=False).files if f.table == table]
    if not files:
        return None
    last = max(f.day for f in files)
    paths = sorted(str(root / f.path) for f in files if f.day == last)
    return latest_time(scan_files(paths))


def read_keys(lake: Path, files: Iterable[LakeFile]) -> pl.Series:
    """Read the dedup keys stored in `files` (one small column, nothing else)."""
    paths = [str(lake / f.path) for f in files]
    if not paths:
        return pl.Series(S.DEDUP_KEY, [], pl.Binary)
    return pl.scan_parquet(paths).select(S.DEDUP_KEY).collect()[S.DEDUP_KEY]
