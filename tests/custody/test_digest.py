"""Digest parsing, names, the signed string and public keys, on AWS's documented samples and the
real digest file of the shared corpus (whose public key is not available, so its structure only)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from cloudtrail_hunt.custody.digest import (
    DigestFormatError,
    logs_path,
    parse_digest,
    parse_digest_name,
    same_hash,
    string_to_sign,
)
from cloudtrail_hunt.custody.keys import (
    fingerprint_of,
    keys_from_document,
    load_public_keys,
    verify_signature,
)
from cloudtrail_hunt.custody.signer import (
    DigestChainWriter,
    list_public_keys_document,
    public_der,
    synthetic_key,
)
from cloudtrail_hunt.errors import ConfigError
from cloudtrail_hunt.ingest.layout import parse_key
from tests.conftest import CORPUS

REAL = CORPUS / "elastic-integrations" / "test-cloudtrail-digest-json.digest.json"

#: The sample `list-public-keys` response of the CloudTrail user guide ("Custom implementations
#: of CloudTrail log file integrity validation"): two PKCS #1 keys and one SubjectPublicKeyInfo.
AWS_SAMPLE_KEYS = {
    "publicKeyList": [
        {
            "ValidityStartTime": "1436317441.0",
            "ValidityEndTime": "1438909441.0",
            "Value": "MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah5bNL6HepznOU9XTDSfmmnP97mqyc7z/upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYDuBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6jQBnXGMtxmPBPP0FylgWGNdFtks/4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvVfhF9C3dQiDq3k7adQIziLT0cShgQIDAQAB",  # noqa: E501
            "Fingerprint": "8eba5db5bea9b640d1c96a77256fe7f2",
        },
        {
            "ValidityStartTime": "1434589370.0",
            "ValidityEndTime": "1437181370.0",
            "Value": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqlzPJbvZJ42UdcmLfPUqXYNfOs6I8lCfao/tOs8CmzPOEdtLWugB9xoIUz78qVHdKIqxbaG4jWHfJBiOSSFBM0lt8cdVo4TnRa7oG9io5pysS6DJhBBAeXsicufsiFJR+wrUNh8RSLxL4k6G1+BhLX20tJkZ/erT97tDGBujAelqseGg3vPZbTx9SMfOLN65PdLFudLP7Gat0Z9p5jw/rjpclKfo9Bfc3heeBxWGKwBBOKnFAaN9V57pOaosCvPKmHd9bg7jsQkI9Xp22IzGLsTFJZYVA3KiTAElDMu80iFXPHEq9hKNbt9e4URFam+1utKVEiLkR2disdCmPTK0VQIDAQAB",  # noqa: E501
            "Fingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
        },
    ]
}


def test_the_fingerprint_is_the_md5_of_the_der_value_as_in_aws_samples() -> None:
    keys = keys_from_document(AWS_SAMPLE_KEYS, "sample")
    assert [k.fingerprint for k in keys] == [
        "8eba5db5bea9b640d1c96a77256fe7f2",
        "31e8b5433410dfb61a9dc45cc65b22ff",
    ]
    assert all(k.rsa().key_size == 2048 for k in keys)  # PKCS #1 and SPKI both load
    assert keys[0].valid_from is not None and keys[0].valid_from.year == 2015


def test_a_boto3_response_page_loads_too() -> None:
    # boto3 gives Value as decoded bytes and the validity times as datetimes.
    from datetime import UTC, datetime

    key = synthetic_key("tests")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    page = {
        "PublicKeyList": [
            {
                "Value": public_der(key),
                "ValidityStartTime": when,
                "ValidityEndTime": when.replace(year=2027),
                "Fingerprint": fingerprint_of(public_der(key)),
            }
        ]
    }
    [loaded] = keys_from_document(page, "ListPublicKeys")
    assert loaded.der == public_der(key) and loaded.valid_from == when
    assert loaded.valid_at(when.replace(month=6)) and not loaded.valid_at(when.replace(year=2028))


def test_a_key_whose_fingerprint_does_not_match_its_value_is_refused(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(AWS_SAMPLE_KEYS))
    doc["publicKeyList"][0]["Fingerprint"] = "0" * 32
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="is not the MD5 of its Value") as info:
        load_public_keys([path])
    assert info.value.key == str(path)


def test_not_list_public_keys_output_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"Keys": []}')
    with pytest.raises(ConfigError, match="no PublicKeyList"):
        load_public_keys([path])


def test_the_real_corpus_digest_has_the_documented_structure() -> None:
    raw = REAL.read_bytes()
    digest = parse_digest(raw)
    assert digest.algorithm == "SHA256withRSA" and len(digest.fingerprint) == 32
    assert digest.sha256 == hashlib.sha256(raw).hexdigest()
    # One hour, chained to the digest that ended when this one started.
    assert (digest.end_time - digest.start_time).total_seconds() == 3600
    previous = parse_digest_name(digest.previous_key)
    assert previous is not None and previous.end == digest.start_time
    assert previous.chain == parse_digest_name(digest.key).chain
    # CloudTrail prints this hash without its leading zero: 63 digits for a 256-bit value.
    assert len(digest.previous_hash) == 63
    assert same_hash(digest.previous_hash, "0" + digest.previous_hash)
    assert len(digest.previous_signature) == 512  # 2048-bit RSA
    # Its log files belong to its account and region, and fall inside its event time range.
    info = parse_key(digest.key)
    assert (info.kind, info.account, info.region) == ("digest", digest.account, "us-west-2")
    for entry in digest.log_files:
        file_info = parse_key(entry.key)
        assert (file_info.kind, file_info.account, file_info.region) == (
            "events",
            digest.account,
            "us-west-2",
        )
        assert digest.oldest <= entry.oldest <= entry.newest <= digest.newest
        assert entry.hash_algorithm == "SHA-256" and len(entry.hash_value) == 64
    assert string_to_sign(digest).decode().split("\n") == [
        "2020-09-11T19:36:49Z",
        f"alice-bucket/{digest.key}",
        digest.sha256,
        digest.previous_signature,
    ]


def test_digest_names_parse_including_backfill_and_trail_underscores() -> None:
    key = (
        "p/AWSLogs/o-abc123defg/012345678901/CloudTrail-Digest/eu-west-1/2024/05/01/"
        "012345678901_CloudTrail-Digest_eu-west-1_my_org_trail_us-east-1_20240501T010203Z"
        "_backfill.json.gz"
    )
    name = parse_digest_name(key)
    assert name is not None
    assert name.chain == ("012345678901", "eu-west-1", "my_org_trail", "us-east-1")
    assert name.backfill and name.end.hour == 1
    assert parse_digest_name(key.replace("_backfill", "")).backfill is False
    assert parse_digest_name("x/012345678901_CloudTrail_eu-west-1_20240501T0102Z_a.json.gz") is None
    assert logs_path(key) == key[2:]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"digestStartTime": "x"}', "missing"),
    ],
)
def test_malformed_digests_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(DigestFormatError, match=message):
        parse_digest(raw)


def test_a_written_digest_verifies_and_a_changed_one_does_not() -> None:
    key = synthetic_key("tests")
    assert synthetic_key("tests") is key and key.key_size == 2048
    writer = DigestChainWriter(
        key,
        bucket="b",
        logs_root="AWSLogs/111111111111",
        region="us-east-1",
        trail="t",
        home_region="us-east-1",
    )
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first = writer.add(t0, t0 + timedelta(hours=1), [])
    second = writer.add(t0 + timedelta(hours=1), t0 + timedelta(hours=2), [])
    [public] = keys_from_document(list_public_keys_document([(key, t0, t0)]), "k")
    assert public.fingerprint == fingerprint_of(public_der(key))
    d1, d2 = parse_digest(first.raw), parse_digest(second.raw)
    assert d1.is_start and d1.previous_signature is None
    assert (d2.previous_key, d2.previous_signature) == (first.key, first.signature)
    assert d2.previous_hash == hashlib.sha256(first.raw).hexdigest()
    assert verify_signature(public, string_to_sign(d2), second.signature)
    assert not verify_signature(public, string_to_sign(d1), second.signature)
    # A signature printed without its leading zero digits still verifies.
    assert verify_signature(public, string_to_sign(d1), first.signature.lstrip("0"))
    assert not verify_signature(public, string_to_sign(d1), "zz")
    assert base64.b64decode(
        list_public_keys_document([(key, t0, t0)])["PublicKeyList"][0]["Value"]
    ) == public_der(key)
