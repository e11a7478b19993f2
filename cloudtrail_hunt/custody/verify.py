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

import json
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cloudtrail_hunt.custody.chain import check_chains, read_digests, saved_but_absent
from cloudtrail_hunt.custody.digest import logs_path
from cloudtrail_hunt.custody.logfiles import Hasher, Progress, check_files, content_sha256
from cloudtrail_hunt.custody.report import VerifyReport
from cloudtrail_hunt.errors import ConfigError
from cloudtrail_hunt.ingest.layout import ListingRequest

if TYPE_CHECKING:
    from cloudtrail_hunt.custody.keys import PublicKey
    from cloudtrail_hunt.ingest.sources import Source

__all__ = ["content_sha256", "load_signatures", "verify_source"]


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
    range_end = datetime.combine(spill, datetime.min.time(), UTC) if spill else None
    report = VerifyReport(source=source.root)
    # Log files are read and hashed in the background while the digests are checked.
    with Hasher(source, [logs[p] for p in sorted(logs)]) as hasher:
        found = read_digests(source, digest_objects)
        valid = check_chains(found, keys, signatures or {}, start, range_end, report)
        request = ListingRequest.build(start=start, end=spill, accounts=accounts, regions=regions)
        saved_but_absent(signatures or {}, found, request, report)
        check_files(source, logs, valid, found, base, report, on_progress, hasher)
    return report
