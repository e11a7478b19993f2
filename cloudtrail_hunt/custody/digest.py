"""CloudTrail digest files: parse one, name its chain, and rebuild the string CloudTrail signs.

Part of the chain-of-custody check (digest → keys → verify → report). A digest file is gzipped
JSON that CloudTrail delivers hourly per account and region under ``CloudTrail-Digest/``; it
lists the log files delivered in its hour with the SHA-256 of each file's *uncompressed*
content, and carries the signature of the digest before it. Its own signature is in the S3
object metadata (``x-amz-meta-signature``). Facts used here, from
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html
and
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-custom-validation.html:

* the signed data is ``digestEndTime + "\\n" + digestS3Bucket + "/" + digestS3Object + "\\n" +
  hex(SHA-256(uncompressed digest file)) + "\\n" + previousDigestSignature`` (the literal
  ``null`` in a starting digest, whose ``previous…`` fields are all null), signed with
  SHA256withRSA (PKCS #1 v1.5);
* the digest object key ends ``<account>_CloudTrail-Digest_<region>_<trail>_<home region>_
  <end, YYYYMMDDTHHMMSSZ>.json.gz``, with ``_backfill`` before ``.json.gz`` for a backfill digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudtrail_hunt.ingest.layout import LOGS_FOLDER

__all__ = [
    "Digest",
    "DigestFormatError",
    "DigestName",
    "LogFileEntry",
    "logs_path",
    "parse_digest",
    "parse_digest_name",
    "parse_time",
    "same_hash",
    "string_to_sign",
]

_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(
    r"(?P<account>[0-9]{12})_CloudTrail-Digest_(?P<region>[a-z0-9-]+)_(?P<trail>.+)_"
    r"(?P<home>[a-z]{2}(?:-[a-z0-9]+)+)_(?P<stamp>[0-9]{8}T[0-9]{6}Z)(?P<backfill>_backfill)?"
    r"\.json\.gz\Z"
)
#: The fields a digest needs before it can be checked (the AWS CLI's validate-logs asks the same).
_REQUIRED = (
    "digestStartTime",
    "digestEndTime",
    "digestS3Bucket",
    "digestS3Object",
    "digestPublicKeyFingerprint",
    "previousDigestSignature",
    "logFiles",
)


class DigestFormatError(ValueError):
    """Raised by `parse_digest` when the bytes are not a CloudTrail digest file."""


@dataclass(frozen=True, slots=True)
class DigestName:
    """What a digest object's file name says: its chain (account, region, trail, home region),
    its end time and whether it is a backfill digest."""

    account: str
    region: str
    trail: str
    home_region: str
    end: datetime
    backfill: bool

    @property
    def chain(self) -> tuple[str, str, str, str]:
        """The chain this digest belongs to: one per trail, account and region."""
        return (self.account, self.region, self.trail, self.home_region)


def parse_digest_name(key: str) -> DigestName | None:
    """Parse the file name of a digest object key; None if it is not a digest name.

    Examples
    --------
    >>> n = parse_digest_name(
    ...     "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/"
    ...     "111122223333_CloudTrail-Digest_us-east-2_my_trail_us-east-2_20150817T150131Z.json.gz"
    ... )
    >>> (n.account, n.region, n.trail, n.home_region, n.end.isoformat(), n.backfill)
    ('111122223333', 'us-east-2', 'my_trail', 'us-east-2', '2015-08-17T15:01:31+00:00', False)
    """
    m = _NAME.match(key.rsplit("/", 1)[-1])
    if m is None:
        return None
    end = datetime.strptime(m["stamp"], _STAMP).replace(tzinfo=UTC)
    return DigestName(
        m["account"], m["region"], m["trail"], m["home"], end, m["backfill"] is not None
    )


def logs_path(key: str) -> str | None:
    """The part of a key or path from its ``AWSLogs/`` segment on; None if it has none.

    Digest files name objects by their S3 key (with the trail's prefix); a local copy or another
    bucket has them under another root. The path from ``AWSLogs/`` on is what both share.

    Examples
    --------
    >>> logs_path("s3://b/prefix/AWSLogs/o-abc123defg/012345678901/CloudTrail/x.json.gz")
    'AWSLogs/o-abc123defg/012345678901/CloudTrail/x.json.gz'
    >>> logs_path("notes/readme.txt") is None
    True
    """
    parts = key.split("/")
    if LOGS_FOLDER not in parts:
        return None
    # The last AWSLogs segment: a prefix may itself contain one, the layout below it never does.
    at = len(parts) - 1 - parts[::-1].index(LOGS_FOLDER)
    return "/".join(parts[at:])


def parse_time(text: str | None) -> datetime | None:
    """Parse a CloudTrail UTC timestamp (``2015-08-17T14:01:31Z``); None for None or junk."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def same_hash(expected: str | None, actual: str) -> bool:
    """Compare hex hashes, ignoring case and leading zeros.

    CloudTrail writes some hashes without their leading zeros (the shared corpus's real digest
    has a 63-digit ``previousDigestHashValue``), as a number printed in hex would be; the value
    is the same 256-bit number, so the comparison is exact on the number.

    Examples
    --------
    >>> same_hash("0abc", "abc"), same_hash("ABC", "abc"), same_hash("abd", "abc")
    (True, True, False)
    """
    if not isinstance(expected, str):
        return False
    return expected.lower().lstrip("0") == actual.lower().lstrip("0")


@dataclass(frozen=True, slots=True)
class LogFileEntry:
    """One entry of a digest's ``logFiles``: a log file delivered in the digest's hour."""

    bucket: str
    key: str
    hash_value: str
    hash_algorithm: str
    oldest: str | None
    newest: str | None


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed digest file; ``sha256`` is the hash of its uncompressed bytes."""

    account: str | None
    start: str
    end: str
    bucket: str
    key: str
    fingerprint: str
    algorithm: str | None
    oldest: str | None
    newest: str | None
    previous_bucket: str | None
    previous_key: str | None
    previous_hash: str | None
    previous_hash_algorithm: str | None
    previous_signature: str | None
    log_files: tuple[LogFileEntry, ...]
    sha256: str

    @property
    def start_time(self) -> datetime | None:
        return parse_time(self.start)

    @property
    def end_time(self) -> datetime | None:
        return parse_time(self.end)

    @property
    def is_start(self) -> bool:
        """A starting digest (validation started or restarted): it points at no previous one."""
        return self.previous_key is None


def _str(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    return value if isinstance(value, str) else None


def _entry(item: object) -> LogFileEntry:
    if not isinstance(item, dict):
        msg = "a logFiles entry is not an object"
        raise DigestFormatError(msg)
    bucket, key, value = item.get("s3Bucket"), item.get("s3Object"), item.get("hashValue")
    if not (isinstance(bucket, str) and isinstance(key, str) and isinstance(value, str)):
        msg = "a logFiles entry lacks s3Bucket, s3Object or hashValue"
        raise DigestFormatError(msg)
    return LogFileEntry(
        bucket=bucket,
        key=key,
        hash_value=value,
        hash_algorithm=_str(item, "hashAlgorithm") or "SHA-256",
        oldest=_str(item, "oldestEventTime"),
        newest=_str(item, "newestEventTime"),
    )


def parse_digest(raw: bytes) -> Digest:
    """Parse the uncompressed bytes of a digest file.

    Raises
    ------
    DigestFormatError
        Not JSON, not an object, or a required field missing or of the wrong type.
    """
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        msg = f"not JSON ({exc})"
        raise DigestFormatError(msg) from None
    if not isinstance(doc, dict):
        msg = "not a JSON object"
        raise DigestFormatError(msg)
    missing = [name for name in _REQUIRED if name not in doc]
    if missing:
        msg = "missing " + ", ".join(missing)
        raise DigestFormatError(msg)
    texts = {n: doc[n] for n in _REQUIRED[:5]}
    bad = [n for n, v in texts.items() if not isinstance(v, str)]
    if bad or parse_time(doc["digestEndTime"]) is None:
        msg = "not a string: " + ", ".join(bad) if bad else "digestEndTime is not a UTC time"
        raise DigestFormatError(msg)
    previous_signature = doc["previousDigestSignature"]
    if previous_signature is not None and not isinstance(previous_signature, str):
        msg = "previousDigestSignature is neither a string nor null"
        raise DigestFormatError(msg)
    files = doc["logFiles"]
    if not isinstance(files, list):
        msg = "logFiles is not a list"
        raise DigestFormatError(msg)
    return Digest(
        account=_str(doc, "awsAccountId"),
        start=doc["digestStartTime"],
        end=doc["digestEndTime"],
        bucket=doc["digestS3Bucket"],
        key=doc["digestS3Object"],
        fingerprint=doc["digestPublicKeyFingerprint"],
        algorithm=_str(doc, "digestSignatureAlgorithm"),
        oldest=_str(doc, "oldestEventTime"),
        newest=_str(doc, "newestEventTime"),
        previous_bucket=_str(doc, "previousDigestS3Bucket"),
        previous_key=_str(doc, "previousDigestS3Object"),
        previous_hash=_str(doc, "previousDigestHashValue"),
        previous_hash_algorithm=_str(doc, "previousDigestHashAlgorithm"),
        previous_signature=previous_signature,
        log_files=tuple(_entry(item) for item in files),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def string_to_sign(digest: Digest) -> bytes:
    """The data CloudTrail signs for `digest` (see the module docstring).

    Examples
    --------
    >>> d = parse_digest(b'{"digestStartTime": "2015-08-12T03:01:31Z", '
    ...     b'"digestEndTime": "2015-08-12T04:01:31Z", "digestS3Bucket": "b", '
    ...     b'"digestS3Object": "k", "digestPublicKeyFingerprint": "f", '
    ...     b'"previousDigestSignature": null, "logFiles": []}')
    >>> string_to_sign(d).decode().split("\\n")[::3]
    ['2015-08-12T04:01:31Z', 'null']
    """
    previous = "null" if digest.previous_signature is None else digest.previous_signature
    text = f"{digest.end}\n{digest.bucket}/{digest.key}\n{digest.sha256}\n{previous}"
    return text.encode("utf-8")
