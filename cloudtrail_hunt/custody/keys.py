"""CloudTrail's digest-signing public keys: load or fetch `ListPublicKeys`, check signatures.

Part of the chain-of-custody check (digest → **keys** → verify → report). CloudTrail signs
digests with a private key per region and publishes the public halves through the
`ListPublicKeys` API (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_ListPublicKeys.html):
each key has a ``Value`` (DER; the API says PKCS #1 ``RSAPublicKey``, and the user guide's own
sample also shows an X.509 ``SubjectPublicKeyInfo``), a validity range and a ``Fingerprint``,
the hex MD5 of the DER bytes of ``Value`` (checked against the user guide's sample keys). A
digest names the key that signed it by that fingerprint.

Offline, the responder saves ``aws cloudtrail list-public-keys --start-time … --end-time …``
(once per region the trail covers) to files; `load_public_keys` reads them. With network access
`fetch_public_keys` calls the API in each region through boto3.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from cloudtrail_hunt.errors import ConfigError

__all__ = [
    "PublicKey",
    "fetch_public_keys",
    "fingerprint_of",
    "load_public_keys",
    "verify_signature",
]


def fingerprint_of(der: bytes) -> str:
    """The fingerprint CloudTrail gives a public key: the hex MD5 of its DER bytes.

    Examples
    --------
    >>> fingerprint_of(b"")
    'd41d8cd98f00b204e9800998ecf8427e'
    """
    return hashlib.md5(der, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One public key of `ListPublicKeys`: DER bytes, fingerprint and validity range."""

    fingerprint: str
    der: bytes
    valid_from: datetime | None
    valid_until: datetime | None

    def rsa(self) -> rsa.RSAPublicKey:
        """The key as a `cryptography` RSA public key (PKCS #1 or SubjectPublicKeyInfo DER)."""
        key = _load_der(self.der)
        if key is None:
            msg = f"public key {self.fingerprint} is not an RSA key in DER"
            raise ValueError(msg)
        return key

    def valid_at(self, when: datetime | None) -> bool:
        """True when `when` lies in the validity range (an open end, or no time, counts in)."""
        if when is None:
            return True
        if self.valid_from is not None and when < self.valid_from:
            return False
        return not (self.valid_until is not None and when > self.valid_until)


def _load_der(der: bytes) -> rsa.RSAPublicKey | None:
    try:
        key = load_der_public_key(der)
    except ValueError:
        return None
    return key if isinstance(key, rsa.RSAPublicKey) else None


def verify_signature(key: PublicKey, data: bytes, signature_hex: str) -> bool:
    """Check a SHA256withRSA (PKCS #1 v1.5) signature given in hex over `data`.

    A signature written without its leading zero digits (as a number printed in hex) is padded
    back to the key's length first.
    """
    public = key.rsa()
    width = (public.key_size + 7) // 8 * 2
    text = signature_hex.strip().lower()
    if len(text) > width:
        return False
    try:
        signature = binascii.unhexlify(text.rjust(width, "0"))
    except (binascii.Error, ValueError):
        return False
    try:
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _time(value: object) -> datetime | None:
    """A validity time as the CLI prints it (ISO 8601, or epoch seconds as a number or text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _key(item: Any, where: str, index: int) -> PublicKey:
    if not isinstance(item, dict):
        msg = f"entry {index} is not an object"
        raise ConfigError(key=where, reason=msg)
    value = item.get("Value")
    if isinstance(value, str):
        try:
            der = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            msg = f"entry {index}: Value is not base64"
            raise ConfigError(key=where, reason=msg) from None
    elif isinstance(value, bytes):
        der = value  # boto3 gives the blob decoded
    else:
        msg = f"entry {index} has no Value"
        raise ConfigError(key=where, reason=msg)
    fingerprint = fingerprint_of(der)
    stated = item.get("Fingerprint")
    if isinstance(stated, str) and stated.lower() != fingerprint:
        msg = f"entry {index}: Fingerprint {stated!r} is not the MD5 of its Value ({fingerprint})"
        raise ConfigError(key=where, reason=msg, hint="the file was altered or mis-copied")
    if _load_der(der) is None:
        msg = f"entry {index}: Value is not a DER-encoded RSA public key"
        raise ConfigError(key=where, reason=msg)
    return PublicKey(
        fingerprint, der, _time(item.get("ValidityStartTime")), _time(item.get("ValidityEndTime"))
    )


def keys_from_document(doc: Any, where: str) -> list[PublicKey]:
    """The keys of one `ListPublicKeys` response (``PublicKeyList``; older CLIs wrote
    ``publicKeyList``), or of a bare list of its entries."""
    if isinstance(doc, dict):
        entries = next((doc[k] for k in ("PublicKeyList", "publicKeyList") if k in doc), None)
    else:
        entries = doc
    if not isinstance(entries, list):
        msg = "not `ListPublicKeys` output (no PublicKeyList)"
        hint = "save `aws cloudtrail list-public-keys --start-time … --end-time …` to the file"
        raise ConfigError(key=where, reason=msg, hint=hint)
    return [_key(item, where, i) for i, item in enumerate(entries)]


def load_public_keys(paths: Iterable[str | Path]) -> dict[str, PublicKey]:
    """Load saved `ListPublicKeys` outputs; return the keys by fingerprint.

    Raises
    ------
    ConfigError
        A file that cannot be read, is not JSON, or holds an entry whose ``Value`` is not an
        RSA key or whose ``Fingerprint`` is not the MD5 of its ``Value``.
    """
    keys: dict[str, PublicKey] = {}
    for path in paths:
        where = str(path)
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            msg = f"cannot read the public keys: {exc.strerror or exc}"
            raise ConfigError(key=where, reason=msg) from None
        except ValueError as exc:
            msg = f"not JSON ({exc})"
            raise ConfigError(key=where, reason=msg) from None
        for key in keys_from_document(doc, where):
            keys[key.fingerprint] = key
    return keys


def fetch_public_keys(
    regions: Iterable[str], start: datetime | None = None, end: datetime | None = None
) -> dict[str, PublicKey]:
    """Call `ListPublicKeys` in each region (boto3's default credentials); keys by fingerprint.

    Raises
    ------
    ConfigError
        The API call failed (no credentials, access denied, no network).
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    keys: dict[str, PublicKey] = {}
    session = boto3.session.Session()
    for region in sorted(set(regions)):
        client = session.client("cloudtrail", region_name=region)
        kwargs: dict[str, Any] = {}
        if start is not None:
            kwargs["StartTime"] = start
        if end is not None:
            kwargs["EndTime"] = end
        try:
            pages = client.get_paginator("list_public_keys").paginate(**kwargs)
            for page in pages:
                for key in keys_from_document(page, f"ListPublicKeys in {region}"):
                    keys[key.fingerprint] = key
        except (BotoCoreError, ClientError) as exc:
            msg = f"ListPublicKeys failed: {exc}"
            hint = "check credentials and network, or save the keys and pass --public-keys"
            raise ConfigError(key="--fetch-public-keys", reason=msg, hint=hint) from None
        finally:
            client.close()
    return keys
