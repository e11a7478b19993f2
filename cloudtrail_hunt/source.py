"""Opens what a user points a query or a hunt at: a lake, raw CloudTrail logs, or a frame.

Raw logs (a folder, a file or an ``s3://`` prefix that is not a lake) are ingested on the fly
into a cache lake keyed by the source, so a second query over the same logs reads the lake and
only new objects are ingested (ingest is incremental and idempotent). `resolve_lake` is the one
place that decides what a path is; callers resolve once and hand the `Lake` down.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.errors import RecordError
from cloudtrail_hunt.ingest.layout import UNKNOWN
from cloudtrail_hunt.ingest.normalize import ObjectRecords, normalize
from cloudtrail_hunt.lake import AsOf, Lake, to_utc
from cloudtrail_hunt.lake_cache import CACHE_SOURCE, cache_key, cache_lake, cache_lakes, cache_root

if TYPE_CHECKING:
    from cloudtrail_hunt.ingest.pipeline import IngestSummary

__all__ = ["cache_lake", "cache_lakes", "cache_root", "is_lake", "open_source", "resolve_lake"]

Source = str | Path | Lake | pl.LazyFrame | pl.DataFrame | list[dict[str, object]]
#: Logs Insights system fields a caller may give with each record (reference §14).
SYSTEM_KEYS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")


def is_lake(path: str | Path | Lake) -> bool:
    """True for a lake written by `cloudtrail-hunt ingest` (a folder or an ``s3://`` prefix)."""
    return Lake.open(path).exists()


def resolve_lake(
    source: str | Path | Lake,
    *,
    as_of: AsOf = None,
    endpoint_url: str | None = None,
    start: date | None = None,
    end: date | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[Lake, IngestSummary | None]:
    """Resolve a path into the `Lake` to read: itself, or raw logs' cache lake after ingesting.

    Returns the lake and the ingest summary (None when `source` already is a lake). Raw logs are
    listed for `start`..`end` delivery days (None: all).
    """
    if isinstance(source, Lake):
        return source.at(as_of) if as_of is not None else source, None
    lake = Lake.open(source, as_of=as_of, endpoint_url=endpoint_url)
    if lake.exists():
        return lake, None
    cached, summary = ingest_cached(
        source, start=start, end=end, accounts=accounts, regions=regions, on_progress=on_progress
    )
    return Lake.open(cached, as_of=as_of), summary


def open_source(
    source: Source,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    as_of: AsOf = None,
) -> pl.LazyFrame:
    """A LazyFrame of CloudTrail events in the lake schema, limited to the range and filters.

    `as_of` (a lake version or a time) reads a lake as it was then; it is ignored for frames.
    """
    lo, hi = to_utc(start), to_utc(end)
    if isinstance(source, list):
        return _restrict(records_frame(source), lo, hi, accounts, regions)
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        return _restrict(source.lazy(), lo, hi, accounts, regions)
    if not isinstance(source, Lake) and is_log_events(source):
        return _restrict(log_events_frame(source), lo, hi, None, None)
    # Delivery runs minutes behind event time: read one day either side of the range.
    first = None if lo is None else (lo - timedelta(days=1)).date()
    last = None if hi is None else (hi + timedelta(days=1)).date()
    lake, _ = resolve_lake(
        source, as_of=as_of, start=first, end=last, accounts=accounts, regions=regions
    )
    return lake.scan(start=lo, end=hi, accounts=accounts, regions=regions)


def ingest_cached(
    source: str | Path,
    *,
    start: date | None = None,
    end: date | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, IngestSummary]:
    """Ingest raw logs into their cache lake (only what is new) and return it with the summary."""
    from cloudtrail_hunt.ingest.pipeline import ingest  # the ingest stack only when ingesting

    lake = cache_lake(source)
    summary = ingest(
        source,
        lake,
        start=start,
        end=end,
        accounts=accounts,
        regions=regions,
        on_progress=on_progress,
    )
    (lake / CACHE_SOURCE).write_text(cache_key(source) + "\n", encoding="utf-8")
    return lake, summary


def _restrict(
    frame: pl.LazyFrame,
    lo: datetime | None,
    hi: datetime | None,
    accounts: Collection[str] | None,
    regions: Collection[str] | None,
) -> pl.LazyFrame:
    names = frame.collect_schema().names()
    time = schema.EVENT_TIME if schema.EVENT_TIME in names else "@timestamp"
    if lo is not None:
        frame = frame.filter(pl.col(time) >= lo)
    if hi is not None:
        frame = frame.filter(pl.col(time) < hi)
    if accounts is not None and "account" in names:
        frame = frame.filter(pl.col("account").is_in(list(accounts)))
    if regions is not None and "region" in names:
        frame = frame.filter(pl.col("region").is_in(list(regions)))
    return frame


def is_log_events(path: str | Path | Lake) -> bool:
    """True for CloudWatch Logs events saved with `aws logs filter-log-events` (not CloudTrail)."""
    if isinstance(path, Lake):
        return False
    root = Path(path)
    if str(path).startswith("s3://") or not root.exists() or (root / "AWSLogs").exists():
        return False
    first = root if root.is_file() else next(iter(sorted(root.rglob("*.json"))), None)
    if first is None or first.suffix != ".json":
        return False
    try:
        body = json.loads(first.read_bytes())
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("events"), list)


def log_events_frame(path: str | Path) -> pl.LazyFrame:
    """Log events saved by `aws logs filter-log-events` as a frame of Logs Insights system fields.

    Files are laid out as ``<account>/<log group>/….json`` (e.g.
    ``111122223333/aws/lambda/credential-report-audit/2026-10-04.json``), which gives `@log`
    (``<account>:/aws/lambda/credential-report-audit``); `@logStream`, `@timestamp`,
    `@ingestionTime` and `@message` come from each event.
    """
    root = Path(path)
    rows: list[dict[str, object]] = []
    for file in [root] if root.is_file() else sorted(root.rglob("*.json")):
        log = _log_group(file.resolve())
        for event in json.loads(file.read_bytes()).get("events", []):
            message = event.get("message")
            rows.append(
                {
                    "@timestamp": event.get("timestamp"),
                    "@ingestionTime": event.get("ingestionTime"),
                    "@logStream": event.get("logStreamName"),
                    "@log": log,
                    # Lambda lines end with a newline that CloudWatch does not show.
                    "@message": message.rstrip("\n") if isinstance(message, str) else None,
                }
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "@timestamp": pl.Int64,
            "@ingestionTime": pl.Int64,
            "@logStream": pl.String,
            "@log": pl.String,
            "@message": pl.String,
        },
    )
    to_time = {
        c: pl.from_epoch(c, "ms").dt.replace_time_zone("UTC")
        for c in ("@timestamp", "@ingestionTime")
    }
    return frame.with_columns(**to_time).lazy()


def _log_group(file: Path) -> str:
    parts = file.parent.parts
    for i, part in enumerate(parts):
        if len(part) == 12 and part.isdigit() and i + 1 < len(parts):
            return f"{part}:/" + "/".join(parts[i + 1 :])
    return file.parent.name


def records_frame(records: Iterable[Mapping[str, object]], source: str = "memory") -> pl.LazyFrame:
    """CloudTrail records (parsed JSON) as a LazyFrame in the lake schema, for notebooks and tests.

    Keys starting with ``@`` are Logs Insights system fields given with the record
    (``@logStream``, ``@log``, ``@message``, ``@timestamp`` as ISO-8601 or epoch ms), not part
    of it; they become columns of the same name.

    Raises
    ------
    RecordError
        For a record the ingest would quarantine (no `eventTime`, wrong types).
    """
    rows = list(records)
    system = {k: [r.get(k) for r in rows] for k in SYSTEM_KEYS if any(k in r for r in rows)}
    raws: list[tuple[int, bytes, bytes | None]] = [
        (
            i,
            json.dumps(
                {k: v for k, v in r.items() if not k.startswith("@")},
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode(),
            None,
        )
        for i, r in enumerate(rows)
    ]
    normalized = normalize([ObjectRecords(source, UNKNOWN, raws)])
    for where, index, reason in normalized.rejected:
        raise RecordError(where, index, reason)
    frame = normalized.frame.drop("is_insight", strict=False)
    for name, values in system.items():
        frame = frame.with_columns(_system_column(name, values))
    return frame.lazy()


def _system_column(name: str, values: list[object]) -> pl.Series:
    if name not in {"@timestamp", "@ingestionTime"}:
        return pl.Series(name, [None if v is None else str(v) for v in values], pl.String)
    if all(isinstance(v, int) or v is None for v in values):
        millis = pl.Series(name, values, pl.Int64)
        return millis.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
    text = pl.Series(name, [None if v is None else str(v) for v in values], pl.String)
    return text.str.to_datetime(time_zone="UTC", time_unit="ms")
