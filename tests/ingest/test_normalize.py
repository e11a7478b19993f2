"""Records to canonical rows: typed columns, coercion of wrong types, event times, partitions."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from cloudtrail_hunt.ingest.decode import decode_object
from cloudtrail_hunt.ingest.normalize import ObjectRecords, normalize
from tests.conftest import make_event

_NO_KEY = SimpleNamespace(account=None, region=None)


def _normalize(*records: dict, info=_NO_KEY):
    raws = [(i, json.dumps(r, separators=(",", ":")).encode(), None) for i, r in enumerate(records)]
    return normalize([ObjectRecords("s3://b/k.json.gz", info, raws)])


def _normalize_raw(raw: bytes):
    return normalize([ObjectRecords("f", _NO_KEY, decode_object(raw).records)])


def test_normalize_lookup_events_unwraps_the_record_string_and_keeps_the_envelope() -> None:
    record = make_event(eventName="RunInstances")
    line = {"EventId": "x", "EventName": "RunInstances", "CloudTrailEvent": json.dumps(record)}
    row = _normalize_raw(json.dumps(line).encode()).frame.row(0, named=True)
    assert json.loads(row["message"]) == record and row["eventName"] == "RunInstances"
    assert json.loads(row["envelope"]) == {"EventId": "x", "EventName": "RunInstances"}


def test_normalize_eventbridge_envelope_unwraps_detail() -> None:
    record = make_event(eventName="StopLogging")
    envelope = {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "account": "1",
        "detail": record,
    }
    row = _normalize_raw(json.dumps(envelope).encode()).frame.row(0, named=True)
    assert json.loads(row["message"]) == record and row["eventName"] == "StopLogging"
    rest = json.loads(row["envelope"])
    assert "detail" not in rest and rest["account"] == "1"


def test_normalize_broken_envelope_is_rejected_with_reason() -> None:
    line = {"EventId": "x", "CloudTrailEvent": "{not json"}
    out = _normalize_raw(json.dumps(line).encode())
    assert (
        out.frame.is_empty()
        and "`CloudTrailEvent` is not a JSON record string" in out.rejected[0][2]
    )


def test_normalize_types_the_well_known_fields() -> None:
    event = make_event(
        eventName="ConsoleLogin",
        **{
            "userIdentity.type": "IAMUser",
            "additionalEventData": {"MFAUsed": "No", "LoginTo": "https://console"},
            "responseElements": {"ConsoleLogin": "Success"},
        },
    )
    row = _normalize(event).frame.row(0, named=True)
    assert row["eventTime"] == datetime(2026, 10, 1, 10, tzinfo=UTC)
    assert row["eventName"] == "ConsoleLogin" and row["userIdentity.type"] == "IAMUser"
    assert (
        row["userIdentity.sessionContext.sessionIssuer.arn"]
        == "arn:aws:iam::012345678901:role/Admin"
    )
    assert row["additionalEventData.MFAUsed"] == "No"
    assert row["responseElements.ConsoleLogin"] == "Success"
    assert json.loads(row["additionalEventData"]) == event["additionalEventData"]
    assert row["readOnly"] is True
    assert (row["account"], row["region"], row["day"]) == (
        "012345678901",
        "us-east-1",
        date(2026, 10, 1),
    )
    assert json.loads(row["message"]) == event


def test_normalize_coerces_wrong_types_instead_of_dropping_the_record() -> None:
    event = make_event(
        eventName=42, readOnly="false", userIdentity="not-an-object", requestParameters=[1, 2]
    )
    out = _normalize(event)
    row = out.frame.row(0, named=True)
    assert out.rejected == []
    assert row["eventName"] == "42" and row["readOnly"] is False
    assert row["userIdentity.type"] is None
    assert json.loads(row["requestParameters"]) == [1, 2]
    assert row["requestParameters.roleName"] is None
    assert json.loads(row["message"]) == event


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01T10:00:00Z", datetime(2026, 10, 1, 10, tzinfo=UTC)),
        ("2026-10-01T10:00:00.250Z", datetime(2026, 10, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2022-02-08T09:23:37+11:00", datetime(2022, 2, 7, 22, 23, 37, tzinfo=UTC)),
        ("2025-01-20 16:52:14.0000000", datetime(2025, 1, 20, 16, 52, 14, tzinfo=UTC)),
        ("2021-05-20 15:53:47Z", datetime(2021, 5, 20, 15, 53, 47, tzinfo=UTC)),
    ],
)
def test_normalize_reads_event_time_spellings_as_utc(text: str, expected: datetime) -> None:
    assert _normalize(make_event(eventTime=text)).frame["eventTime"][0] == expected


@pytest.mark.parametrize("value", ["...", "redacted", "", 1700000000, None])
def test_normalize_rejects_records_without_a_usable_event_time(value) -> None:
    good = make_event(eventID="good")
    out = _normalize(good, make_event(eventTime=value), good)
    assert out.frame["source_index"].to_list() == [0, 2]
    ((source, index, reason),) = out.rejected
    assert (source, index) == ("s3://b/k.json.gz", 1)
    assert "eventTime" in reason


def test_normalize_falls_back_to_logstash_timestamp() -> None:
    event = make_event()
    event["@timestamp"] = event.pop("eventTime")
    assert _normalize(event).frame["eventTime"][0] == datetime(2026, 10, 1, 10, tzinfo=UTC)


def test_normalize_partition_falls_back_to_the_key_layout() -> None:
    event = make_event()
    del event["recipientAccountId"], event["awsRegion"]
    info = SimpleNamespace(account="000011112222", region="eu-west-1")
    row = _normalize(event, info=info).frame.row(0, named=True)
    assert (row["account"], row["region"]) == ("000011112222", "eu-west-1")


def test_normalize_flags_insight_events() -> None:
    insight = {
        "eventVersion": "1.07",
        "eventTime": "2026-10-01T10:00:00Z",
        "eventType": "AwsCloudTrailInsight",
        "awsRegion": "us-east-1",
        "eventID": "i",
        "recipientAccountId": "012345678901",
        "insightDetails": {"state": "Start"},
    }
    assert _normalize(make_event(), insight).frame["is_insight"].to_list() == [False, True]


def test_normalize_rejects_invalid_utf8() -> None:
    raw = json.dumps(make_event()).encode().replace(b"ListRoles", b"List\xffRoles")
    out = normalize([ObjectRecords("f", _NO_KEY, [(0, raw, None)])])
    assert out.frame.is_empty() and "UTF-8" in out.rejected[0][2]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("2026-10-01T10:00:00Z", None),
        ("2026-10-01T10:00:00.250Z", None),
        ("2026-10-01T10:00:00.5Z", "2026-10-01T10:00:00.5Z"),
        ("2026-10-01T12:00:00+02:00", "2026-10-01T12:00:00+02:00"),
        ("2026-10-01 10:00:00Z", "2026-10-01 10:00:00Z"),
    ],
)
def test_normalize_keeps_an_event_time_spelling_cloudtrail_would_not_write(
    text: str, kept: str | None
) -> None:
    row = _normalize(make_event(eventTime=text)).frame.row(0, named=True)
    assert row["event_time_text"] == kept


def test_normalize_keeps_no_event_time_text_for_a_logstash_timestamp() -> None:
    event = make_event()
    del event["eventTime"]
    event["@timestamp"] = "2026-10-01T12:00:00+02:00"
    assert _normalize(event).frame["event_time_text"].to_list() == [None]
