"""Ingest orchestration: list, skip what the ledger has, run batches, deduplicate, commit.

The parent process is the lake's only committer. Batches run in worker processes and are
committed in plan order, so the copy of a duplicated event that stays in the lake is always the
one from the earlier object in key order, whatever order the workers finish in.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.errors import CloudTrailHuntError, IngestError, ObjectError, RecordError
from cloudtrail_hunt.ingest.batch import BatchResult, BatchSpec, SourceSpec, batch_id, run_batch
from cloudtrail_hunt.ingest.lake import read_keys, write_partition
from cloudtrail_hunt.ingest.manifest import LakeFile, Ledger, ObjectEntry
from cloudtrail_hunt.ingest.side_tables import SideSummary, ingest_side_inputs
from cloudtrail_hunt.ingest.sources import open_source

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

    from cloudtrail_hunt.ingest.sources import SourceObject

#: Compressed bytes per batch: 3k to 7k records, so two workers and the parent stay under the
#: DuckDB anchor's peak memory (bench/ingest_bench.py); bigger batches buy little speed.
DEFAULT_BATCH_BYTES = 1 << 20
_MAX_BATCH_OBJECTS = 2000
#: Commits replayed by every reader before the ledger is folded into a checkpoint.
CHECKPOINT_EVERY = 256


@dataclass(slots=True)
class IngestSummary:
    """Counts of one ingest run; `records` = stored + duplicates + quarantined_records."""

    objects_seen: int = 0
    objects_ingested: int = 0
    objects_skipped: int = 0
    records: int = 0
    duplicates: int = 0
    quarantined_objects: int = 0
    quarantined_records: int = 0
    #: Side-input documents (org.json, credential reports, ...) stored, skipped, quarantined;
    #: not in `as_dict` (its seven keys are a stable interface).
    side: SideSummary | None = field(default=None, compare=False)

    @property
    def stored(self) -> int:
        """Rows this run added to the lake."""
        return self.records - self.duplicates - self.quarantined_records

    def as_dict(self) -> dict[str, int]:
        """The summary as the stable JSON object scripts read (exactly these seven keys)."""
        out = asdict(self)
        out.pop("side")
        return out


def plan_batches(objects: list[SourceObject], batch_bytes: int) -> list[tuple[SourceObject, ...]]:
    """Cut the objects, in key order, into batches of about `batch_bytes` compressed bytes.

    Greedy cutting from the first object is stable: after a crash the committed batches are a
    prefix of the plan, so replanning the objects still to do yields the same remaining batches,
    with the same ids and file names. Key order keeps an account's region-days together, so a
    batch writes few partitions.
    """
    batches: list[tuple[SourceObject, ...]] = []
    current: list[SourceObject] = []
    size = 0
    for obj in sorted(objects, key=lambda o: o.key):
        if current and (size + obj.size > batch_bytes or len(current) >= _MAX_BATCH_OBJECTS):
            batches.append(tuple(current))
            current, size = [], 0
        current.append(obj)
        size += obj.size
    if current:
        batches.append(tuple(current))
    return batches


def ingest(
    source: str | Path,
    lake: str | Path,
    *,
    start: date | None = None,
    end: date | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    strict: bool = False,
    endpoint_url: str | None = None,
    anon: bool = False,
    workers: int | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_progress: Callable[[int, int], None] | None = None,
    side_inputs: str | Path | None = None,
) -> IngestSummary:
    """Ingest CloudTrail logs from a folder or S3 into the lake; rerunning adds only what is new.

    Parameters
    ----------
    source
        A local folder or file, or ``s3://bucket[/prefix]``.
    lake
        The lake folder (created if missing).
    start, end
        Delivery days to read, inclusive, from the org-trail key layout.
    accounts, regions
        Only list these accounts and regions.
    strict
        Raise on the first unreadable object or record instead of quarantining it.
    workers
        Worker processes; default: one per core, or in-process for a single batch.
    on_progress
        Called with (objects done, objects to do) after each batch.
    side_inputs
        Folder of org.json and side inputs to store in the lake's side tables; default
        `<source>/side_inputs` when it exists (see ingest/side_tables.py).

    Returns
    -------
    IngestSummary
    """
    lake = Path(lake)
    spec = SourceSpec(str(source), endpoint_url, anon)
    # Opened before the lake is touched: a missing source creates nothing.
    opened = open_source(spec.uri, endpoint_url=endpoint_url, anon=anon)
    ledger = Ledger(lake)
    summary = IngestSummary()
    with ledger.lock():
        ledger.recover()
        snapshot = ledger.snapshot()
        listed = list(opened.list_objects(start=start, end=end, accounts=accounts, regions=regions))
        todo = [o for o in listed if (o.uri, o.etag) not in snapshot.objects]
        summary.objects_seen = len(listed)
        summary.objects_skipped = len(listed) - len(todo)
        plans = plan_batches(todo, batch_bytes)
        specs = [BatchSpec(batch_id(p), spec, p, lake) for p in plans]
        known = _KnownKeys(lake, snapshot.files)
        done = committed = 0
        try:
            for result in _run(specs, workers):
                if strict:
                    _raise_first(result, done, len(todo))
                _commit(ledger, known, result, summary)
                committed += 1
                done += len(result.outcomes)
                if on_progress is not None:
                    on_progress(done, len(todo))
        except (CloudTrailHuntError, KeyboardInterrupt):
            raise
        except Exception as exc:
            what = f"ingest stopped after {done:,} of {len(todo):,} objects: {exc!r}"
            hint = "the ledger is intact; rerun the same command to continue"
            raise IngestError(str(source), what, hint) from exc
        # Counted, not re-read: the snapshot's commits plus one per batch committed now.
        if snapshot.commits_since_checkpoint + committed >= CHECKPOINT_EVERY:
            ledger.checkpoint()
        # --- side inputs: organisation facts and side inputs beside the logs (issue 12) ---
        side_folder = Path(side_inputs) if side_inputs is not None else _beside(source)
        if side_folder is not None:
            summary.side = ingest_side_inputs(side_folder, lake)
        # --- end side inputs ---
    return summary


def _beside(source: str | Path) -> Path | None:
    """The `side_inputs/` folder beside local raw logs, if there is one."""
    folder = Path(source) / "side_inputs"
    return folder if not str(source).startswith("s3://") and folder.is_dir() else None


def _run(specs: list[BatchSpec], workers: int | None) -> Iterator[BatchResult]:
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(specs) <= 1:
        yield from map(run_batch, specs)
        return
    # spawn, not fork: Polars' thread pool does not survive a fork. One Polars thread per
    # worker: the workers already fill the cores, more threads only contend.
    context = multiprocessing.get_context("spawn")
    saved = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"  # read by each worker's Polars as it starts
    try:
        with cf.ProcessPoolExecutor(workers, mp_context=context) as pool:
            yield from pool.map(run_batch, specs)
    finally:
        if saved is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = saved


def _raise_first(result: BatchResult, done: int, total: int) -> None:
    if not result.quarantine:
        return
    source, index, reason = result.quarantine[0]
    hint = (
        f"`--strict` stopped the ingest after {done:,} of {total:,} objects; the ledger is "
        "intact: fix or remove the object and rerun, or rerun without `--strict`"
    )
    if index is None:
        raise ObjectError(source, reason, hint)
    raise RecordError(source, index, reason, hint=hint)


class _KnownKeys:
    """Dedup keys already in each partition, loaded from the lake the first time it is touched."""

    def __init__(self, lake: Path, files: list[LakeFile]) -> None:
        self.lake = lake
        self.files: dict[str, list[LakeFile]] = {}
        for f in files:
            self.files.setdefault(f.path.rsplit("/", 1)[0], []).append(f)
        self.keys: dict[str, pl.Series] = {}

    def get(self, directory: str) -> pl.Series:
        if directory not in self.keys:
            self.keys[directory] = read_keys(self.lake, self.files.get(directory, []))
        return self.keys[directory]

    def add(self, directory: str, keys: pl.Series) -> None:
        known = self.get(directory)
        self.keys[directory] = keys if known.is_empty() else pl.concat([known, keys])


def _commit(ledger: Ledger, known: _KnownKeys, result: BatchResult, summary: IngestSummary) -> None:
    """Drop rows another batch already stored, then commit the batch and count it."""
    files: list[LakeFile] = []
    for written in result.files:
        directory = written.path.rsplit("/", 1)[0]
        keys = result.keys[written.path]
        if known.get(directory).is_empty():  # a new partition, the usual case: nothing to drop
            files.append(written)
            known.add(directory, keys)
            continue
        seen = keys.is_in(known.get(directory).implode())
        kept = _drop_rows(ledger.lake, written, seen, result) if seen.any() else written
        if kept is not None:
            files.append(kept)
            known.add(directory, keys.filter(~seen))
    dups = Counter(source for source, *_ in result.duplicates)
    entries: list[ObjectEntry] = []
    for o in result.outcomes:
        if o.fetch_failed:
            summary.quarantined_objects += 1
            continue
        stored = o.records - o.quarantined - dups[o.obj.uri]
        entries.append(
            ObjectEntry(
                o.obj.uri,
                o.obj.key,
                o.obj.etag,
                o.obj.size,
                o.obj.info.kind,
                o.records,
                stored,
                dups[o.obj.uri],
                o.quarantined,
                o.unreadable,
            )
        )
        if o.unreadable:
            summary.quarantined_objects += 1
        else:
            summary.objects_ingested += 1
        summary.records += o.records
        summary.quarantined_records += o.quarantined
    summary.duplicates += len(result.duplicates)
    ledger.write_side_table("quarantine", result.batch, _with_batch(result.quarantine, result))
    ledger.write_side_table("duplicates", result.batch, _with_batch(result.duplicates, result))
    ledger.write_side_table("digests", result.batch, _with_batch(result.digests, result))
    ledger.commit(result.batch, entries, files)


def _with_batch(rows: list[tuple[Any, ...]], result: BatchResult) -> list[tuple[Any, ...]]:
    return [(*row, result.batch) for row in rows]


def _drop_rows(lake: Path, f: LakeFile, seen: pl.Series, result: BatchResult) -> LakeFile | None:
    """Rewrite a batch file without the rows an earlier batch already stored."""
    frame = pl.read_parquet(lake / f.path)
    # Files are sorted by time; match keys, not positions.
    keys = result.keys[f.path].filter(seen)
    dup_mask = frame[S.DEDUP_KEY].is_in(keys.implode())
    for source, index, key in (
        frame.filter(dup_mask).select(S.SOURCE, S.SOURCE_INDEX, S.DEDUP_KEY).iter_rows()
    ):
        result.duplicates.append((source, index, key, f.table))
    kept = frame.filter(~dup_mask)
    if kept.is_empty():
        (lake / f.path).unlink()
        return None
    write_partition(lake, f.path, kept)
    return LakeFile(f.table, f.path, f.account, f.region, f.day, kept.height)
