"""Verify a CloudTrail source against its digest files, offline: signatures, chain, file hashes.

Part of the chain-of-custody check (digest → keys → **verify** → report). The steps follow
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-custom-validation.html:

1. list the ``CloudTrail-Digest/`` and ``CloudTrail/`` objects of the source (one day more of
   digests than asked, since a day's last deliveries are digested after midnight);
2. per digest, establish its signature: the S3 metadata (``x-amz-meta-signature``) when the
   source is S3, a saved signature (``--signatures``), or else the ``previousDigestSignature``
   of the next digest once that one is proven; walking from the newest digest to the oldest
   makes every proven digest prove the one before it;
3. check it: in place (``digestS3Object`` is where it was found), content as the next digest
   recorded (``previousDigestHashValue``), a known key (``digestPublicKeyFingerprint``) valid at
   its time, and the SHA256withRSA signature over `string_to_sign`;
4. hash every log file a valid digest lists (SHA-256 of the uncompressed content) and compare;
5. report files in the source listed by no digest, and digests a valid digest points at that
   are not there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from isal import isal_zlib

from cloudtrail_hunt.custody.digest import (
    Digest,
    DigestFormatError,
    DigestName,
    logs_path,
    parse_digest,
    parse_digest_name,
    same_hash,
    string_to_sign,
)
from cloudtrail_hunt.custody.keys import PublicKey, verify_signature
from cloudtrail_hunt.custody.report import (
    ChainGap,
    DigestCheck,
    DigestStatus,
    FileCheck,
    FileStatus,
    Proof,
    VerifyReport,
)
from cloudtrail_hunt.errors import ConfigError, ObjectError
from cloudtrail_hunt.ingest._base import SourceObject, _ordered_map
from cloudtrail_hunt.ingest.decode import gunzip
from cloudtrail_hunt.ingest.layout import ListingRequest, parse_key
from cloudtrail_hunt.ingest.s3 import S3Source

if TYPE_CHECKING:
    from cloudtrail_hunt.ingest.sources import Source

__all__ = ["content_sha256", "load_signatures", "verify_source"]

Progress = Callable[[int, int], None]
#: Threads that inflate and hash log files (both release the GIL).
_HASH_WORKERS = max(2, min(8, os.cpu_count() or 2))
_GZIP_MAGIC = b"\x1f\x8b"


def content_sha256(data: bytes) -> tuple[str | None, str | None]:
    """SHA-256 (hex) of a log file's uncompressed content, and why it could not be computed.

    CloudTrail hashes the uncompressed file, so a copy someone gunzipped still verifies; bytes
    that are not gzip are hashed as they are.
    """
    if data[:2] != _GZIP_MAGIC:
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


def load_signatures(paths: Iterable[str | Path]) -> dict[str, str]:
    """Read saved digest signatures: JSON ``[{"s3Object": …, "signature": …}, …]`` (or under a
    ``"signatures"`` key); returned by the digest's path from ``AWSLogs/`` on."""
    found: dict[str, str] = {}
    for path in paths:
        where = str(path)
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot read the signatures: {exc}"
            raise ConfigError(key=where, reason=msg) from None
        entries = doc.get("signatures") if isinstance(doc, dict) else doc
        if not isinstance(entries, list):
            msg = "not a list of {s3Object, signature} entries"
            raise ConfigError(key=where, reason=msg)
        for i, item in enumerate(entries):
            key = item.get("s3Object") if isinstance(item, dict) else None
            sig = item.get("signature") if isinstance(item, dict) else None
            if not isinstance(key, str) or not isinstance(sig, str) or logs_path(key) is None:
                msg = f"entry {i} lacks s3Object (an AWSLogs/… key) or signature"
                raise ConfigError(key=where, reason=msg)
            found[logs_path(key) or key] = sig
    return found


@dataclass(slots=True)
class _Found:
    """One listed digest object and what reading it gave."""

    obj: SourceObject
    path: str
    name: DigestName
    digest: Digest | None = None
    error: str | None = None
    metadata_signature: str | None = None


def verify_source(
    source: Source,
    keys: dict[str, PublicKey],
    *,
    start: date | None = None,
    end: date | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    signatures: dict[str, str] | None = None,
    on_progress: Progress | None = None,
) -> VerifyReport:
    """Check every digest and log file of `source` in the day range; see the module docstring.

    Parameters
    ----------
    source
        An opened source (`cloudtrail_hunt.ingest.sources.open_source`).
    keys
        CloudTrail public keys by fingerprint (`load_public_keys`, `fetch_public_keys`).
    start, end
        Delivery days to check (inclusive; None = open).
    accounts, regions
        Only these (None = all).
    signatures
        Saved signatures of digests by their path from ``AWSLogs/`` on (`load_signatures`).
    on_progress
        Called with (files done, files to hash) while log files are hashed.
    """
    spill = end + timedelta(days=1) if end is not None else None
    listed = list(
        source.list_objects(
            start=start, end=spill, accounts=accounts, regions=regions, kinds=["events", "digest"]
        )
    )
    logs = {}
    digest_objects = []
    for obj in listed:
        path = logs_path(obj.uri)
        if path is None:
            continue
        if obj.info.kind == "digest":
            digest_objects.append((obj, path))
        elif obj.info.kind == "events" and (end is None or (obj.info.day or end) <= end):
            logs[path] = obj
    base = next((obj.uri[: len(obj.uri) - len(path)] for obj, path in digest_objects), None)
    base = next((obj.uri[: len(obj.uri) - len(path)] for path, obj in logs.items()), base)
    found = _read_digests(source, digest_objects)
    range_end = datetime.combine(spill, datetime.min.time(), UTC) if spill else None
    report = VerifyReport(source=source.root)
    valid = _check_chains(found, keys, signatures or {}, start, range_end, report)
    request = ListingRequest.build(start=start, end=spill, accounts=accounts, regions=regions)
    _saved_but_absent(signatures or {}, found, request, report)
    _check_files(source, logs, valid, found, base, report, on_progress)
    return report


# --------------------------------------------------------------------------------------------
# Digests
# --------------------------------------------------------------------------------------------


def _read_digests(source: Source, objects: list[tuple[SourceObject, str]]) -> list[_Found]:
    found = []
    by_uri = {}
    for obj, path in objects:
        name = parse_digest_name(path)
        if name is None:
            continue  # not a digest name: nothing in it can claim to be one
        item = _Found(obj, path, name)
        found.append(item)
        by_uri[obj.uri] = item
    for obj, data in source.fetch(item.obj for item in found):
        item = by_uri[obj.uri]
        if isinstance(data, ObjectError):
            item.error = data.reason
            continue
        raw, error = gunzip(data) if data[:2] == _GZIP_MAGIC else (data, None)
        if error is not None:
            item.error = error
            continue
        try:
            item.digest = parse_digest(raw)
        except DigestFormatError as exc:
            item.error = f"not a digest file: {exc}"
    if isinstance(source, S3Source):
        for item, signature in _metadata_signatures(source, found):
            item.metadata_signature = signature
    return found


def _metadata_signatures(source: S3Source, found: list[_Found]) -> list[tuple[_Found, str | None]]:
    """The ``x-amz-meta-signature`` of each digest object (HEAD requests, concurrent)."""
    from botocore.exceptions import BotoCoreError, ClientError

    def head(item: _Found) -> str | None:
        bucket, _, key = item.obj.uri[len("s3://") :].partition("/")
        try:
            meta = source.client.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        except (BotoCoreError, ClientError):
            return None
        value = meta.get("signature")
        return value if isinstance(value, str) else None

    return list(_ordered_map(head, found, source.max_concurrency))


def _check_chains(
    found: list[_Found],
    keys: dict[str, PublicKey],
    signatures: dict[str, str],
    start: date | None,
    range_end: datetime | None,
    report: VerifyReport,
) -> dict[str, Digest]:
    """Judge every digest, newest first; return the valid ones in the range by path."""
    by_path = {item.path: item for item in found}
    known: dict[str, tuple[str, Proof]] = {}
    expected_hash: dict[str, tuple[str, str]] = {}
    for item in found:
        if item.metadata_signature:
            known[item.path] = (item.metadata_signature, Proof.METADATA)
        elif item.path in signatures:
            known[item.path] = (signatures[item.path], Proof.SIGNATURE_FILE)
    valid: dict[str, Digest] = {}
    first_day = datetime.combine(start, datetime.min.time(), UTC) if start else None
    for item in sorted(found, key=lambda i: (i.name.end, i.path), reverse=True):
        status, proof, detail = _judge(item, keys, known, expected_hash)
        digest = item.digest
        # Digests after the range only lend their proofs to the range's last digests.
        in_range = range_end is None or item.name.end - timedelta(hours=1) < range_end
        if status == DigestStatus.VALID and digest is not None:
            if in_range:
                valid[item.path] = digest
            _follow(item, digest, by_path, known, expected_hash, first_day, report)
        if in_range:
            report.digests.append(_digest_row(item, status, proof, detail))
    _restarts(found, report)
    return valid


def _judge(
    item: _Found,
    keys: dict[str, PublicKey],
    known: dict[str, tuple[str, Proof]],
    expected_hash: dict[str, tuple[str, str]],
) -> tuple[DigestStatus, Proof | None, str]:
    digest = item.digest
    if digest is None:
        error = item.error or "unreadable"
        malformed = not error.startswith("cannot") and "no such" not in error.lower()
        status = DigestStatus.MALFORMED if malformed else DigestStatus.UNREADABLE
        return status, None, error
    if logs_path(digest.key) != item.path:
        return DigestStatus.MOVED, None, f"its digestS3Object is {digest.key}"
    if item.path in expected_hash:
        recorded, by = expected_hash[item.path]
        if not same_hash(recorded, digest.sha256):
            return DigestStatus.MODIFIED, None, f"not the content {by} recorded"
    key = keys.get(digest.fingerprint.lower())
    if key is None:
        return DigestStatus.UNKNOWN_KEY, None, f"no public key {digest.fingerprint}"
    if not key.valid_at(digest.end_time):
        return DigestStatus.UNKNOWN_KEY, None, f"key {key.fingerprint} not valid at {digest.end}"
    signature = known.get(item.path)
    if signature is None:
        return DigestStatus.UNPROVEN, None, "no signature: no metadata and no proven next digest"
    sig, proof = signature
    if not verify_signature(key, string_to_sign(digest), sig):
        return DigestStatus.BAD_SIGNATURE, proof, f"signature from {proof} does not verify"
    return DigestStatus.VALID, proof, ""


def _follow(
    item: _Found,
    digest: Digest,
    by_path: dict[str, _Found],
    known: dict[str, tuple[str, Proof]],
    expected_hash: dict[str, tuple[str, str]],
    first_day: datetime | None,
    report: VerifyReport,
) -> None:
    """A valid digest vouches for the one before it: its signature and its content hash."""
    if digest.previous_key is None:
        return
    previous = logs_path(digest.previous_key) or digest.previous_key
    if digest.previous_signature:
        known.setdefault(previous, (digest.previous_signature, Proof.CHAIN))
    if digest.previous_hash:
        expected_hash[previous] = (digest.previous_hash, item.path)
    if previous in by_path:
        return
    name = parse_digest_name(previous)
    if name is not None and first_day is not None and name.end < first_day:
        return  # before the range: not listed, not missing
    report.digests.append(
        DigestCheck(
            key=previous,
            uri=None,
            account=item.name.account,
            region=item.name.region,
            trail=item.name.trail,
            start=None,
            end=_iso(name.end) if name else None,
            backfill=bool(name and name.backfill),
            status=DigestStatus.MISSING,
            proof=None,
            log_files=0,
            detail=f"previousDigestS3Object of {item.path}",
        )
    )


def _digest_row(
    item: _Found, status: DigestStatus, proof: Proof | None, detail: str
) -> DigestCheck:
    d = item.digest
    return DigestCheck(
        key=item.path,
        uri=item.obj.uri,
        account=item.name.account,
        region=item.name.region,
        trail=item.name.trail,
        start=d.start if d else None,
        end=d.end if d else _iso(item.name.end),
        backfill=item.name.backfill,
        status=status,
        proof=proof if status == DigestStatus.VALID else None,
        log_files=len(d.log_files) if d else 0,
        detail=detail,
    )


def _saved_but_absent(
    signatures: dict[str, str], found: list[_Found], request: ListingRequest, report: VerifyReport
) -> None:
    """A digest whose signature was saved from S3 but which is not in the source is missing."""
    present = {item.path for item in found} | {d.key for d in report.digests}
    for path in sorted(set(signatures) - present):
        name = parse_digest_name(path)
        if name is None or not request.matches(parse_key(path)):
            continue
        report.digests.append(
            DigestCheck(
                key=path,
                uri=None,
                account=name.account,
                region=name.region,
                trail=name.trail,
                start=None,
                end=_iso(name.end),
                backfill=name.backfill,
                status=DigestStatus.MISSING,
                proof=None,
                log_files=0,
                detail="its signature was saved (--signatures) but the digest is not here",
            )
        )


def _restarts(found: list[_Found], report: VerifyReport) -> None:
    """Starting digests that are not the first of their chain: validation was off between."""
    chains: dict[tuple[str, ...], list[_Found]] = {}
    for item in found:
        if item.digest is not None and not item.name.backfill:
            chains.setdefault(item.name.chain, []).append(item)
    for items in chains.values():
        items.sort(key=lambda i: i.name.end)
        for before, after in zip(items, items[1:], strict=False):
            if after.digest is not None and after.digest.is_start:
                account, region, trail, _ = after.name.chain
                before_end = before.digest.end if before.digest else None
                report.gaps.append(ChainGap(account, region, trail, before_end, after.digest.start))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Log files
# --------------------------------------------------------------------------------------------


def _check_files(
    source: Source,
    logs: dict[str, SourceObject],
    valid: dict[str, Digest],
    found: list[_Found],
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
            return _iso(when)
    return None


def _direct(base: str | None, path: str) -> SourceObject | None:
    """A listed-object record for a key the listing did not cover (outside the day range)."""
    if base is None:
        return None
    uri = base + path
    return SourceObject(uri=uri, key=path, size=0, etag="", info=parse_key(path))
