"""What a custody check found: one row per digest and per log file, gaps, and per-stream totals.

Part of the chain-of-custody check (digest → keys → verify → **report**). Plain data: the CLI
renders it as a table or JSON, `custody.lake` stores it as a Delta table. Statuses are closed
sets (`DigestStatus`, `FileStatus`); everything but ``valid`` makes the check fail.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ChainGap",
    "DigestCheck",
    "DigestStatus",
    "FileCheck",
    "FileStatus",
    "Proof",
    "VerifyReport",
]


class DigestStatus(StrEnum):
    """What the check concluded about one digest file."""

    VALID = "valid"  # signature verified with a CloudTrail key, content as signed
    BAD_SIGNATURE = "bad-signature"  # the signature does not verify with the named key
    UNKNOWN_KEY = "unknown-key"  # no public key with its fingerprint (or not valid then)
    MODIFIED = "modified"  # does not hash to what the next (valid) digest recorded for it
    MOVED = "moved"  # found at another place than its digestS3Object (renamed, swapped)
    MALFORMED = "malformed"  # not a gzipped digest JSON document
    UNPROVEN = "unproven"  # no signature available (newest digest of a local copy)
    MISSING = "missing"  # a valid digest points at it and it is not in the source
    UNREADABLE = "unreadable"  # could not be fetched


class FileStatus(StrEnum):
    """What the check concluded about one log file."""

    VALID = "valid"  # listed in a valid digest, SHA-256 of its content matches
    MODIFIED = "modified"  # listed in a valid digest, content differs
    MISSING = "missing"  # listed in a valid digest, not in the source
    UNLISTED = "unlisted"  # in the source, listed in no digest at all
    UNPROVEN = "unproven"  # listed only in digests that are not valid
    UNREADABLE = "unreadable"  # listed in a valid digest, could not be fetched


class Proof(StrEnum):
    """Where the signature that proved a digest came from."""

    METADATA = "metadata"  # the digest object's S3 metadata, x-amz-meta-signature
    CHAIN = "chain"  # previousDigestSignature of the next digest, itself proven
    SIGNATURE_FILE = "signature-file"  # a signature saved from the metadata (--signatures)


@dataclass(frozen=True, slots=True)
class DigestCheck:
    """One digest file: where, which stream, the hour it covers, the verdict and its proof.

    ``key`` is the path from ``AWSLogs/`` on; ``start`` and ``end`` are the digest's own times
    (for a missing digest, ``end`` comes from its name and ``start`` is unknown).
    """

    key: str
    uri: str | None
    account: str
    region: str
    trail: str
    start: str | None
    end: str | None
    backfill: bool
    status: DigestStatus
    proof: Proof | None
    log_files: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FileCheck:
    """One log file: its verdict and the digest (and hour) that listed it."""

    key: str
    uri: str | None
    account: str | None
    region: str | None
    status: FileStatus
    digest: str | None
    hour_start: str | None
    hour_end: str | None
    etag: str | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChainGap:
    """A starting digest after an earlier one: validation or logging stopped and restarted.

    CloudTrail signs this itself (the ``previous…`` fields are null), so it is not tampering,
    but nothing proves the log files of the hours in between.
    """

    account: str
    region: str
    trail: str
    after: str | None
    before: str | None


@dataclass(slots=True)
class VerifyReport:
    """Everything one `verify` run found."""

    source: str
    digests: list[DigestCheck] = field(default_factory=list)
    files: list[FileCheck] = field(default_factory=list)
    gaps: list[ChainGap] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every digest and every log file in scope is valid."""
        return all(d.status == DigestStatus.VALID for d in self.digests) and all(
            f.status == FileStatus.VALID for f in self.files
        )

    def problems(self) -> list[DigestCheck | FileCheck]:
        """The digests and files that are not valid, digests first, each in key order."""
        bad_digests = [d for d in self.digests if d.status != DigestStatus.VALID]
        bad_files = [f for f in self.files if f.status != FileStatus.VALID]
        return [*sorted(bad_digests, key=lambda d: d.key), *sorted(bad_files, key=lambda f: f.key)]

    def streams(self) -> list[dict[str, Any]]:
        """Per account and region: counts by status and the time ranges valid digests cover."""
        rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(
            lambda: {"digests": Counter(), "files": Counter(), "ranges": []}
        )
        for d in self.digests:
            row = rows[(d.account, d.region)]
            row["digests"][str(d.status)] += 1
            if d.status == DigestStatus.VALID and d.start and d.end:
                row["ranges"].append((d.start, d.end))
        for f in self.files:
            rows[(f.account or "?", f.region or "?")]["files"][str(f.status)] += 1
        out = []
        for (account, region), row in sorted(rows.items()):
            out.append(
                {
                    "account": account,
                    "region": region,
                    "digests": dict(sorted(row["digests"].items())),
                    "files": dict(sorted(row["files"].items())),
                    "covered": _merge(row["ranges"]),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: verdict, per-stream totals, gaps and every problem."""
        return {
            "source": self.source,
            "ok": self.ok,
            "digests": dict(Counter(str(d.status) for d in self.digests)),
            "files": dict(Counter(str(f.status) for f in self.files)),
            "streams": self.streams(),
            "gaps": [asdict(g) for g in self.gaps],
            "problems": [_plain(p) for p in self.problems()],
        }


def _plain(check: DigestCheck | FileCheck) -> dict[str, Any]:
    row = asdict(check)
    row["kind"] = "digest" if isinstance(check, DigestCheck) else "log"
    return {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in row.items()}


def _merge(ranges: list[tuple[str, str]]) -> list[list[str]]:
    """Merge touching or overlapping [start, end] ranges of ISO UTC times (they sort as text).

    Examples
    --------
    >>> _merge([("2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"),
    ...         ("2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"),
    ...         ("2024-01-01T05:00:00Z", "2024-01-01T06:00:00Z")])
    [['2024-01-01T00:00:00Z', '2024-01-01T02:00:00Z'], ['2024-01-01T05:00:00Z', '2024-01-01T06:00:00Z']]
    """  # noqa: E501
    merged: list[list[str]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
