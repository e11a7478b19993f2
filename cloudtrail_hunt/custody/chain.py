"""The digest half of the custody check: read the digests, establish and check their signatures.

Part of the chain-of-custody check (digest → keys → verify → report); `verify.verify_source`
runs it before the log files (`logfiles.py`). Walking from the newest digest to the oldest, each
digest found valid vouches for the one before it: its ``previousDigestSignature`` is that one's
signature and its ``previousDigestHashValue`` that one's SHA-256. On S3 every digest also has
its own signature in its metadata (``x-amz-meta-signature``), read with a HEAD request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

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
    Proof,
    VerifyReport,
)
from cloudtrail_hunt.errors import ObjectError
from cloudtrail_hunt.ingest._base import SourceObject, _ordered_map
from cloudtrail_hunt.ingest.decode import gunzip
from cloudtrail_hunt.ingest.layout import ListingRequest, parse_key
from cloudtrail_hunt.ingest.s3 import S3Source

if TYPE_CHECKING:
    from cloudtrail_hunt.ingest.sources import Source

__all__ = ["Found", "check_chains", "iso", "read_digests", "saved_but_absent"]

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(slots=True)
class Found:
    """One listed digest object and what reading it gave."""

    obj: SourceObject
    path: str
    name: DigestName
    digest: Digest | None = None
    error: str | None = None
    metadata_signature: str | None = None


def read_digests(source: Source, objects: list[tuple[SourceObject, str]]) -> list[Found]:
    found = []
    by_uri = {}
    for obj, path in objects:
        name = parse_digest_name(path)
        if name is None:
            continue  # not a digest name: nothing in it can claim to be one
        item = Found(obj, path, name)
        found.append(item)
        by_uri[obj.uri] = item
    for obj, data in source.fetch(item.obj for item in found):
        item = by_uri[obj.uri]
        if isinstance(data, ObjectError):
            item.error = data.reason
            continue
        raw, error = gunzip(data) if data[:2] == GZIP_MAGIC else (data, None)
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


def _metadata_signatures(source: S3Source, found: list[Found]) -> list[tuple[Found, str | None]]:
    """The ``x-amz-meta-signature`` of each digest object (HEAD requests, concurrent)."""
    from botocore.exceptions import BotoCoreError, ClientError

    def head(item: Found) -> str | None:
        bucket, _, key = item.obj.uri[len("s3://") :].partition("/")
        try:
            meta = source.client.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        except (BotoCoreError, ClientError):
            return None
        value = meta.get("signature")
        return value if isinstance(value, str) else None

    return list(_ordered_map(head, found, source.max_concurrency))


def check_chains(
    found: list[Found],
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
    item: Found,
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
    item: Found,
    digest: Digest,
    by_path: dict[str, Found],
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
            end=iso(name.end) if name else None,
            backfill=bool(name and name.backfill),
            status=DigestStatus.MISSING,
            proof=None,
            log_files=0,
            detail=f"previousDigestS3Object of {item.path}",
        )
    )


def _digest_row(item: Found, status: DigestStatus, proof: Proof | None, detail: str) -> DigestCheck:
    d = item.digest
    return DigestCheck(
        key=item.path,
        uri=item.obj.uri,
        account=item.name.account,
        region=item.name.region,
        trail=item.name.trail,
        start=d.start if d else None,
        end=d.end if d else iso(item.name.end),
        backfill=item.name.backfill,
        status=status,
        proof=proof if status == DigestStatus.VALID else None,
        log_files=len(d.log_files) if d else 0,
        detail=detail,
    )


def saved_but_absent(
    signatures: dict[str, str], found: list[Found], request: ListingRequest, report: VerifyReport
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
                end=iso(name.end),
                backfill=name.backfill,
                status=DigestStatus.MISSING,
                proof=None,
                log_files=0,
                detail="its signature was saved (--signatures) but the digest is not here",
            )
        )


def _restarts(found: list[Found], report: VerifyReport) -> None:
    """Starting digests that are not the first of their chain: validation was off between."""
    chains: dict[tuple[str, ...], list[Found]] = {}
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


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
