"""Chain of custody: check a CloudTrail source against its signed digest files, offline.

`verify_source` checks every digest (signature, chain) and every log file (SHA-256 of its
uncompressed content) of a source; `load_public_keys` / `fetch_public_keys` give the keys;
`custody.lake` records the verdicts in the lake and says how much of a hunt's data they cover.
"""

from __future__ import annotations

from cloudtrail_hunt.custody.keys import PublicKey, fetch_public_keys, load_public_keys
from cloudtrail_hunt.custody.report import DigestStatus, FileStatus, Proof, VerifyReport
from cloudtrail_hunt.custody.verify import load_signatures, verify_source

__all__ = [
    "DigestStatus",
    "FileStatus",
    "Proof",
    "PublicKey",
    "VerifyReport",
    "fetch_public_keys",
    "load_public_keys",
    "load_signatures",
    "verify_source",
]
