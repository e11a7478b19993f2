"""Build small CloudTrail trails with signed digests for the custody tests (and tamper with them).

A trail here is log files under ``AWSLogs/[o-org/]<account>/CloudTrail/<region>/…`` and, per
account and region, one digest an hour chained the way CloudTrail chains them, signed with a
synthetic key. Beside the logs: ``side_inputs/cloudtrail-public-keys.json`` (what
``aws cloudtrail list-public-keys`` prints) and ``side_inputs/cloudtrail-digest-signatures.json``
(the newest digest's ``x-amz-meta-signature`` of each stream, saved as AWS advises for offline
checks), which `verify` finds the way `hunt` finds ``org.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloudtrail_hunt.custody.signer import (
    DigestChainWriter,
    list_public_keys_document,
    synthetic_key,
)

ORG = "o-testorg123"
BUCKET = "test-trail-bucket"
START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
TRAIL = "org-trail"
HOME = "us-east-1"


@dataclass
class Trail:
    root: Path
    logs: list[str] = field(default_factory=list)  # AWSLogs/... paths of log files
    digests: list[str] = field(default_factory=list)  # AWSLogs/... paths, oldest first per stream
    signatures: dict[str, str] = field(default_factory=dict)  # every digest's signature
    hour_of: dict[str, tuple[str, str]] = field(default_factory=dict)  # log path -> digest hour

    @property
    def keys_file(self) -> Path:
        return self.root / "side_inputs" / "cloudtrail-public-keys.json"

    @property
    def signatures_file(self) -> Path:
        return self.root / "side_inputs" / "cloudtrail-digest-signatures.json"


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_trail(
    root: Path,
    *,
    org: bool = True,
    accounts: tuple[str, ...] = ("111111111111", "022222222222"),
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
    hours: int = 4,
    files_per_hour: int = 2,
    seed: str = "tests",
    start: datetime = START,
) -> Trail:
    """Write a trail under `root` whose digests all verify; return what was written."""
    key = synthetic_key(seed)
    trail = Trail(root)
    newest: list[dict[str, str]] = []
    for account in accounts:
        logs_root = f"AWSLogs/{ORG}/{account}" if org else f"AWSLogs/{account}"
        for region in regions:
            writer = DigestChainWriter(
                key,
                bucket=BUCKET,
                logs_root=logs_root,
                region=region,
                trail=TRAIL,
                home_region=HOME,
            )
            for h in range(hours):
                lo = start + timedelta(hours=h, minutes=7)
                hi = lo + timedelta(hours=1)
                entries = []
                for i in range(files_per_hour):
                    t = lo + timedelta(minutes=5 + 20 * i)
                    stamp = f"{t:%Y%m%dT%H%M}Z"
                    name = f"{account}_CloudTrail_{region}_{stamp}_{h:04d}{i:04d}abcdefgh.json.gz"
                    path = f"{logs_root}/CloudTrail/{region}/{t:%Y/%m/%d}/{name}"
                    record = {
                        "eventVersion": "1.09",
                        "eventTime": _iso(t - timedelta(minutes=3)),
                        "eventSource": "iam.amazonaws.com",
                        "eventName": "ListUsers",
                        "userIdentity": {
                            "type": "IAMUser",
                            "arn": f"arn:aws:iam::{account}:user/auditor",
                        },
                        "awsRegion": region,
                        "recipientAccountId": account,
                        "eventID": f"{account}-{region}-{h}-{i}",
                    }
                    raw = json.dumps({"Records": [record]}).encode()
                    target = root / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(gzip.compress(raw, mtime=0))
                    entries.append(
                        {
                            "s3Object": path,
                            "hashValue": hashlib.sha256(raw).hexdigest(),
                            "oldestEventTime": record["eventTime"],
                            "newestEventTime": record["eventTime"],
                        }
                    )
                    trail.logs.append(path)
                    trail.hour_of[path] = (_iso(lo), _iso(hi))
                signed = writer.add(lo, hi, entries)
                target = root / signed.key
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(gzip.compress(signed.raw, mtime=0))
                trail.digests.append(signed.key)
                trail.signatures[signed.key] = signed.signature
            newest.append(
                {"s3Bucket": BUCKET, "s3Object": signed.key, "signature": signed.signature}
            )
    side = root / "side_inputs"
    side.mkdir(parents=True, exist_ok=True)
    far = (start - timedelta(days=30), start + timedelta(days=30))
    trail.keys_file.write_text(json.dumps(list_public_keys_document([(key, *far)]), indent=2))
    trail.signatures_file.write_text(json.dumps({"signatures": newest}, indent=2))
    return trail
