"""The log-file half of the custody check: hash every listed file and compare, find the unlisted.

Part of the chain-of-custody check (digest → keys → verify → report); `verify.verify_source`
runs it after the digests (`chain.py`). CloudTrail records the SHA-256 of each log file's
uncompressed content; inflating and hashing release the GIL, so a thread pool uses every core.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING

from isal import isal_zlib

from cloudtrail_hunt.custody.chain import GZIP_MAGIC, Found, iso
from cloudtrail_hunt.custody.digest import Digest, logs_path, same_hash
from cloudtrail_hunt.custody.report import FileCheck, FileStatus, VerifyReport
from cloudtrail_hunt.errors import ObjectError
from cloudtrail_hunt.ingest._base import SourceObject, _ordered_map
from cloudtrail_hunt.ingest.decode import gunzip
from cloudtrail_hunt.ingest.layout import parse_key

if TYPE_CHECKING:
    from cloudtrail_hunt.ingest.sources import Source

__all__ = ["Progress", "check_files", "content_sha256"]

Progress = Callable[[int, int], None]
#: Threads that inflate and hash log files (both release the GIL).
_HASH_WORKERS = max(2, min(8, os.cpu_count() or 2))


def content_sha256(data: bytes) -> tuple[str | None, str | None]:
    """SHA-256 (hex) of a log file's uncompressed content, and why it could not be computed.

    CloudTrail hashes the uncompressed file, so a copy someone gunzipped still verifies; bytes
    that are not gzip are hashed as they are.
    """
    if data[:2] != GZIP_MAGIC:
        return hashlib.sha256(data).hexdigest(), None
    try:
        # CloudTrail's files are one gzip member: one call, no copies.
        inflater = isal_zlib.decompressobj(wbits=31)
        raw = inflater.decompress(data)
        if inflater.eof and not inflater.unused_data:
            return hashlib.sha256(raw).hexdigest(), None
    except isal_zlib.error:  # type: ignore[misc]
        pass
    raw, error = gunzip(data)  # several members, or damage: let decode say what is wrong
    if error is not None:
        return None, error
    return hashlib.sha256(raw).hexdigest(), None


Hashed = tuple[str | None, str | None] | ObjectError


class Hasher:
    """Reads and hashes the listed log files in the background, from the moment they are listed.

    The digests are read and checked meanwhile on the calling thread (JSON and signatures hold
    the GIL, inflating and SHA-256 do not), so the two overlap. At most ``4 * workers`` files are
    held in memory. `need` says which files the valid digests list; the others are skipped.
    """

    def __init__(self, source: Source, objects: list[SourceObject]) -> None:
        self._futures: dict[str, Future[Hashed | None]] = {o.uri: Future() for o in objects}
        self._needed: set[str] | None = None
        self._wanted_futures: set[Future[Hashed | None]] = set()
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(4 * _HASH_WORKERS)
        self._pool = ThreadPoolExecutor(_HASH_WORKERS, thread_name_prefix="custody-hash")
        self._feeder = threading.Thread(
            target=self._feed, args=(source, objects), name="custody-read", daemon=True
        )
        self._feeder.start()

    def _feed(self, source: Source, objects: list[SourceObject]) -> None:
        try:
            for obj, data in source.fetch(objects):
                if self._stop.is_set():
                    break
                self._slots.acquire()
                self._pool.submit(self._hash, self._futures[obj.uri], data)
        except BaseException as exc:  # noqa: BLE001 (handed to whoever waits for a result)
            for future in self._futures.values():
                if not future.done():
                    future.set_exception(exc)

    def _hash(self, future: Future[Hashed | None], data: bytes | ObjectError) -> None:
        try:
            wanted = self._needed is None or future in self._wanted_futures
            if isinstance(data, ObjectError):
                future.set_result(data)
            else:
                future.set_result(content_sha256(data) if wanted else None)
        except BaseException as exc:  # noqa: BLE001
            future.set_exception(exc)
        finally:
            self._slots.release()

    def need(self, uris: set[str]) -> None:
        """Only these files' hashes will be asked for; skip hashing the others."""
        self._wanted_futures = {self._futures[u] for u in uris if u in self._futures}
        self._needed = uris

    def result(self, uri: str) -> Hashed:
        """The hash of a listed file's content (waiting for it), or why it could not be read."""
        value = self._futures[uri].result()
        if value is None:  # pragma: no cover (only files `need` did not name are skipped)
            msg = f"{uri}: asked for a file `need` did not name"
            raise RuntimeError(msg)
        return value

    def close(self) -> None:
        """Stop reading, drop what has not started, wait for what has."""
        self._stop.set()
        self._feeder.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_files(
    source: Source,
    logs: dict[str, SourceObject],
    valid: dict[str, Digest],
    found: list[Found],
    base: str | None,
    report: VerifyReport,
    on_progress: Progress | None,
    hasher: Hasher,
) -> None:
    expected: dict[str, tuple[str, str, Digest]] = {}
    for path, digest in valid.items():
        for entry in digest.log_files:
            entry_path = logs_path(entry.key) or entry.key
            expected[entry_path] = (entry.hash_value, path, digest)
    unproven: dict[str, str] = {}
    for item in found:
        if item.digest is not None and item.path not in valid:
            for entry in item.digest.log_files:
                unproven.setdefault(logs_path(entry.key) or entry.key, item.path)
    hasher.need({logs[p].uri for p in expected if p in logs})
    # Listed files come from the background hasher; a file a digest lists that the listing did
    # not cover (a neighbouring day) is read here.
    direct = [_direct(base, p) for p in sorted(expected) if p not in logs]
    targets = [logs[p] for p in sorted(expected) if p in logs] + [t for t in direct if t]
    total = len(targets)
    listed_results = ((logs[p], hasher.result(logs[p].uri)) for p in sorted(expected) if p in logs)
    fetched = source.fetch(t for t in direct if t is not None)
    direct_results = _ordered_map(_hash_fetched, fetched, _HASH_WORKERS)
    results = chain(
        listed_results,
        (
            (obj, data if isinstance(data, ObjectError) else hashed)
            for (obj, data), hashed in direct_results
        ),
    )
    for done, (obj, outcome) in enumerate(results, start=1):
        path = logs_path(obj.uri) or obj.key
        recorded, digest_path, digest = expected[path]
        listed = path in logs
        if isinstance(outcome, ObjectError):
            missing = "no such" in outcome.reason.lower()
            status = FileStatus.MISSING if missing else FileStatus.UNREADABLE
            detail = "" if missing else outcome.reason
        else:
            actual, error = outcome
            ok = actual is not None and same_hash(recorded, actual)
            status = FileStatus.VALID if ok else FileStatus.MODIFIED
            detail = error or ("" if ok else f"SHA-256 {actual}, {digest_path} recorded {recorded}")
        report.files.append(_file_row(path, obj if listed else None, status, digest_path, digest))
        if detail:
            report.files[-1] = replace(report.files[-1], detail=detail)
        if on_progress is not None:
            on_progress(done, total)
    for path in sorted(set(expected) - {logs_path(t.uri) for t in targets if t is not None}):
        _, digest_path, digest = expected[path]
        report.files.append(_file_row(path, None, FileStatus.MISSING, digest_path, digest))
    for path, obj in sorted(logs.items()):
        if path in expected:
            continue
        if path in unproven:
            row = _file_row(path, obj, FileStatus.UNPROVEN, unproven[path], None)
            report.files.append(replace(row, detail=f"listed only in {unproven[path]}"))
        else:
            report.files.append(_file_row(path, obj, FileStatus.UNLISTED, None, None))


def _hash_fetched(
    fetched: tuple[SourceObject, bytes | ObjectError],
) -> tuple[str | None, str | None]:
    data = fetched[1]
    return (None, None) if isinstance(data, ObjectError) else content_sha256(data)


def _file_row(
    path: str,
    obj: SourceObject | None,
    status: FileStatus,
    digest_path: str | None,
    digest: Digest | None,
) -> FileCheck:
    info = obj.info if obj is not None else parse_key(path)
    return FileCheck(
        key=path,
        uri=obj.uri if obj is not None else None,
        account=info.account,
        region=info.region,
        status=status,
        digest=digest_path,
        hour_start=digest.start if digest else _name_time(path),
        hour_end=digest.end if digest else None,
        etag=obj.etag if obj is not None else None,
    )


def _name_time(path: str) -> str | None:
    """The time in a log file's name (``…_20240501T1235Z_…``), as ISO UTC."""
    for part in path.rsplit("/", 1)[-1].split("_"):
        if len(part) == 14 and part[8] == "T" and part.endswith("Z"):
            try:
                when = datetime.strptime(part, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
            except ValueError:
                continue
            return iso(when)
    return None


def _direct(base: str | None, path: str) -> SourceObject | None:
    """A listed-object record for a key the listing did not cover (outside the day range).

    Only a key in the CloudTrail log layout, without ``..``, is looked up: a digest's
    ``s3Object`` never leads a read outside the source (it is then reported missing).
    """
    info = parse_key(path)
    if base is None or info.kind != "events" or ".." in path.split("/"):
        return None
    return SourceObject(uri=base + path, key=path, size=0, etag="", info=info)
