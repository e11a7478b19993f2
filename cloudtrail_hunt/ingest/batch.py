"""One ingest batch: fetch, decode and normalize a group of objects into one frame.

Runs in a worker process (or in-process for small ingests) and writes nothing: it returns the
rows, the duplicates found inside the batch and what it could not load, for the parent to
deduplicate against the lake and commit (see `cloudtrail_hunt.ingest.lake`).
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import xxhash

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.errors import ObjectError
from cloudtrail_hunt.ingest.decode import decode_object
from cloudtrail_hunt.ingest.normalize import ObjectRecords, normalize
from cloudtrail_hunt.ingest.sources import open_source

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date

    from cloudtrail_hunt.ingest.sources import Source, SourceObject


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """How a worker process reopens the source (sources hold clients that do not pickle)."""

    uri: str
    endpoint_url: str | None = None
    anon: bool = False


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """A batch to run: its id, its objects and where to read them."""

    batch: str
    source: SourceSpec
    objects: tuple[SourceObject, ...]
    spill: str | None = None  # folder to hand rows over in (worker processes only)


@dataclass(slots=True)
class ObjectOutcome:
    """What happened to one object of the batch."""

    obj: SourceObject
    records: int = 0
    quarantined: int = 0
    unreadable: bool = False
    fetch_failed: bool = False


@dataclass(slots=True)
class BatchResult:
    """What a batch read and found, for the parent to deduplicate and commit."""

    batch: str
    outcomes: list[ObjectOutcome]
    #: Rows to store per table, sorted by day, account, region and time, and where each
    #: (day, account, region) run starts and ends in them: the parent deduplicates per run and
    #: concatenates runs in key order, which clusters a day without a sort. One frame per table
    #: crosses the process boundary, not one per run (each pickled frame costs ~ms).
    frames: dict[str, pl.DataFrame | str] = field(default_factory=dict)
    runs: list[tuple[tuple[str, date, str, str], int, int]] = field(default_factory=list)
    quarantine: list[tuple[str, int | None, str]] = field(default_factory=list)
    duplicates: list[tuple[str, int, bytes, str]] = field(default_factory=list)
    digests: list[tuple[str, str]] = field(default_factory=list)

    def parts(self) -> Iterator[tuple[tuple[str, date, str, str], pl.DataFrame]]:
        """Each (table, day, account, region) run of rows, as a zero-copy slice."""
        frames = {name: _load(frame) for name, frame in self.frames.items()}
        for key, offset, length in self.runs:
            yield key, frames[key[0]].slice(offset, length)


def _load(frame: pl.DataFrame | str) -> pl.DataFrame:
    """A frame, or one a worker left in an Arrow IPC file (read, then unlinked)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    loaded = pl.read_ipc(frame)
    Path(frame).unlink()  # the mapping outlives the name
    return loaded


def _hand_over(rows: pl.DataFrame, spill: str | None) -> pl.DataFrame | str:
    """In a worker, leave `rows` in an uncompressed Arrow IPC file in `spill` (RAM-backed where
    /dev/shm exists): the parent maps it instead of unpickling a copy sent through a pipe
    (measured: that pipe cost more CPU than the Delta write)."""
    if spill is None:
        return rows
    fd, path = tempfile.mkstemp(prefix="batch-", suffix=".arrow", dir=spill)
    os.close(fd)
    rows.write_ipc(path, compression="uncompressed")
    return path


def batch_id(objects: tuple[SourceObject, ...]) -> str:
    """Name a batch after its inputs: a rerun of the same inputs plans the same batches."""
    text = "\n".join(f"{o.uri}\t{o.etag}" for o in objects) + f"\nschema={S.SCHEMA_VERSION}"
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogateescape"))[:20]


@functools.lru_cache(maxsize=4)
def _open(spec: SourceSpec) -> Source:
    return open_source(spec.uri, endpoint_url=spec.endpoint_url, anon=spec.anon)


def run_batch(spec: BatchSpec) -> BatchResult:
    """Fetch, decode and normalize one batch; never raises for bad input."""
    result = BatchResult(spec.batch, [])
    decoded: list[ObjectRecords] = []
    for obj, data in _open(spec.source).fetch(spec.objects):
        outcome = ObjectOutcome(obj)
        result.outcomes.append(outcome)
        if isinstance(data, ObjectError):
            outcome.fetch_failed = True
            result.quarantine.append((obj.uri, None, data.reason))
            continue
        content = decode_object(data)
        outcome.unreadable = content.unreadable
        outcome.records = len(content.records) + sum(i is not None for i, _ in content.errors)
        outcome.quarantined = sum(i is not None for i, _ in content.errors)
        result.quarantine.extend((obj.uri, i, reason) for i, reason in content.errors)
        if content.digest is not None:
            result.digests.append((obj.uri, content.digest.decode("utf-8", "replace")))
        decoded.append(ObjectRecords(obj.uri, obj.info, content.records))
    normalized = normalize(decoded)
    by_source = {o.obj.uri: o for o in result.outcomes}
    for source, index, reason in normalized.rejected:
        result.quarantine.append((source, index, reason))
        by_source[source].quarantined += 1
    _split(normalized.frame, result, spec.spill)
    return result


def _split(frame: pl.DataFrame, result: BatchResult, spill: str | None = None) -> None:
    """Keep the first copy of each record (in input order), cut rows by table, day, account."""
    first = frame[S.DEDUP_KEY].is_first_distinct()
    table = pl.when(pl.col("is_insight")).then(pl.lit("insights")).otherwise(pl.lit("events"))
    frame = frame.with_columns(table.alias("_table"))
    for source, index, key, name in (
        frame.filter(~first).select(S.SOURCE, S.SOURCE_INDEX, S.DEDUP_KEY, "_table").iter_rows()
    ):
        result.duplicates.append((source, index, key, name))
    kept = frame.filter(first).with_columns(pl.lit(None, pl.String).alias(S.BATCH))
    columns = S.lake_schema().names()
    for name in ("events", "insights"):
        rows = kept.filter(pl.col("_table") == name).select(columns)
        if rows.is_empty():
            continue
        rows = rows.sort("day", "account", "region", S.EVENT_TIME, S.SOURCE, S.SOURCE_INDEX)
        result.frames[name] = _hand_over(rows, spill)
        counts = rows.group_by("day", "account", "region", maintain_order=True).len()
        offset = 0
        for day, account, region, length in counts.iter_rows():
            result.runs.append(((name, day, account, region), offset, length))
            offset += length
