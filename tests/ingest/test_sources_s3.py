"""Tests of cloudtrail_hunt.ingest.sources against a real S3 server (SeaweedFS), with faults."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from cloudtrail_hunt.errors import IngestError, ObjectError
from cloudtrail_hunt.ingest.layout import parse_key
from cloudtrail_hunt.ingest.sources import S3Source, SourceObject, open_source
from tests.fixtures_s3 import FaultProxy, RecordedRequest, S3Server

pytestmark = pytest.mark.s3

ORG = "o-abc123defg"
A1, A2, A3 = "012345678901", "111122223333", "999988887777"
REGIONS = ("ap-south-1", "eu-west-1", "us-east-1")
DAYS = tuple(date(2024, 2, 27) + timedelta(days=i) for i in range(5))  # Feb 27 .. Mar 2
BIG_DAY = DAYS[0]
BIG_COUNT = 1_050  # one day folder with more than a 1,000-key page


def _events_key(account: str, region: str, day: date, n: int) -> str:
    stamp = f"{day:%Y%m%d}T{n // 60 % 24:02d}{n % 60:02d}Z"
    name = f"{account}_CloudTrail_{region}_{stamp}_{n:06d}.json.gz"
    return f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/{name}"


def _layout_keys() -> list[str]:
    keys = [_events_key(A1, "us-east-1", BIG_DAY, n) for n in range(BIG_COUNT)]
    for account in (A1, A2, A3):
        for region in REGIONS:
            for day in DAYS:
                if (account, region, day) != (A1, "us-east-1", BIG_DAY):
                    keys += [_events_key(account, region, day, n) for n in range(2)]
    # Log file validation is on for A2 only; Insights for A3 only.
    keys += [
        f"AWSLogs/{ORG}/{A2}/CloudTrail-Digest/us-east-1/{d:%Y/%m/%d}/{A2}_CloudTrail-Digest_us-east-1_t_us-east-1_{d:%Y%m%d}T000000Z.json.gz"
        for d in DAYS
    ]
    keys += [
        f"AWSLogs/{ORG}/{A3}/CloudTrail-Insight/eu-west-1/{d:%Y/%m/%d}/{A3}_CloudTrail-Insight_eu-west-1_{d:%Y%m%d}T0000Z_i.json.gz"
        for d in DAYS[:2]
    ]
    return sorted(keys)


def _body(key: str) -> bytes:
    record = {"eventID": hashlib.sha1(key.encode()).hexdigest(), "key": key}  # noqa: S324
    return gzip.compress(json.dumps({"Records": [record]}).encode(), mtime=0)


@dataclass(frozen=True)
class Trail:
    bucket: str
    keys: list[str]  # layout keys, sorted
    bodies: dict[str, bytes]


def _upload(server: S3Server, bucket: str, bodies: dict[str, bytes]) -> None:
    client = server.client()
    try:

        def put(key: str) -> None:
            client.put_object(Bucket=bucket, Key=key, Body=bodies[key], ContentEncoding="gzip")

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, bodies))
    finally:
        client.close()


@pytest.fixture(scope="module")
def trail(s3_server: S3Server) -> Trail:
    """A bucket with an org trail of 1,167 objects, uploaded once for this module."""
    bucket = "org-trail-module"
    client = s3_server.client()
    try:
        client.create_bucket(Bucket=bucket)
    finally:
        client.close()
    keys = _layout_keys()
    bodies = {key: _body(key) for key in keys}
    bodies["README.md"] = b"not a log"  # beside AWSLogs: ignored
    _upload(s3_server, bucket, bodies)
    return Trail(bucket, keys, bodies)


def _source(server_or_url: S3Server | str, bucket: str, **kwargs: object) -> S3Source:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.endpoint_url
    source = open_source(f"s3://{bucket}", endpoint_url=url, **kwargs)  # type: ignore[arg-type]
    assert isinstance(source, S3Source)
    return source


@pytest.fixture
def closing() -> Iterator[list[S3Source]]:
    """Sources registered here are closed after the test."""
    sources: list[S3Source] = []
    yield sources
    for source in sources:
        source.close()


def _flat_listings(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if r.is_list_v2 and "delimiter" not in r.params]


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------


def test_s3_lists_every_object_in_key_order_past_one_page(
    aws_env: S3Server, trail: Trail, fault_proxy: FaultProxy, closing: list[S3Source]
) -> None:
    source = _source(fault_proxy.endpoint_url, trail.bucket)
    closing.append(source)
    # The second page of the big month is throttled twice: the paged listing must recover.
    fault_proxy.slow_down(2, lambda r: r.is_list_v2 and "continuation-token" in r.params)
    objects = list(source.list_objects())
    assert len(objects) > 1_000
    assert [o.key for o in objects] == trail.keys
    assert fault_proxy.pending_faults() == 0
    continued = [r for r in fault_proxy.recorded() if "continuation-token" in r.params]
    assert len(continued) == 3  # two SlowDowns, then the page


def test_s3_object_fields(aws_env: S3Server, trail: Trail, closing: list[S3Source]) -> None:
    source = _source(aws_env, trail.bucket)
    closing.append(source)
    objects = list(source.list_objects(start=DAYS[3], end=DAYS[3], accounts=[A2]))
    assert objects
    for obj in objects:
        body = trail.bodies[obj.key]
        assert obj.uri == f"s3://{trail.bucket}/{obj.key}"
        assert obj.size == len(body)
        assert obj.etag == hashlib.md5(body).hexdigest()  # noqa: S324 (single-part ETag)
        assert obj.info == parse_key(obj.key)
    assert {o.info.kind for o in objects} == {"events", "digest"}


def test_s3_one_day_one_account_one_region_issues_one_flat_listing(
    aws_env: S3Server, trail: Trail, fault_proxy: FaultProxy, closing: list[S3Source]
) -> None:
    source = _source(fault_proxy.endpoint_url, trail.bucket)
    closing.append(source)
    day = DAYS[2]
    objects = list(source.list_objects(start=day, end=day, accounts=[A1], regions=["eu-west-1"]))
    day_prefix = f"AWSLogs/{ORG}/{A1}/CloudTrail/eu-west-1/{day:%Y/%m/%d}/"
    assert [o.key for o in objects] == [k for k in trail.keys if k.startswith(day_prefix)]
    requests = fault_proxy.recorded()
    assert all(r.is_list_v2 for r in requests)
    assert [r.params.get("prefix") for r in _flat_listings(requests)] == [day_prefix]
    delimited = [r.params.get("prefix") for r in requests if "delimiter" in r.params]
    assert delimited == ["AWSLogs/", f"AWSLogs/{ORG}/{A1}/"]


def test_s3_big_day_is_paged(
    aws_env: S3Server, trail: Trail, fault_proxy: FaultProxy, closing: list[S3Source]
) -> None:
    source = _source(fault_proxy.endpoint_url, trail.bucket)
    closing.append(source)
    objects = list(
        source.list_objects(
            start=BIG_DAY, end=BIG_DAY, accounts=[A1], regions=["us-east-1"], kinds=["events"]
        )
    )
    assert len(objects) == BIG_COUNT
    flat = _flat_listings(fault_proxy.recorded())
    assert [("continuation-token" in r.params) for r in flat] == [False, True]


def test_s3_filters_across_accounts_regions_and_kinds(
    aws_env: S3Server, trail: Trail, closing: list[S3Source]
) -> None:
    source = _source(aws_env, trail.bucket)
    closing.append(source)
    start, end = DAYS[1], DAYS[3]
    objects = list(
        source.list_objects(
            start=start, end=end, accounts=[A2, A3], regions=["eu-west-1", "us-east-1"]
        )
    )

    def wanted(key: str) -> bool:
        info = parse_key(key)
        assert info.day is not None
        return (
            start <= info.day <= end
            and info.account in (A2, A3)
            and info.region in ("eu-west-1", "us-east-1")
        )

    assert [o.key for o in objects] == [k for k in trail.keys if wanted(k)]
    assert {o.info.kind for o in objects} == {"events", "digest", "insight"}


def test_s3_plain_prefix_and_anchored_roots(
    aws_env: S3Server,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    closing: list[S3Source],
) -> None:
    day_key = f"AWSLogs/{A1}/CloudTrail/us-east-1/2024/01/01/x.json.gz"
    bodies = {
        "exports/a.json": b"a",
        "exports/sub/b.ndjson": b"b",
        ".hidden/c.json": b"c",
        f"trail/{day_key}": b"d",
    }
    _upload(aws_env, s3_bucket, bodies)
    # The endpoint comes from the environment this time, as boto3 reads it.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws_env.endpoint_url)
    whole = open_source(f"s3://{s3_bucket}")
    closing.append(whole)  # type: ignore[arg-type]
    assert [o.key for o in whole.list_objects()] == sorted(bodies)
    trail_source = open_source(f"s3://{s3_bucket}/trail/")
    closing.append(trail_source)  # type: ignore[arg-type]
    (obj,) = trail_source.list_objects()
    assert (obj.key, obj.uri) == (day_key, f"s3://{s3_bucket}/trail/{day_key}")
    assert (obj.info.account, obj.info.day) == (A1, date(2024, 1, 1))
    inner = open_source(f"s3://{s3_bucket}/trail/AWSLogs/{A1}")
    closing.append(inner)  # type: ignore[arg-type]
    assert [o.key for o in inner.list_objects(start=date(2024, 1, 1))] == [
        day_key.removeprefix(f"AWSLogs/{A1}/")
    ]
    assert list(inner.list_objects(start=date(2024, 1, 2))) == []


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------


def _path_is(bucket: str, key: str) -> object:
    def match(r: RecordedRequest) -> bool:
        return r.method == "GET" and r.path == f"/{bucket}/{key}"

    return match


def test_s3_fetch_survives_throttling_resets_and_truncation_in_input_order(
    aws_env: S3Server, trail: Trail, fault_proxy: FaultProxy, closing: list[S3Source]
) -> None:
    source = _source(fault_proxy.endpoint_url, trail.bucket, max_concurrency=4)
    closing.append(source)
    objects = list(source.list_objects(start=DAYS[4], end=DAYS[4], regions=["ap-south-1"]))
    random.Random(7).shuffle(objects)
    slow_a, slow_b, cut, reset = objects[0], objects[3], objects[1], objects[4]
    fault_proxy.slow_down(2, _path_is(trail.bucket, slow_a.key))  # type: ignore[arg-type]
    fault_proxy.slow_down(2, _path_is(trail.bucket, slow_b.key))  # type: ignore[arg-type]
    fault_proxy.truncate(1, _path_is(trail.bucket, cut.key))  # type: ignore[arg-type]
    fault_proxy.reset(1, _path_is(trail.bucket, reset.key))  # type: ignore[arg-type]
    results = list(source.fetch(objects))
    assert [o for o, _ in results] == objects
    assert [data for _, data in results] == [trail.bodies[o.key] for o in objects]
    assert fault_proxy.pending_faults() == 0
    gets = [r.path for r in fault_proxy.recorded() if r.method == "GET"]
    assert gets.count(f"/{trail.bucket}/{slow_a.key}") == 3
    assert gets.count(f"/{trail.bucket}/{cut.key}") == 2


def test_s3_fetch_gives_up_on_a_body_that_is_always_cut_short(
    aws_env: S3Server, trail: Trail, fault_proxy: FaultProxy, closing: list[S3Source]
) -> None:
    source = _source(fault_proxy.endpoint_url, trail.bucket, max_attempts=3)
    closing.append(source)
    objects = list(
        source.list_objects(start=DAYS[4], end=DAYS[4], accounts=[A1], regions=["eu-west-1"])
    )
    assert len(objects) == 2
    bad, good = objects
    fault_proxy.truncate(10, _path_is(trail.bucket, bad.key))  # type: ignore[arg-type]
    results = dict(source.fetch(objects))
    assert results[good] == trail.bodies[good.key]
    error = results[bad]
    assert isinstance(error, ObjectError)
    assert error.source == bad.uri
    assert error.reason.startswith("the body was cut short on all 3 attempts")
    assert fault_proxy.pending_faults() == 10 - 3


def test_s3_fetch_reports_a_missing_object_and_returns_the_others(
    aws_env: S3Server, s3_bucket: str, closing: list[S3Source]
) -> None:
    keys = [f"AWSLogs/{A1}/CloudTrail/us-east-1/2024/01/01/{n}.json.gz" for n in range(3)]
    bodies = {k: _body(k) for k in keys}
    _upload(aws_env, s3_bucket, bodies)
    source = _source(aws_env, s3_bucket)
    closing.append(source)
    objects = list(source.list_objects())
    client = aws_env.client()
    client.delete_object(Bucket=s3_bucket, Key=keys[1])
    client.close()
    results = list(source.fetch(objects))
    assert [o.key for o, _ in results] == keys
    assert [results[0][1], results[2][1]] == [bodies[keys[0]], bodies[keys[2]]]
    error = results[1][1]
    assert isinstance(error, ObjectError)
    assert (error.source, error.reason) == (
        f"s3://{s3_bucket}/{keys[1]}",
        "no such object (NoSuchKey)",
    )
    hint = "it was removed after listing; list again"
    assert str(error) == f"s3://{s3_bucket}/{keys[1]}: no such object (NoSuchKey); {hint}"


def test_s3_anonymous_requests_are_denied(
    aws_env: S3Server, trail: Trail, closing: list[S3Source]
) -> None:
    signed = _source(aws_env, trail.bucket)
    anonymous = _source(aws_env, trail.bucket, anon=True)
    closing += [signed, anonymous]
    objects = list(
        signed.list_objects(start=DAYS[1], end=DAYS[1], accounts=[A3], regions=["ap-south-1"])
    )
    assert objects
    for obj, result in anonymous.fetch(objects):
        assert isinstance(result, ObjectError)
        assert result.source == obj.uri
        assert result.reason == "access denied (AccessDenied)"
        assert "anon=True" in (result.hint or "")
    with pytest.raises(IngestError, match=r"cannot list: access denied \(AccessDenied\)"):
        list(anonymous.list_objects())


def test_s3_source_pickles_without_its_client(
    aws_env: S3Server, trail: Trail, closing: list[S3Source]
) -> None:
    source = _source(aws_env, trail.bucket, max_concurrency=3)
    closing.append(source)
    day = DAYS[2]
    before = list(source.list_objects(start=day, end=day, accounts=[A3]))
    clone: S3Source = pickle.loads(pickle.dumps(source))
    closing.append(clone)
    assert (clone.root, clone.max_concurrency) == (source.root, 3)
    assert list(clone.list_objects(start=day, end=day, accounts=[A3])) == before
    fetched: list[tuple[SourceObject, bytes | ObjectError]] = list(clone.fetch(before))
    assert [d for _, d in fetched] == [trail.bodies[o.key] for o in before]
