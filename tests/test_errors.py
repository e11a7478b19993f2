"""Tests of cloudtrail_hunt.errors: attributes, full text, pickling, escaping of hostile values."""

from __future__ import annotations

import pickle

import pytest

from cloudtrail_hunt.errors import (
    LOG_VALUE_LIMIT,
    CloudTrailHuntError,
    ConfigError,
    DetectionError,
    IngestError,
    LakeError,
    ObjectError,
    QueryError,
    QueryFieldError,
    QuerySyntaxError,
    QueryUnsupportedError,
    RecordError,
    log_value,
)
from cloudtrail_hunt.escape import escape_for_terminal

KEY = "AWSLogs/o-abc123defg/012345678901/CloudTrail/us-east-1/2024/05/01/x.json.gz"

#: One instance per class, with the full text it must print.
CASES: list[tuple[CloudTrailHuntError, str]] = [
    (
        CloudTrailHuntError("ingest", "something broke", "rerun"),
        "ingest: something broke; rerun",
    ),
    (
        IngestError("s3://b/AWSLogs/", "cannot list: access denied (AccessDenied)"),
        "s3://b/AWSLogs/: cannot list: access denied (AccessDenied)",
    ),
    (
        ObjectError(f"s3://b/{KEY}", "no such object (NoSuchKey)", "list again"),
        f"s3://b/{KEY}: no such object (NoSuchKey); list again",
    ),
    (
        RecordError(KEY, 17, "invalid eventTime", value="2024-13-01", hint="expected ISO 8601"),
        f"{KEY}: record 17: invalid eventTime '2024-13-01'; expected ISO 8601",
    ),
    (
        QueryError("query too deep", hint="the limit is 64"),
        "query: query too deep; the limit is 64",
    ),
    (
        QuerySyntaxError(
            "unexpected token '|'",
            line=2,
            column=14,
            hint="expected a field name",
            context="| filter | x\n         ^",
        ),
        "query line 2, column 14: unexpected token '|'; expected a field name\n"
        "| filter | x\n         ^",
    ),
    (
        QueryFieldError("userIdentity.arm", line=1, column=8, suggestion="userIdentity.arn"),
        "query line 1, column 8: unknown field 'userIdentity.arm'; "
        "did you mean 'userIdentity.arn'?",
    ),
    (
        QueryUnsupportedError("parse … as", line=3, column=1, hint="use `parse @message`"),
        "query line 3, column 1: `parse … as` is not supported; use `parse @message`",
    ),
    (
        DetectionError("aws-iam-05-key-rotation", "threshold window must be positive"),
        "detection aws-iam-05-key-rotation: threshold window must be positive",
    ),
    (
        ConfigError(
            'detections."aws-iam-01-root-mfa".tier',
            "invalid tier 'urgent'",
            "expected one of 'page', 'ticket', 'informational', 'digest'",
            file="cloudtrail_hunt.toml",
        ),
        "cloudtrail_hunt.toml: detections.\"aws-iam-01-root-mfa\".tier: invalid tier 'urgent'; "
        "expected one of 'page', 'ticket', 'informational', 'digest'",
    ),
    (
        LakeError("/lake/_ledger", "ledger is locked by another ingest", "wait for it to end"),
        "/lake/_ledger: ledger is locked by another ingest; wait for it to end",
    ),
]


def _id(case: tuple[CloudTrailHuntError, str]) -> str:
    return type(case[0]).__name__


@pytest.mark.parametrize(("error", "text"), CASES, ids=[_id(c) for c in CASES])
def test_errors_full_text(error: CloudTrailHuntError, text: str) -> None:
    assert str(error) == text


@pytest.mark.parametrize(("error", "text"), CASES, ids=[_id(c) for c in CASES])
def test_errors_pickle_round_trip_keeps_class_attributes_and_text(
    error: CloudTrailHuntError, text: str
) -> None:
    error.add_note("while ingesting batch 3")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert vars(clone) == vars(error)
    assert str(clone) == text
    assert clone.__notes__ == ["while ingesting batch 3"]


def test_errors_every_class_is_covered_by_the_cases() -> None:
    def subclasses(cls: type) -> set[type]:
        return {cls}.union(*(subclasses(s) for s in cls.__subclasses__()))

    ours = {c for c in subclasses(CloudTrailHuntError) if c.__module__ == "cloudtrail_hunt.errors"}
    assert ours == {type(e) for e, _ in CASES}


def test_errors_hierarchy() -> None:
    assert issubclass(ObjectError, IngestError)
    assert issubclass(RecordError, IngestError)
    for cls in (QuerySyntaxError, QueryFieldError, QueryUnsupportedError):
        assert issubclass(cls, QueryError)
    assert issubclass(ConfigError, ValueError)
    for cls in (IngestError, QueryError, DetectionError, ConfigError, LakeError):
        assert issubclass(cls, CloudTrailHuntError)


def test_object_error_attributes() -> None:
    error = ObjectError("s3://b/k", "access denied (AccessDenied)", "check the policy")
    assert (error.source, error.reason, error.hint) == (
        "s3://b/k",
        "access denied (AccessDenied)",
        "check the policy",
    )
    assert (error.where, error.what) == ("s3://b/k", "access denied (AccessDenied)")


def test_record_error_attributes() -> None:
    error = RecordError("k.json.gz", 4, "missing eventTime")
    assert (error.source, error.index, error.reason, error.value, error.hint) == (
        "k.json.gz",
        4,
        "missing eventTime",
        None,
        None,
    )
    assert str(error) == "k.json.gz: record 4: missing eventTime"


def test_query_errors_attributes() -> None:
    syntax = QuerySyntaxError("unexpected end of query", line=1, column=30)
    assert (syntax.line, syntax.column, syntax.context) == (1, 30, None)
    field = QueryFieldError("eventNme", suggestion="eventName")
    assert (field.field, field.suggestion, field.line) == ("eventNme", "eventName", None)
    assert str(field) == "query: unknown field 'eventNme'; did you mean 'eventName'?"
    unsupported = QueryUnsupportedError("Regex")
    assert unsupported.construct == "Regex"
    assert str(unsupported) == "query: `Regex` is not supported"


def test_detection_config_lake_attributes() -> None:
    assert DetectionError("aws-iam-01-root-mfa", "bad").detection == "aws-iam-01-root-mfa"
    config = ConfigError("accounts", "invalid account id '12'")
    assert (config.key, config.file, config.hint) == ("accounts", None, None)
    assert str(config) == "accounts: invalid account id '12'"
    assert LakeError("/l", "x").path == "/l"


def test_errors_escape_ansi_and_control_characters_in_values() -> None:
    user_agent = "curl/8\x1b[2J\x1b]0;owned\x07\r\nINFO ok\u202etxt.exe"
    error = RecordError("k\x1b[31m\n.json", 0, "suspicious userAgent", value=user_agent)
    text = str(error)
    assert not any(ord(ch) < 0x20 or ch in "\x7f\u202e" for ch in text)
    for shown in ("\\x1b[2J", "\\x07", "\\r\\n", "\\u202e"):
        assert shown in text
    assert text.startswith("k\\x1b[31m\\n.json: record 0: suspicious userAgent ")


def test_errors_escape_every_attribute() -> None:
    bad = "\x1b[31mred\x1b[0m"
    for error in (
        ObjectError(bad, bad, bad),
        DetectionError(bad, bad, bad),
        ConfigError(bad, bad, bad, file=bad),
        LakeError(bad, bad, bad),
        QueryFieldError(bad, suggestion=bad, reason=bad),
        QuerySyntaxError(bad, 1, 1, bad, context=bad),
    ):
        assert "\x1b" not in str(error), type(error).__name__


def test_errors_log_values_are_cut_to_80_characters() -> None:
    long_value = "A" * 500
    text = str(RecordError("k", 1, "bad userAgent", value=long_value))
    shown = text.split("bad userAgent ", 1)[1]
    assert shown == "'" + "A" * (LOG_VALUE_LIMIT - 1) + "…'"


def test_log_value_quotes_like_repr_without_double_escaping() -> None:
    assert log_value("it's") == '"it\'s"'
    assert log_value("a\x1bb") == "'a\\x1bb'"
    assert log_value("both ' and \"") == "'both \\' and \"'"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("plain ascii", 80, "plain ascii"),
        ("tab\there", 80, "tab\\there"),
        ("nul\x00del\x7fc1\x9b", 80, "nul\\x00del\\x7fc1\\x9b"),
        ("bidi\u202eevil\u2066", None, "bidi\\u202eevil\\u2066"),
        ("line\u2028sep", None, "line\\u2028sep"),
        ("zero\u200bwidth", None, "zero\\u200bwidth"),
        ("surrogate\udcff", None, "surrogate\\udcff"),
        ("ünïcödé 日本 ok", 80, "ünïcödé 日本 ok"),
        ("abcdef", 6, "abcdef"),
        ("abcdefg", 6, "abcde…"),
        # An escape is never split: "\x1b" (4 characters) does not fit in the 2 left.
        ("abc\x1bdef", 6, "abc…"),
    ],
)
def test_escape_for_terminal(text: str, limit: int | None, expected: str) -> None:
    assert escape_for_terminal(text, limit) == expected


def test_escape_for_terminal_result_never_exceeds_limit() -> None:
    hostile = "\x1b" * 100
    for limit in range(1, 30):
        out = escape_for_terminal(hostile, limit)
        assert len(out) <= limit
        assert "\x1b" not in out


def test_escape_for_terminal_rejects_a_zero_limit() -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        escape_for_terminal("x", 0)
