"""The lake: a folder (local or S3) of Delta tables, opened through one `Lake` handle.

Layout (each entry a Delta table written by `deltalake`, read with Polars' `scan_delta`)::

    <lake>/events        CloudTrail events, partitioned by `day` (UTC day of eventTime)
    <lake>/insights      CloudTrail Insights events, same schema and partitioning
    <lake>/ledger        one row per source object ingested (uri, etag, counts, batch)
    <lake>/quarantine    records and objects ingest could not load, with the reason
    <lake>/duplicates    records not stored because the lake already held the same event
    <lake>/digests       CloudTrail digest files, kept aside for integrity checks

Other modules add tables beside these (side inputs, custody) and open them with
:meth:`Lake.table_uri` and :attr:`Lake.storage_options`. A source is resolved into a `Lake` once,
at the edge (CLI or API); everything below takes the handle and never asks again where the lake
is, which version to read or how to reach S3.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.errors import LakeError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

    from deltalake import DeltaTable

#: The event tables; both have the event schema and are partitioned by day.
EVENT_TABLES = ("events", "insights")
TABLES = EVENT_TABLES  # what `scan(table=...)` accepts
PARTITION_BY = ["day"]
AsOf = int | datetime | date | str | None


def event_table_schema() -> pl.Schema:
    """The stored schema of `events` and `insights`: data columns, then account, region, day."""
    return S.lake_schema()


#: Bookkeeping tables written by ingest, with their schemas (none is partitioned).
LEDGER_TABLES: dict[str, dict[str, pl.DataType]] = {
    "ledger": {
        "uri": pl.String(),
        "key": pl.String(),
        "etag": pl.String(),
        "size": pl.Int64(),
        "kind": pl.String(),  # events | digest | insight | unknown, from the key layout
        "records": pl.Int64(),
        "stored": pl.Int64(),
        "duplicates": pl.Int64(),
        "quarantined": pl.Int64(),
        "unreadable": pl.Boolean(),
        "batch": pl.String(),
    },
    "quarantine": {
        "source": pl.String(),
        "index": pl.Int64(),  # null: the object as a whole could not be read
        "reason": pl.String(),
        "batch": pl.String(),
    },
    "duplicates": {
        "source": pl.String(),
        "index": pl.Int64(),
        S.DEDUP_KEY: pl.Binary(),
        "table": pl.String(),
        "batch": pl.String(),
    },
    "digests": {"source": pl.String(), "digest": pl.String(), "batch": pl.String()},
}


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def s3_storage_options(endpoint_url: str | None = None) -> dict[str, str]:
    """delta-rs / Polars options for an S3 lake: endpoint, region, and safe concurrent commits.

    Credentials come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``) as boto3 reads them. Commits use S3 conditional writes
    (``conditional_put=etag``), so two writers racing for one log entry cannot both win (see
    README, "Concurrent writers on S3"); ``CLOUDTRAIL_HUNT_S3_LOCKING=unsafe-rename`` falls back
    to delta-rs' unsafe rename for stores without conditional writes (one writer at a time).
    """
    options: dict[str, str] = {}
    endpoint = (
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    options["AWS_REGION"] = (
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(name):
            options[name] = os.environ[name]
    if os.environ.get("CLOUDTRAIL_HUNT_S3_LOCKING") == "unsafe-rename":
        options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    else:
        options["conditional_put"] = "etag"
    return options


@dataclass(frozen=True)
class Lake:
    """One lake: where it is, how to reach it, and which version of it to read.

    Build it with :meth:`Lake.open` at the edge and hand it down. `as_of` pins every read to a
    version of the `events` table (an int) or to a point in time (a datetime or ISO text); the
    other tables are read as of that version's commit time.
    """

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict)
    as_of: int | datetime | None = None
    endpoint_url: str | None = None
    _tables: dict[str, DeltaTable] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def open(
        cls,
        where: str | Path | Lake,
        *,
        as_of: AsOf = None,
        endpoint_url: str | None = None,
        storage_options: dict[str, str] | None = None,
    ) -> Lake:
        """Resolve a lake location (folder or ``s3://bucket/prefix``) into a handle."""
        if isinstance(where, Lake):
            return where if as_of is None else where.at(as_of)
        text = str(where)
        if _is_remote(text):
            uri = text.rstrip("/")
            options = {**s3_storage_options(endpoint_url), **(storage_options or {})}
        else:
            uri = str(Path(text.removeprefix("file://")).absolute())
            options = dict(storage_options or {})
        return cls(uri, options, parse_as_of(as_of), endpoint_url)

    def at(self, as_of: AsOf) -> Lake:
        """The same lake pinned to another version or time (None: the latest)."""
        return replace(self, as_of=parse_as_of(as_of), _tables={})

    @property
    def is_local(self) -> bool:
        """True for a lake on this machine's file system."""
        return not _is_remote(self.uri)

    @property
    def path(self) -> Path:
        """The lake folder of a local lake."""
        if not self.is_local:
            raise LakeError(self.uri, "not a local lake")
        return Path(self.uri)

    def __str__(self) -> str:
        return self.uri

    def __fspath__(self) -> str:
        return self.path.__fspath__()

    def table_uri(self, name: str) -> str:
        """The URI of the lake's Delta table `name` (give it `storage_options` to open it)."""
        if not name or "/" in name or name in (".", ".."):
            raise LakeError(self.uri, f"invalid table name {name!r}")
        return f"{self.uri}/{name}"

    def has_table(self, name: str) -> bool:
        """True when the table `name` exists (has a Delta log)."""
        if self.is_local:  # a look at the folder: no need to load delta-rs for that
            return (self.path / name / "_delta_log").is_dir()
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.table_uri(name), self.storage_options)

    def exists(self) -> bool:
        """True for a lake written by `cloudtrail-hunt ingest` (it has an `events` table)."""
        return self.has_table("events")

    def require(self) -> None:
        """Raise `LakeError` unless this is a lake."""
        if not self.exists():
            msg = "not a cloudtrail-hunt lake (no `events` Delta table)"
            raise LakeError(self.uri, msg, "run `cloudtrail-hunt ingest` first")

    def table(self, name: str, *, latest: bool = False) -> DeltaTable:
        """Open the Delta table `name` at the lake's pinned version (or the latest).

        A pinned lake opens each table once (its log is read once) and reuses it.
        """
        if self.as_of is not None and not latest:
            cached = self._tables.get(name)
            if cached is None:
                cached = self._tables[name] = self._open_table(name, latest=False)
            return cached
        return self._open_table(name, latest=latest)

    def _open_table(self, name: str, *, latest: bool) -> DeltaTable:
        from deltalake import DeltaTable

        version = None if latest else self._version_of(name)
        try:
            table = DeltaTable(self.table_uri(name), storage_options=self.storage_options or None)
            if version is not None:
                table.load_as_version(version)
        except Exception as exc:  # delta-rs raises its own TableNotFoundError, DeltaError, ...
            raise LakeError(self.table_uri(name), _reason(exc), _hint(self, version)) from exc
        return table

    def _version_of(self, name: str) -> int | datetime | None:
        if self.as_of is None:
            return None
        if isinstance(self.as_of, datetime):
            return self.as_of
        return self.as_of if name == "events" else self.pinned_time

    @functools.cached_property
    def pinned_time(self) -> datetime | None:
        """The time the other tables are read at for an `events` version (None: the latest).

        An ingest commits its ledger rows just after its events, so the other tables are read
        as they were just before the next `events` commit.
        """
        if self.as_of is None or isinstance(self.as_of, datetime):
            return self.as_of
        history = {e["version"]: e for e in self.table("events", latest=True).history()}
        if self.as_of not in history:
            raise LakeError(self.table_uri("events"), f"no version {self.as_of}", _hint(self, 1))
        after = history.get(self.as_of + 1)
        if after is None:
            return None
        return datetime.fromtimestamp(after["timestamp"] / 1000, UTC) - timedelta(milliseconds=1)

    @functools.cached_property
    def version(self) -> int:
        """The `events` table version this handle reads: the pinned one, or the latest now."""
        return self.table("events").version()

    def pinned(self) -> Lake:
        """This lake pinned to the version it reads now, so later reads see the same data."""
        if isinstance(self.as_of, int):
            return self
        events = self.table("events")  # read once: the pinned handle keeps it
        pinned = self.at(events.version())
        pinned._tables["events"] = events
        return pinned

    def scan_table(self, name: str) -> pl.LazyFrame:
        """Any table of the lake as a LazyFrame, at the pinned version."""
        table = self.table(name)  # opened now: a missing table or version fails here, clearly
        return pl.scan_delta(
            table, storage_options=self.storage_options or None, credential_provider=None
        )

    def read_table(self, name: str) -> pl.DataFrame:
        """A bookkeeping table (ledger, quarantine, duplicates, digests) as a DataFrame."""
        if name in LEDGER_TABLES and not self.has_table(name):
            return pl.DataFrame(schema=LEDGER_TABLES[name])
        return self.scan_table(name).collect()

    def scan(
        self,
        *,
        start: datetime | date | str | None = None,
        end: datetime | date | str | None = None,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        table: str = "events",
    ) -> pl.LazyFrame:
        """Events as a LazyFrame; see :func:`scan`."""
        if table not in EVENT_TABLES:
            expected = ", ".join(map(repr, EVENT_TABLES))
            raise LakeError(self.uri, f"unknown lake table {table!r}; expected one of {expected}")
        self.require()
        lo, hi = to_utc(start), to_utc(end)
        frame = self.scan_table(table)
        # `day` is the partition column: these filters decide which files are opened at all.
        if lo is not None:
            frame = frame.filter(pl.col("day") >= lo.astimezone(UTC).date())
        if hi is not None:
            frame = frame.filter(pl.col("day") <= (hi.astimezone(UTC) - _TICK).date())
        if accounts is not None:
            frame = frame.filter(pl.col("account").is_in(sorted(accounts)))
        if regions is not None:
            frame = frame.filter(pl.col("region").is_in(sorted(regions)))
        if lo is not None:
            frame = frame.filter(pl.col(S.EVENT_TIME) >= lo)
        if hi is not None:
            frame = frame.filter(pl.col(S.EVENT_TIME) < hi)
        schema = S.lake_schema()
        # Delta has no unsigned integers: source_index is stored as int32.
        return frame.select(
            pl.col(S.SOURCE_INDEX).cast(schema[S.SOURCE_INDEX]) if n == S.SOURCE_INDEX else n
            for n in schema.names()
        )

    def latest_event(self, table: str = "events") -> datetime | None:
        """The time of the latest event, reading only the last day's files (None if empty)."""
        if not self.exists():
            return None
        days = [p["day"] for p in self.table(table).partitions()]
        if not days:
            return None
        last = date.fromisoformat(max(days))
        return latest_time(self.scan(table=table, start=last, end=last + timedelta(days=1)))

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the lake's writer lock: one ingest or compaction at a time on this lake.

        Local lakes take an advisory lock on ``<lake>/.writer.lock`` (released by the kernel
        when the process dies). On S3 the lock is the object ``<lake>/_writer.lock``, created
        with a conditional write (``If-None-Match: *``) so only one writer can create it; a
        second writer waits up to `LOCK_WAIT` seconds for it, then stops with a message. Each
        Delta commit is itself atomic either way; the lock keeps two ingests from storing the
        same new object twice (deduplication reads the lake before it commits).
        """
        if not self.is_local:
            with _s3_lock(self):
                yield
            return
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / ".writer.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


_TICK = timedelta(microseconds=1)
#: Seconds a writer waits for another writer's S3 lock before it stops.
LOCK_WAIT = float(os.environ.get("CLOUDTRAIL_HUNT_LOCK_WAIT", "600"))


@contextlib.contextmanager
def _s3_lock(lake: Lake) -> Iterator[None]:
    import json
    import socket
    import time

    import boto3
    from botocore.exceptions import ClientError

    options = lake.storage_options
    bucket, _, prefix = lake.uri.removeprefix("s3://").partition("/")
    key = f"{prefix}/_writer.lock" if prefix else "_writer.lock"
    client = boto3.client(
        "s3",
        endpoint_url=options.get("AWS_ENDPOINT_URL"),
        region_name=options.get("AWS_REGION"),
    )
    owner = json.dumps(
        {"host": socket.gethostname(), "pid": os.getpid(), "since": datetime.now(UTC).isoformat()}
    )
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            client.put_object(Bucket=bucket, Key=key, Body=owner.encode(), IfNoneMatch="*")
            break
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise LakeError(lake.uri, f"cannot take the writer lock: {code}") from exc
            if time.monotonic() > deadline:
                try:
                    holder = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
                except ClientError:
                    holder = "unknown"
                msg = f"another writer holds the lake ({holder})"
                hint = f"rerun when it ends; if none is running, delete s3://{bucket}/{key}"
                raise LakeError(lake.uri, msg, hint) from exc
            time.sleep(0.25)
    try:
        yield
    finally:
        client.delete_object(Bucket=bucket, Key=key)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _hint(lake: Lake, version: object) -> str | None:
    if version is not None:
        return f"no version {version} of the lake; `cloudtrail-hunt lake history LAKE` lists them"
    return None


def parse_as_of(value: AsOf) -> int | datetime | None:
    """Read an `as_of`: a version number (int or digits) or a time (naive means UTC)."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return to_utc(value)


def open_lake(where: str | Path | Lake, **options: Any) -> Lake:
    """`Lake.open` as a function."""
    return Lake.open(where, **options)


def scan(
    lake: str | Path | Lake,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    table: str = "events",
    as_of: AsOf = None,
) -> pl.LazyFrame:
    """Open the lake as a LazyFrame, reading only the days, files and row groups it needs.

    Parameters
    ----------
    lake
        The lake folder, ``s3://bucket/prefix``, or a `Lake`.
    start, end
        Event-time range, start inclusive, end exclusive. A `date` (or ``YYYY-MM-DD``) means
        midnight UTC, so ``end=date(2026, 10, 2)`` ends with 1 October; naive datetimes are UTC.
    accounts, regions
        Keep only these accounts and regions (row groups are clustered by them, so their
        statistics skip the rest).
    table
        ``"events"`` or ``"insights"``.
    as_of
        A version of the `events` table (int) or a time: read the lake as it was then.

    Returns
    -------
    pl.LazyFrame
        The lake schema (:func:`cloudtrail_hunt.schema.lake_schema`); days outside the range are
        never opened and the filters are pushed into the Parquet scan.
    """
    return Lake.open(lake, as_of=as_of).scan(
        start=start, end=end, accounts=accounts, regions=regions, table=table
    )


def latest_event(lake: str | Path | Lake, table: str = "events") -> datetime | None:
    """The time of the lake's latest event, reading only its last day (None if empty)."""
    return Lake.open(lake).latest_event(table)


def latest_time(frame: pl.LazyFrame) -> datetime | None:
    """The latest `eventTime` of `frame` (None when it has no rows)."""
    latest: datetime | None = (
        frame.select(pl.col(S.EVENT_TIME).max()).collect(engine="streaming").item()
    )
    return latest


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
