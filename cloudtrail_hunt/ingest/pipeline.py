"""Ingest orchestration: list, skip what the ledger has, run batches, deduplicate, commit.

The parent process is the lake's only committer. Batches run in worker processes; their rows are
deduplicated in plan order (so the copy of a duplicated event that stays in the lake is always
the one from the earlier object in key order, whatever order the workers finish in) and
committed in groups of about `COMMIT_ROWS` rows: one Delta append per table, the ledger last
(see `cloudtrail_hunt.ingest.lake` for why that makes a group count exactly once).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import itertools
import multiprocessing
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import xxhash

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.errors import CloudTrailHuntError, IngestError, ObjectError, RecordError
from cloudtrail_hunt.ingest import lake as writer
from cloudtrail_hunt.ingest.batch import BatchResult, BatchSpec, SourceSpec, batch_id, run_batch
from cloudtrail_hunt.ingest.side_tables import SideSummary, ingest_side_inputs
from cloudtrail_hunt.ingest.sources import open_source
from cloudtrail_hunt.lake import EVENT_TABLES, Lake

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

    from cloudtrail_hunt.ingest.sources import SourceObject

#: Compressed bytes per batch: 3k to 7k records, so two workers and the parent stay under the
#: DuckDB anchor's peak memory (bench/ingest_bench.py); bigger batches buy little speed.
DEFAULT_BATCH_BYTES = 1 << 20
_MAX_BATCH_OBJECTS = 2000
#: Rows per commit group: few, large Delta appends (each writes one file per day it touches),
#: while the parent holds at most this many rows.
COMMIT_ROWS = 250_000


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
    lake: str | Path | Lake,
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
    commit_rows: int = COMMIT_ROWS,
    compact: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    side_inputs: str | Path | None = None,
) -> IngestSummary:
    """Ingest CloudTrail logs from a folder or S3 into the lake; rerunning adds only what is new.

    Parameters
    ----------
    source
        A local folder or file, or ``s3://bucket[/prefix]``.
    lake
        The lake folder or ``s3://bucket/prefix`` (created if missing), or a `Lake`.
    start, end
        Delivery days to read, inclusive, from the org-trail key layout.
    accounts, regions
        Only list these accounts and regions.
    strict
        Raise on the first unreadable object or record instead of quarantining it.
    endpoint_url
        S3-compatible endpoint for an ``s3://`` source (and lake).
    workers
        Worker processes; default: one per core, or in-process for a single batch.
    commit_rows
        Rows per commit group (a smaller value commits more often, in smaller files).
    compact
        Compact the days this run wrote to when they hold many small files.
    on_progress
        Called with (objects done, objects to do) after each batch.
    side_inputs
        Folder of org.json and side inputs to store in the lake's side tables; default
        `<source>/side_inputs` when it exists (see ingest/side_tables.py).

    Returns
    -------
    IngestSummary
    """
    spec = SourceSpec(str(source), endpoint_url, anon)
    # Opened before the lake is touched: a missing source creates nothing.
    opened = open_source(spec.uri, endpoint_url=endpoint_url, anon=anon)
    handle = Lake.open(lake, endpoint_url=endpoint_url)
    summary = IngestSummary()
    with handle.writer_lock():
        writer.ensure_tables(handle)
        writer.reconcile(handle)
        seen = set(handle.scan_table("ledger").select("uri", "etag").collect().iter_rows())
        listed = list(opened.list_objects(start=start, end=end, accounts=accounts, regions=regions))
        todo = [o for o in listed if (o.uri, o.etag) not in seen]
        summary.objects_seen = len(listed)
        summary.objects_skipped = len(listed) - len(todo)
        specs = [BatchSpec(batch_id(p), spec, p) for p in plan_batches(todo, batch_bytes)]
        group = _Group(handle)
        done = 0
        try:
            for result in _run(specs, workers):
                if strict:
                    _raise_first(result, done, len(todo))
                group.add(result, summary)
                if group.rows >= commit_rows:
                    group.commit()
                done += len(result.outcomes)
                if on_progress is not None:
                    on_progress(done, len(todo))
            group.commit()
        except (CloudTrailHuntError, KeyboardInterrupt):
            raise
        except Exception as exc:
            what = f"ingest stopped after {done:,} of {len(todo):,} objects: {exc!r}"
            hint = "every committed group is intact; rerun the same command to continue"
            raise IngestError(str(source), what, hint) from exc
        if compact and group.days_written:
            from cloudtrail_hunt.ingest.compact import compact_small_days

            compact_small_days(handle, group.days_written)
        # --- side inputs: organisation facts and side inputs beside the logs (issue 12) ---
        side_folder = Path(side_inputs) if side_inputs is not None else _beside(source)
        if side_folder is not None:
            summary.side = ingest_side_inputs(
                side_folder, handle.uri, storage_options=handle.storage_options
            )
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
    # Workers hand their rows over in Arrow files in RAM (/dev/shm) that the parent maps and
    # unlinks; a killed run leaves at most the batches in flight there, in this folder.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
    try:
        with (
            tempfile.TemporaryDirectory(prefix="cloudtrail-hunt-", dir=shm) as spill,
            cf.ProcessPoolExecutor(workers, mp_context=context) as pool,
        ):
            # A bounded window of batches in flight, yielded in plan order: the parent's
            # commits (Delta writes) must not let finished batches pile up in its memory.
            window: collections.deque[cf.Future[BatchResult]] = collections.deque()
            pending = (dataclasses.replace(spec, spill=spill) for spec in specs)
            for spec in itertools.islice(pending, 2 * workers):
                window.append(pool.submit(run_batch, spec))
            while window:
                result = window.popleft().result()
                for spec in itertools.islice(pending, 1):
                    window.append(pool.submit(run_batch, spec))
                yield result
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


_Key = tuple[str, "date", str, str]  # table, day, account, region


@dataclass
class _Group:
    """Batch results waiting to be committed together, deduplicated against the lake.

    Copies of one record always share table, day, account and region (all derive from the
    record), so dedup keys are kept and checked per (table, day, account, region): small sets.
    """

    lake: Lake
    known: dict[_Key, pl.Series] = field(default_factory=dict)
    loaded: set[tuple[str, date]] = field(default_factory=set)
    results: list[BatchResult] = field(default_factory=list)
    parts: dict[str, list[tuple[_Key, pl.DataFrame]]] = field(default_factory=dict)
    rows: int = 0
    days_written: dict[str, set[date]] = field(default_factory=dict)

    def _load(self, table: str, day: date) -> None:
        """Load the dedup keys the lake holds for a day the first time a batch touches it."""
        self.loaded.add((table, day))
        stored = writer.known_keys(self.lake, table, [day])
        if stored.is_empty():
            return
        for (account, region), keys in stored.partition_by(
            "account", "region", as_dict=True
        ).items():
            self.known[table, day, account, region] = keys[S.DEDUP_KEY]

    def add(self, result: BatchResult, summary: IngestSummary) -> None:
        """Drop rows the lake or an earlier batch already holds, count the batch, keep it."""
        for key, part in result.parts():
            table, day = key[0], key[1]
            if (table, day) not in self.loaded:
                self._load(table, day)
            keys = part[S.DEDUP_KEY]
            known = self.known.get(key)
            if known is not None:
                seen = keys.is_in(known.implode())
                if seen.any():
                    for source, index, dedup in (
                        part.filter(seen).select(S.SOURCE, S.SOURCE_INDEX, S.DEDUP_KEY).iter_rows()
                    ):
                        result.duplicates.append((source, index, dedup, table))
                    part, keys = part.filter(~seen), keys.filter(~seen)
                keys = pl.concat([known, keys])
            self.known[key] = keys
            if not part.is_empty():
                self.parts.setdefault(table, []).append((key, part))
                self.rows += part.height
        result.frames, result.runs = {}, []
        _count(result, summary)
        self.results.append(result)

    def commit(self) -> None:
        """Append the group's rows to every table, then its ledger rows: the commit that counts."""
        if not self.results:
            return
        batches = [r.batch for r in self.results]
        group = xxhash.xxh3_128_hexdigest("\n".join(batches).encode())[:20]
        ledger = [row for r in self.results for row in _ledger_rows(r, group)]
        if ledger:  # a group of failed downloads only leaves nothing: they are retried
            for table in EVENT_TABLES:
                parts = sorted(self.parts.get(table, []), key=lambda kp: kp[0])
                if parts:
                    # Key order is day, account, region; each part is sorted by time.
                    frame = pl.concat([p for _, p in parts]).with_columns(
                        pl.lit(group).alias(S.BATCH)
                    )
                    writer.write_event_table(self.lake, table, frame, group, clustered=True)
                    self.days_written.setdefault(table, set()).update(k[1] for k, _ in parts)
            for name in ("quarantine", "duplicates", "digests"):
                rows = [(*row, group) for r in self.results for row in getattr(r, name)]
                writer.write_rows(self.lake, name, rows, group)
            writer.write_rows(self.lake, "ledger", ledger, group)
        self.results, self.parts, self.rows = [], {}, 0


def _count(result: BatchResult, summary: IngestSummary) -> None:
    for o in result.outcomes:
        if o.fetch_failed or o.unreadable:
            summary.quarantined_objects += 1
        else:
            summary.objects_ingested += 1
        if not o.fetch_failed:
            summary.records += o.records
            summary.quarantined_records += o.quarantined
    summary.duplicates += len(result.duplicates)


def _ledger_rows(result: BatchResult, group: str) -> list[tuple[Any, ...]]:
    """One ledger row per object read (failed downloads are not: the next run retries them)."""
    dups = Counter(source for source, *_ in result.duplicates)
    return [
        (
            o.obj.uri,
            o.obj.key,
            o.obj.etag,
            o.obj.size,
            o.obj.info.kind,
            o.records,
            o.records - o.quarantined - dups[o.obj.uri],
            dups[o.obj.uri],
            o.quarantined,
            o.unreadable,
            group,
        )
        for o in result.outcomes
        if not o.fetch_failed
    ]
