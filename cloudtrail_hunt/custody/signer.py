"""Write and sign digest files in CloudTrail's exact format, with synthetic keys: test material.

The other side of the chain-of-custody check: `synth` delivers its trail's digests with it, and
the tests build trails and tamper with them. Nothing here is CloudTrail's: the keys are made
from a seed (`synthetic_key`), so a regenerated sample is byte-identical, and must never sign
anything real. `list_public_keys_document` is what ``aws cloudtrail list-public-keys`` prints
for such a key, so the check loads it the way it loads AWS's own.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cloudtrail_hunt.custody.digest import parse_digest, string_to_sign
from cloudtrail_hunt.custody.keys import fingerprint_of

__all__ = [
    "DigestChainWriter",
    "SignedDigest",
    "digest_key",
    "list_public_keys_document",
    "public_der",
    "synthetic_key",
]

_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % q for q in range(3, int(p**0.5) + 1, 2))]


def _probably_prime(n: int, rng: random.Random, rounds: int = 40) -> bool:
    """Miller-Rabin with `rounds` bases drawn from `rng` (error below 4**-rounds)."""
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int, e: int) -> int:
    while True:
        # Top two bits set, so the product of two such primes has exactly 2 * bits bits.
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if (n - 1) % e and _probably_prime(n, rng):
            return n


@functools.cache
def synthetic_key(seed: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key derived from `seed` alone (same seed, same key): SYNTHETIC, for tests and
    sample data only. CloudTrail's keys are 2048-bit RSA with exponent 65537, and so is this."""
    rng = random.Random(f"cloudtrail-hunt synthetic digest key/{seed}")
    e = 65537
    p = _prime(rng, bits // 2, e)
    q = _prime(rng, bits // 2, e)
    while q == p:
        q = _prime(rng, bits // 2, e)
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key()


def public_der(key: rsa.RSAPrivateKey) -> bytes:
    """The public half as `ListPublicKeys` gives it: DER, PKCS #1 ``RSAPublicKey``."""
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )


def list_public_keys_document(
    keys: Sequence[tuple[rsa.RSAPrivateKey, datetime, datetime]],
) -> dict[str, Any]:
    """What ``aws cloudtrail list-public-keys`` prints for these keys and validity ranges."""
    return {
        "PublicKeyList": [
            {
                "Value": base64.b64encode(public_der(key)).decode(),
                "ValidityStartTime": _iso(valid_from),
                "ValidityEndTime": _iso(valid_until),
                "Fingerprint": fingerprint_of(public_der(key)),
            }
            for key, valid_from, valid_until in keys
        ]
    }


def digest_key(
    logs_root: str,
    region: str,
    trail: str,
    home_region: str,
    end: datetime,
    *,
    backfill: bool = False,
) -> str:
    """The key CloudTrail gives a digest: ``<logs_root>/CloudTrail-Digest/<region>/YYYY/MM/DD/
    <account>_CloudTrail-Digest_<region>_<trail>_<home region>_<end>[_backfill].json.gz``, where
    `logs_root` is ``[prefix/]AWSLogs/[o-org/]<account>``."""
    account = logs_root.rstrip("/").rsplit("/", 1)[-1]
    tail = "_backfill" if backfill else ""
    return (
        f"{logs_root.rstrip('/')}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/"
        f"{account}_CloudTrail-Digest_{region}_{trail}_{home_region}_{end:%Y%m%dT%H%M%SZ}"
        f"{tail}.json.gz"
    )


@dataclass(frozen=True, slots=True)
class SignedDigest:
    """One written digest: its key, its uncompressed JSON bytes and its signature (hex)."""

    key: str
    raw: bytes
    signature: str


class DigestChainWriter:
    """Builds the digests of one trail, account and region, chained as CloudTrail chains them.

    Call `add` once per hour, oldest first; each digest points at the previous one (key, SHA-256
    of its uncompressed bytes, signature). The first digest, or one added with
    ``restart=True``, is a starting digest with null ``previous…`` fields.
    """

    def __init__(
        self,
        key: rsa.RSAPrivateKey,
        *,
        bucket: str,
        logs_root: str,
        region: str,
        trail: str,
        home_region: str,
    ) -> None:
        self.key = key
        self.bucket = bucket
        self.logs_root = logs_root
        self.account = logs_root.rstrip("/").rsplit("/", 1)[-1]
        self.region = region
        self.trail = trail
        self.home_region = home_region
        self.fingerprint = fingerprint_of(public_der(key))
        self.previous: SignedDigest | None = None

    def add(
        self,
        start: datetime,
        end: datetime,
        log_files: Sequence[dict[str, Any]],
        *,
        restart: bool = False,
        backfill: bool = False,
    ) -> SignedDigest:
        """Write the next digest for the hour [start, end].

        `log_files` are entries ``{"s3Object", "hashValue", "oldestEventTime",
        "newestEventTime"}`` (bucket and algorithm are added); ``hashValue`` is the SHA-256 hex
        of the file's uncompressed content.
        """
        key = digest_key(
            self.logs_root, self.region, self.trail, self.home_region, end, backfill=backfill
        )
        prev = None if restart or backfill else self.previous
        newest = [f["newestEventTime"] for f in log_files if f.get("newestEventTime")]
        oldest = [f["oldestEventTime"] for f in log_files if f.get("oldestEventTime")]
        doc = {
            "awsAccountId": self.account,
            "digestStartTime": _iso(start),
            "digestEndTime": _iso(end),
            "digestS3Bucket": self.bucket,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": self.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": max(newest, default=None),
            "oldestEventTime": min(oldest, default=None),
            "previousDigestS3Bucket": self.bucket if prev else None,
            "previousDigestS3Object": prev.key if prev else None,
            "previousDigestHashValue": hashlib.sha256(prev.raw).hexdigest() if prev else None,
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev.signature if prev else None,
            "logFiles": [
                {
                    "s3Bucket": self.bucket,
                    "s3Object": f["s3Object"],
                    "hashValue": f["hashValue"],
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": f.get("newestEventTime"),
                    "oldestEventTime": f.get("oldestEventTime"),
                }
                for f in log_files
            ],
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        signature = self.key.sign(
            string_to_sign(parse_digest(raw)), padding.PKCS1v15(), hashes.SHA256()
        ).hex()
        signed = SignedDigest(key, raw, signature)
        if not backfill:
            self.previous = signed
        return signed


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
