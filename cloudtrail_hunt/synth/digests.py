"""The trail's digest files, signed with a synthetic key, and what `verify` needs to check them.

Per account and region, one digest for each hour in which log files were delivered, listing
those files with the SHA-256 of their uncompressed content, chained and signed as CloudTrail
does (`cloudtrail_hunt.custody.signer`). CloudTrail also delivers a digest for every hour
without deliveries; the sample leaves those out to stay small, and the chain still links each
digest to the one before it. Beside the logs, ``side_inputs/`` gets:

* ``cloudtrail-public-keys.json``: the public key as ``aws cloudtrail list-public-keys`` prints
  it (a SYNTHETIC key derived from the seed; not CloudTrail's);
* ``cloudtrail-digest-signatures.json``: the ``x-amz-meta-signature`` of each chain's newest
  digest, as a responder saves it before copying a bucket (a local copy loses object metadata).
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cloudtrail_hunt.custody.signer import (
    DigestChainWriter,
    list_public_keys_document,
    synthetic_key,
)

if TYPE_CHECKING:
    from cloudtrail_hunt.synth.identities import Org

__all__ = ["KEYS_FILE", "SIGNATURES_FILE", "write_digests"]

KEYS_FILE = "cloudtrail-public-keys.json"
SIGNATURES_FILE = "cloudtrail-digest-signatures.json"

#: (key, sha256 of the uncompressed file, oldest event, newest event, delivery epoch)
Delivered = tuple[str, str, str, str, int]


def write_digests(
    out: Path,
    org: Org,
    delivered: list[Delivered],
    *,
    seed: int,
    trail: str,
    home_region: str,
) -> int:
    """Write the digests of every delivered log file under `out`; return how many."""
    if not delivered:
        return 0
    key = synthetic_key(f"synth/{seed}")
    streams: dict[tuple[str, str], dict[int, list[Delivered]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for item in delivered:
        parts = item[0].split("/")  # AWSLogs/<org>/<account>/CloudTrail/<region>/...
        streams[(parts[2], parts[4])][item[4] - item[4] % 3600].append(item)
    newest = []
    count = 0
    for (account, region), hours in sorted(streams.items()):
        writer = DigestChainWriter(
            key,
            bucket=org.trail_bucket,
            logs_root=f"AWSLogs/{org.org_id}/{account}",
            region=region,
            trail=trail,
            home_region=home_region,
        )
        for hour, files in sorted(hours.items()):
            start = datetime.fromtimestamp(hour, UTC)
            entries = [
                {
                    "s3Object": f[0],
                    "hashValue": f[1],
                    "oldestEventTime": f[2],
                    "newestEventTime": f[3],
                }
                for f in sorted(files)
            ]
            signed = writer.add(start, start + timedelta(hours=1), entries)
            path = out / signed.key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(signed.raw, compresslevel=6, mtime=0))
            count += 1
        newest.append(
            {"s3Bucket": org.trail_bucket, "s3Object": signed.key, "signature": signed.signature}
        )
    first = min(item[4] for item in delivered)
    valid_from = datetime.fromtimestamp(first - first % 86400, UTC) - timedelta(days=1)
    valid_until = datetime.fromtimestamp(max(item[4] for item in delivered), UTC)
    document = list_public_keys_document([(key, valid_from, valid_until + timedelta(days=30))])
    side = out / "side_inputs"
    side.mkdir(parents=True, exist_ok=True)
    (side / KEYS_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    signatures = {"signatures": newest}
    (side / SIGNATURES_FILE).write_text(json.dumps(signatures, indent=2) + "\n", encoding="utf-8")
    return count
