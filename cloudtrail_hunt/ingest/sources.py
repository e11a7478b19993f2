"""List and fetch CloudTrail objects from a local folder or an S3 prefix, in order, with retries.

First stage of ingest (**list** → decode → normalize → lake). `layout.py` decides which prefixes
to list; this module does the I/O. Fetching never raises for one bad object: a permanent failure
comes back as an `ObjectError` value in its place, so the rest of a run still loads and the
quarantine can name what is missing.
"""

from __future__ import annotations

import os
import random
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cloudtrail_hunt.errors import ConfigError, IngestError, ObjectError
from cloudtrail_hunt.ingest.layout import (
    LOGS_FOLDER,
    KeyInfo,
    Kind,
    ListingRequest,
    is_layout_anchor,
    parse_key,
    walk_prefixes,
)

if TYPE_CHECKING:
    from concurrent.futures import Future
    from datetime import date

__all__ = ["LocalSource", "S3Source", "Source", "SourceObject", "open_source"]

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One listed object: where it is, what it is called relative to the source, and its version.

    Attributes
    ----------
    uri
        ``s3://bucket/key`` or the absolute local path.
    key
        The path relative to the source root, ``/``-separated; what provenance shows.
    size
        Size in bytes at listing time.
    etag
        The S3 ETag without quotes; for a local file ``f"{mtime_ns:x}-{size:x}"``.
    info
        What the key says in the CloudTrail layout (org, account, region, day, kind).
    """

    uri: str
    key: str
    size: int
    etag: str
    info: KeyInfo


class Source(Protocol):
    """A place CloudTrail objects are listed and fetched from (a local tree or an S3 prefix)."""

    root: str

    def list_objects(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        kinds: Collection[Kind] | None = None,
    ) -> Iterator[SourceObject]:
        """Yield the objects of the requested days, accounts, regions and kinds, in key order."""
        ...

    def fetch(
        self, objects: Iterable[SourceObject]
    ) -> Iterator[tuple[SourceObject, bytes | ObjectError]]:
        """Yield each object with its bytes or an `ObjectError`, in input order."""
        ...


# --------------------------------------------------------------------------------------------
# Where the layout walk starts
# --------------------------------------------------------------------------------------------


def _anchor(parts: Iterable[str]) -> tuple[str, ...] | None:
    """Segments below the last ``AWSLogs`` segment of a root path, or None if it has none."""
    seq = list(parts)
    if LOGS_FOLDER not in seq:
        return None
    last = len(seq) - 1 - seq[::-1].index(LOGS_FOLDER)
    return tuple(s for s in seq[last + 1 :] if s)


def _select(request: ListingRequest, info: KeyInfo, *, layout: bool) -> bool:
    # In a layout walk only parsed keys count; in a plain folder (exports, the corpus) every file
    # is listed and the filters apply only to the keys that parse.
    if info.kind == "unknown":
        return not layout
    return request.matches(info)


# --------------------------------------------------------------------------------------------
# Local folders
# --------------------------------------------------------------------------------------------


class LocalSource:
    """A local folder (``aws s3 sync`` output, an export folder) or a single file.

    If the root holds an ``AWSLogs`` folder, or lies inside one, only the CloudTrail layout under
    it is walked, pruned by the request; files beside ``AWSLogs`` are ignored. Otherwise every
    regular file below the root is listed. Hidden entries (``.name``) are skipped; symlinked
    folders are not followed, and a symlinked file is listed only if it resolves inside the root.

    Parameters
    ----------
    path
        The folder or file; it is resolved to its real absolute path, which becomes `root`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = str(Path(path).resolve())
        self._single = Path(self.root).is_file()

    def __repr__(self) -> str:
        return f"LocalSource({self.root!r})"

    def close(self) -> None:
        """Release nothing; present so every source can be closed the same way."""

    def list_objects(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        kinds: Collection[Kind] | None = None,
    ) -> Iterator[SourceObject]:
        """Yield the local files of the requested days, accounts, regions and kinds, in key order.

        Raises
        ------
        ConfigError
            Invalid filter values (raised at the call, before any listing).
        IngestError
            A folder that must be listed cannot be read (while iterating).
        """
        request = ListingRequest.build(
            start=start, end=end, accounts=accounts, regions=regions, kinds=kinds
        )
        return self._list(request)

    def _list(self, request: ListingRequest) -> Iterator[SourceObject]:
        if self._single:
            single = Path(self.root)
            obj = self._object(single.name, self.root, single.stat())
            if _select(request, obj.info, layout=False):
                yield obj
            return
        anchor = _anchor(Path(self.root).parts)
        if anchor is not None and is_layout_anchor(anchor):
            leaves: Iterable[str] | None = walk_prefixes(
                self._dirs, request, base="", anchor=anchor
            )
        elif self._is_real_dir(LOGS_FOLDER):
            leaves = walk_prefixes(self._dirs, request, base=f"{LOGS_FOLDER}/")
        else:
            leaves = None
        if leaves is None:
            for key, path, st in self._files(""):
                obj = self._object(key, path, st)
                if _select(request, obj.info, layout=False):
                    yield obj
            return
        for leaf in leaves:
            for key, path, st in self._files(leaf):
                obj = self._object(key, path, st)
                if _select(request, obj.info, layout=True):
                    yield obj

    def _object(self, key: str, path: str, st: os.stat_result) -> SourceObject:
        # Parse the whole path, so a root inside an AWSLogs tree still yields account and day.
        info = parse_key(Path(path).as_posix())
        etag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
        return SourceObject(uri=path, key=key, size=st.st_size, etag=etag, info=info)

    def _path(self, prefix: str) -> str:
        return str(Path(self.root).joinpath(*(p for p in prefix.split("/") if p)))

    def _is_real_dir(self, name: str) -> bool:
        path = Path(self._path(name))
        return path.is_dir() and not path.is_symlink()

    def _scan(self, prefix: str) -> list[os.DirEntry[str]]:
        path = self._path(prefix)
        try:
            with os.scandir(path) as entries:
                # Dot-names are listed too: a forensic tool must not have a blind spot that an
                # attacker can choose by naming a file `.x`.
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []  # an exact day prefix that has no folder: nothing delivered that day
        except OSError as exc:
            msg = f"cannot list the folder: {exc.strerror or exc}"
            hint = "check its permissions; objects below it were not listed"
            raise IngestError(path, msg, hint) from exc

    def _dirs(self, prefix: str) -> list[str]:
        return [e.name for e in self._scan(prefix) if e.is_dir(follow_symlinks=False)]

    def _files(self, prefix: str) -> Iterator[tuple[str, str, os.stat_result]]:
        """Depth-first, in key order: ``name/`` sorts where its contents' keys sort."""
        entries = []
        for entry in self._scan(prefix):
            is_dir = entry.is_dir(follow_symlinks=False)
            entries.append((entry.name + "/" if is_dir else entry.name, entry, is_dir))
        entries.sort(key=lambda item: item[0])
        for _, entry, is_dir in entries:
            key = prefix + entry.name
            if is_dir:
                yield from self._files(key + "/")
                continue
            st = self._stat(entry)
            if st is not None:
                yield key, entry.path, st

    def _stat(self, entry: os.DirEntry[str]) -> os.stat_result | None:
        """Stat a regular file; None for anything else or a symlink leading out of the root."""
        try:
            if entry.is_symlink():
                target = Path(entry.path).resolve()
                if not target.is_relative_to(self.root):
                    return None
                st = target.stat()
            else:
                st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None  # removed since the folder was read, or a dangling link
        except OSError as exc:
            msg = f"cannot stat the file: {exc.strerror or exc}"
            raise IngestError(entry.path, msg) from exc
        return st if stat.S_ISREG(st.st_mode) else None  # FIFOs would block a reader

    def fetch(
        self, objects: Iterable[SourceObject]
    ) -> Iterator[tuple[SourceObject, bytes | ObjectError]]:
        """Read each file; an unreadable one gives an `ObjectError` in its place, in input order."""
        for obj in objects:
            try:
                data = Path(obj.uri).read_bytes()
            except OSError as exc:
                reason = f"cannot read the file: {exc.strerror or exc}"
                yield obj, ObjectError(obj.uri, reason, "check that it exists and is readable")
                continue
            yield obj, data


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------


def _split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` → (``bucket``, ``a/b``)."""
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    return bucket, key


def _body_errors() -> tuple[type[BaseException], ...]:
    """Failures while reading a response body, which boto3 does not retry (test-infra.md §1.3)."""
    from botocore.exceptions import (
        FlexibleChecksumError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )
    from urllib3.exceptions import HTTPError as URLLib3Error

    return (
        ResponseStreamingError,
        IncompleteReadError,
        ReadTimeoutError,
        FlexibleChecksumError,
        URLLib3Error,
        ConnectionError,
    )


#: Error codes that mean "denied"; S3-compatible servers differ in which one they send.
_DENIED = frozenset(
    {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT = frozenset(
    {"SlowDown", "503", "500", "InternalError", "ServiceUnavailable", "RequestTimeout"}
    | {"Throttling", "ThrottlingException"}
)


class S3Source:
    """An S3 prefix read with boto3: delimited listings for the layout walk, concurrent GETs.

    Parameters
    ----------
    bucket, prefix
        Where the source starts; `prefix` is empty or ends with ``/``.
    endpoint_url
        An S3-compatible endpoint; None lets boto3 use ``AWS_ENDPOINT_URL_S3`` /
        ``AWS_ENDPOINT_URL`` or AWS itself.
    anon
        Send unsigned requests (public buckets only).
    max_concurrency
        Parallel GETs and connection pool size.
    max_attempts
        Total attempts per request, for boto3's own retries (throttling, 5xx, connection errors)
        and for ours (bodies cut short, which boto3 does not retry).

    Notes
    -----
    The boto3 client is made on first use and not pickled, so a source can be sent to a worker.
    """

    #: Backoff before retry n is uniform in [0, min(cap, base * 2**(n-1))] ("full jitter").
    backoff_base = 0.2
    backoff_cap = 10.0

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        anon: bool = False,
        max_concurrency: int = 16,
        max_attempts: int = 8,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.root = f"s3://{bucket}/{prefix}".rstrip("/")
        self.endpoint_url = endpoint_url
        self.anon = anon
        self.max_concurrency = max_concurrency
        self.max_attempts = max_attempts
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Source({self.root!r}, endpoint_url={self.endpoint_url!r}, anon={self.anon!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (boto3 clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(
            # "total_max_attempts" counts the first try; "max_attempts" would count retries only.
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            max_pool_connections=self.max_concurrency,
            # Path style works with every S3-compatible server and with dotted bucket names.
            s3={"addressing_style": "path"},
            signature_version=UNSIGNED if self.anon else None,
        )
        session = boto3.session.Session()
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def close(self) -> None:
        """Close the client's connections."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> S3Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- errors and retries -------------------------------------------------------------

    def _sleep_before_retry(self, attempt: int) -> None:
        cap = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        time.sleep(random.uniform(0, cap))  # noqa: S311 (jitter, not cryptography)

    def _describe(self, exc: BaseException) -> tuple[str, str | None]:
        """A reason and a hint for a failure boto3 has already retried as far as it would."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(error.get("Code") or status or "error")
            message = error.get("Message") or ""
            if code in _MISSING:
                return f"no such object ({code})", "it was removed after listing; list again"
            if code in _DENIED:
                if self.anon:
                    hint = "unsigned requests (`anon=True`) work only on public buckets"
                else:
                    hint = "check the credentials and the bucket policy"
                    hint += " (s3:ListBucket, s3:GetObject)"
                return f"access denied ({code})", hint
            if code == "NoSuchBucket":
                return f"no such bucket {self.bucket!r} (NoSuchBucket)", "check the bucket name"
            if code in _TRANSIENT or (isinstance(status, int) and status >= 500):
                reason = f"{code} on all {self.max_attempts} attempts"
                return reason, "the service is throttling or failing; rerun later"
            return (f"{code}: {message}" if message else code), None
        if isinstance(exc, NoCredentialsError):
            hint = "configure AWS credentials, or pass `anon=True` for a public bucket"
            return "no AWS credentials found", hint
        if isinstance(exc, EndpointConnectionError):
            return f"cannot connect: {exc}", "check `endpoint_url` and the network"
        return f"{type(exc).__name__}: {exc}", None

    def _call(self, where: str, fn: Callable[[], _R]) -> _R:
        """Run one listing request; retry bodies cut short; raise IngestError when it fails."""
        from botocore.exceptions import BotoCoreError, ClientError

        body_errors = _body_errors()
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except body_errors as exc:
                if attempt == self.max_attempts:
                    reason = f"listing failed on all {attempt} attempts ({type(exc).__name__})"
                    raise IngestError(where, reason, "rerun later") from exc
                self._sleep_before_retry(attempt)
            except (ClientError, BotoCoreError) as exc:
                reason, hint = self._describe(exc)
                raise IngestError(where, f"cannot list: {reason}", hint) from exc
        raise AssertionError  # pragma: no cover (the loop always returns or raises)

    # --- listing ------------------------------------------------------------------------

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        where = f"s3://{self.bucket}/{prefix}"
        while True:
            # Our own loop over continuation tokens, so a page can be retried on its own.
            page: dict[str, Any] = self._call(where, partial(self.client.list_objects_v2, **kwargs))
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    def _dirs(self, prefix: str) -> list[str]:
        full = self.prefix + prefix
        names = []
        for page in self._pages(full, "/"):
            for common in page.get("CommonPrefixes", ()):
                name = common["Prefix"][len(full) :].rstrip("/")
                if name and "/" not in name:
                    names.append(name)
        return names

    def _objects(self, prefix: str, *, layout: bool, request: ListingRequest) -> list[SourceObject]:
        found = []
        for page in self._pages(self.prefix + prefix, None):
            for item in page.get("Contents", ()):
                full_key: str = item["Key"]
                key = full_key[len(self.prefix) :]
                if not key or key.endswith("/"):
                    continue  # folder markers
                obj = SourceObject(
                    uri=f"s3://{self.bucket}/{full_key}",
                    key=key,
                    size=int(item.get("Size", 0)),
                    etag=str(item.get("ETag", "")).strip('"'),
                    info=parse_key(full_key),
                )
                if _select(request, obj.info, layout=layout):
                    found.append(obj)
        # S3 lists in UTF-8 binary order, which is code point order; sort anyway, since not
        # every S3-compatible server promises it. A leaf holds at most a month of one region.
        found.sort(key=lambda o: o.key)
        return found

    def list_objects(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        kinds: Collection[Kind] | None = None,
    ) -> Iterator[SourceObject]:
        """Yield the objects of the requested days, accounts, regions and kinds, in key order.

        Raises
        ------
        ConfigError
            Invalid filter values (raised at the call, before any request).
        IngestError
            A listing request failed after its retries (while iterating).
        """
        request = ListingRequest.build(
            start=start, end=end, accounts=accounts, regions=regions, kinds=kinds
        )
        return self._list(request)

    def _list(self, request: ListingRequest) -> Iterator[SourceObject]:
        anchor = _anchor(self.prefix.split("/"))
        if anchor is not None and is_layout_anchor(anchor):
            leaves: Iterable[str] = walk_prefixes(self._dirs, request, base="", anchor=anchor)
        else:
            top = f"{LOGS_FOLDER}/"
            first = self._dirs(top)
            if not first:
                # No AWSLogs tree here: a folder of exported files, listed whole.
                yield from self._objects("", layout=False, request=request)
                return
            cache = {top: first}

            def dirs(prefix: str) -> list[str]:
                return cache.pop(prefix) if prefix in cache else self._dirs(prefix)

            leaves = walk_prefixes(dirs, request, base=top)
        for leaf in leaves:
            yield from self._objects(leaf, layout=True, request=request)

    # --- fetching -----------------------------------------------------------------------

    def fetch(
        self, objects: Iterable[SourceObject]
    ) -> Iterator[tuple[SourceObject, bytes | ObjectError]]:
        """Download objects concurrently; yield each with its bytes or an `ObjectError`, in order.

        At most ``2 * max_concurrency`` objects are in flight or waiting to be consumed, so
        memory stays bounded however many objects are asked for.
        """
        return _ordered_map(self._fetch_one, objects, self.max_concurrency)

    def _fetch_one(self, obj: SourceObject) -> bytes | ObjectError:
        try:
            return self._get(obj)
        except Exception as exc:  # noqa: BLE001 (the contract: report, never raise, never drop)
            return ObjectError(obj.uri, f"unexpected {type(exc).__name__}: {exc}")

    def _get(self, obj: SourceObject) -> bytes | ObjectError:
        from botocore.exceptions import BotoCoreError, ClientError

        if not obj.uri.startswith("s3://"):
            hint = "fetch it from the source that listed it"
            return ObjectError(obj.uri, "not an S3 object", hint)
        bucket, key = _split_s3(obj.uri)
        body_errors = _body_errors()
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.get_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                # boto3 has already retried throttling, 5xx and connection errors.
                reason, why = self._describe(exc)
                return ObjectError(obj.uri, reason, why)
            body = response["Body"]
            try:
                # StreamingBody.read() checks the length against Content-Length, so a body cut
                # short raises instead of returning fewer bytes.
                return body.read()  # type: ignore[no-any-return]
            except body_errors as exc:
                last = exc
                if attempt < self.max_attempts:
                    self._sleep_before_retry(attempt)
            finally:
                body.close()
        reason = (
            f"the body was cut short on all {self.max_attempts} attempts "
            f"({type(last).__name__}: {last})"
        )
        return ObjectError(obj.uri, reason, "the connection keeps dropping; rerun later")


def _ordered_map(
    fn: Callable[[_T], _R], items: Iterable[_T], workers: int
) -> Iterator[tuple[_T, _R]]:
    """Apply `fn` on a thread pool, yielding ``(item, result)`` in input order.

    The window of submitted-but-not-yielded items is ``2 * workers``: enough to keep every
    worker busy while the consumer handles one result, small enough to bound memory.
    """
    from concurrent.futures import ThreadPoolExecutor

    window = 2 * workers
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cloudtrail-fetch")
    pending: deque[tuple[_T, Future[_R]]] = deque()
    try:
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= window:
                done_item, future = pending.popleft()
                yield done_item, future.result()
        while pending:
            done_item, future = pending.popleft()
            yield done_item, future.result()
    finally:
        # If the consumer stops early, drop what has not started and wait for what has.
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def open_source(
    uri: str | Path,
    *,
    endpoint_url: str | None = None,
    anon: bool = False,
    max_concurrency: int = 16,
    max_attempts: int = 8,
) -> Source:
    """Open a local folder or file, or an ``s3://bucket[/prefix]``, as a `Source`.

    Parameters
    ----------
    uri
        A local path, or ``s3://bucket`` / ``s3://bucket/prefix``.
    endpoint_url
        S3 only: an S3-compatible endpoint (otherwise boto3 reads ``AWS_ENDPOINT_URL_S3`` /
        ``AWS_ENDPOINT_URL``, or uses AWS).
    anon
        S3 only: unsigned requests, for public buckets. Off by default.
    max_concurrency
        S3 only: parallel requests.
    max_attempts
        S3 only: total attempts per request, including the first.

    Returns
    -------
    Source
        A `LocalSource` or an `S3Source`. Credentials come from boto3's default chain.

    Raises
    ------
    ConfigError
        An unsupported scheme, an empty bucket name, a local path that does not exist, or a
        non-positive `max_concurrency` / `max_attempts`.
    """
    for name, value in (("max_concurrency", max_concurrency), ("max_attempts", max_attempts)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            msg = f"must be a positive integer, got {value!r}"
            raise ConfigError(key=name, reason=msg)
    text = os.fspath(uri)
    if text.startswith("s3://"):
        bucket, prefix = _split_s3(text)
        if not bucket:
            msg = f"no bucket in {text!r}"
            raise ConfigError(key="source", reason=msg, hint="use `s3://bucket[/prefix]`")
        prefix = prefix.strip("/")
        return S3Source(
            bucket,
            f"{prefix}/" if prefix else "",
            endpoint_url=endpoint_url,
            anon=anon,
            max_concurrency=max_concurrency,
            max_attempts=max_attempts,
        )
    if "://" in text:
        scheme = text.split("://", 1)[0]
        msg = f"unsupported scheme {scheme!r}"
        hint = "use a local path or `s3://bucket[/prefix]`"
        raise ConfigError(key="source", reason=msg, hint=hint)
    path = Path(text).expanduser()
    if not path.exists():
        msg = f"{str(path)!r} does not exist"
        raise ConfigError(key="source", reason=msg)
    return LocalSource(path)
