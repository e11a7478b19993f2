"""The log-file half of the custody check: hash every listed file and compare, find the unlisted.

Part of the chain-of-custody check (digest → keys → verify → report); `verify.verify_source`
runs it after the digests (`chain.py`). CloudTrail records the SHA-256 of each log file's
uncompressed content; inflating and hashing release the GIL, so a thread pool uses every core.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
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


def check_files(
    source: Source,
    logs: dict[str, SourceObject],
    valid: dict[str, Digest],
    found: list[Found],
    base: str | None,
    report: VerifyReport,
    on_progress: Progress | None,
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
    targets = [logs.get(path) or _direct(base, path) for path in sorted(expected)]
    total = len(targets)
    fetched = source.fetch(t for t in targets if t is not None)
    # Inflating and hashing release the GIL: threads use every core, results stay in order.
    hashed = _ordered_map(_hash_fetched, fetched, _HASH_WORKERS)
    for done, ((obj, data), (actual, error)) in enumerate(hashed, start=1):
        path = logs_path(obj.uri) or obj.key
        recorded, digest_path, digest = expected[path]
        listed = path in logs
        if isinstance(data, ObjectError):
            missing = "no such" in data.reason.lower()
            status = FileStatus.MISSING if missing else FileStatus.UNREADABLE
            detail = "" if missing else data.reason
        else:
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
