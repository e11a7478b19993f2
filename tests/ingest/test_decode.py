"""Decoding each file shape of the corpus MANIFEST into records; bad parts reported by index."""

from __future__ import annotations

import gzip
import json

import pytest

from cloudtrail_hunt.ingest.decode import decode_object
from tests.conftest import make_event


def _values(decoded):
    return [json.loads(raw) for _, raw, _ in decoded.records]


def _records(n: int) -> list[dict]:
    return [make_event(eventID=f"id-{i}", eventName=f"Call{i}") for i in range(n)]


def test_decode_s3_object_plain_and_gzipped_gives_same_records() -> None:
    body = json.dumps({"Records": _records(3)}, indent=2).encode()
    plain, packed = decode_object(body), decode_object(gzip.compress(body))
    assert _values(plain) == _records(3)
    assert plain.records == packed.records
    assert [i for i, _, _ in plain.records] == [0, 1, 2]


def test_decode_record_text_is_compact() -> None:
    decoded = decode_object(json.dumps({"Records": _records(1)}, indent=4).encode())
    raw = decoded.records[0][1]
    assert b"\n" not in raw and b'": ' not in raw


def test_decode_bare_array() -> None:
    assert _values(decode_object(json.dumps(_records(2)).encode())) == _records(2)


def test_decode_ndjson_keeps_good_lines_around_a_bad_one() -> None:
    lines = [json.dumps(r) for r in _records(3)]
    lines.insert(1, '{"eventName": "broken"')
    decoded = decode_object("\n".join(lines).encode())
    assert [i for i, _, _ in decoded.records] == [0, 2, 3]
    assert [i for i, _ in decoded.errors] == [1]
    assert "line is not a JSON object" in decoded.errors[0][1]


def test_decode_digest_is_kept_aside_not_returned_as_records() -> None:
    digest = {
        "awsAccountId": "1",
        "digestStartTime": "a",
        "digestEndTime": "b",
        "digestS3Object": "k",
        "logFiles": [],
    }
    decoded = decode_object(gzip.compress(json.dumps(digest).encode()))
    assert decoded.records == [] and decoded.errors == []
    assert json.loads(decoded.digest) == digest


def test_decode_truncated_object_keeps_whole_records_before_the_cut() -> None:
    body = json.dumps({"Records": _records(3)}).encode()
    cut = body[: body.index(b'"id-2"') + 3]
    decoded = decode_object(cut)
    assert _values(decoded) == _records(2)
    assert [i for i, _ in decoded.errors] == [2]
    assert "truncated" in decoded.errors[0][1]


def test_decode_truncated_gzip_salvages_inflated_records() -> None:
    packed = gzip.compress(json.dumps({"Records": _records(50)}).encode())
    decoded = decode_object(packed[: len(packed) * 2 // 3])
    assert 0 < len(decoded.records) < 50
    assert _values(decoded) == _records(50)[: len(decoded.records)]
    assert decoded.errors and all(i is not None for i, _ in decoded.errors)


def test_decode_multi_member_gzip_reads_every_member() -> None:
    one = json.dumps(_records(1)[0]).encode() + b"\n"
    two = json.dumps(_records(2)[1]).encode() + b"\n"
    decoded = decode_object(gzip.compress(one) + gzip.compress(two))
    assert _values(decoded) == _records(2)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty object"),
        (b"user,arn\nroot,x\n", "not JSON"),
        (b"\x1f\x8bgarbage", "gzip"),
        (b"42", "neither an object nor an array"),
    ],
)
def test_decode_unreadable_object_is_an_object_level_error(body: bytes, reason: str) -> None:
    decoded = decode_object(body)
    assert decoded.unreadable
    assert decoded.errors[0][0] is None and reason in decoded.errors[0][1]


def test_decode_non_object_records_are_errors_with_their_index() -> None:
    decoded = decode_object(json.dumps({"Records": [make_event(), 3, "x", make_event()]}).encode())
    assert [i for i, _, _ in decoded.records] == [0, 3]
    assert [i for i, _ in decoded.errors] == [1, 2]


def test_decode_byte_order_mark_is_ignored() -> None:
    assert _values(decode_object(b"\xef\xbb\xbf" + json.dumps(_records(1)).encode())) == _records(1)
