"""One ingest batch: fetch, decode and normalize a group of objects and write their partition files.

Runs in a worker process (or in-process for small ingests). It writes data files under the
names its inputs determine, after declaring them in the ledger, and returns what the parent
needs to deduplicate against the lake and commit: nothing it writes is visible before that.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl
import xxhash

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.errors import ObjectError
from cloudtrail_hunt.ingest.decode import decode_object
from cloudtrail_hunt.ingest.lake import partition_dir, write_partition
from cloudtrail_hunt.ingest.manifest import LakeFile, Ledger
from cloudtrail_hunt.ingest.normalize import ObjectRecords, normalize
from cloudtrail_hunt.ingest.sources import open_source

if TYPE_CHECKING:
    from pathlib import Path

    from cloudtrail_hunt.ingest.sources import Source, SourceObject


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """How a worker process reopens the source (sources hold clients that do not pickle)."""

    uri: str
    endpoint_url: str | None = None
    anon: bool = False


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """A batch to run: its id, its objects, where to read them and where to write."""

    batch: str
    source: SourceSpec
    objects: tuple[SourceObject, ...]
    lake: Path


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
    """What a batch wrote and found, for the parent to deduplicate and commit."""

    batch: str
    outcomes: list[ObjectOutcome]
    files: list[LakeFile] = field(default_factory=list)
    keys: dict[str, pl.Series] = field(default_factory=dict)  # file path -> dedup keys
    quarantine: list[tuple[str, int | None, str]] = field(default_factory=list)
    duplicates: list[tuple[str, int, bytes, str]] = field(default_factory=list)
    digests: list[tuple[str, str]] = field(default_factory=list)


def batch_id(objects: tuple[SourceObject, ...]) -> str:
    """Name a batch after its inputs, so a rerun of the same inputs rewrites the same files."""
    text = "\n".join(f"{o.uri}\t{o.etag}" for o in objects) + f"\nschema={S.SCHEMA_VERSION}"
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogateescape"))[:20]


@functools.lru_cache(maxsize=4)
def _open(spec: SourceSpec) -> Source:
    return open_source(spec.uri, endpoint_url=spec.endpoint_url, anon=spec.anon)


def run_batch(spec: BatchSpec) -> BatchResult:
    """Fetch, decode, normalize and write one batch; never raises for bad input."""
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
    _write(spec, normalized.frame, result)
    return result


def _write(spec: BatchSpec, frame: pl.DataFrame, result: BatchResult) -> None:
    # The first copy of a record in input order is kept; later copies are duplicates.
    first = frame[S.DEDUP_KEY].is_first_distinct()
    table = pl.when(pl.col("is_insight")).then(pl.lit("insights")).otherwise(pl.lit("events"))
    frame = frame.with_columns(table.alias("_table"))
    for source, index, key, name in (
        frame.filter(~first).select(S.SOURCE, S.SOURCE_INDEX, S.DEDUP_KEY, "_table").iter_rows()
    ):
        result.duplicates.append((source, index, key, name))
    kept = frame.filter(first).with_columns(pl.lit(spec.batch).alias(S.BATCH))
    parts = kept.partition_by("_table", "account", "region", "day", as_dict=True)
    planned = {
        key: f"{partition_dir(*key)}/part-{spec.batch}.parquet" for key in sorted(parts, key=str)
    }
    Ledger(spec.lake).begin(spec.batch, sorted(planned.values()))
    for key, path in planned.items():
        part = parts[key]
        write_partition(spec.lake, path, part)
        name, account, region, day = key
        result.files.append(LakeFile(name, path, account, region, day, part.height))
        result.keys[path] = part[S.DEDUP_KEY]
