"""Query errors carry their position, a caret under the query line, a hint, and survive pickling.

Positions are counted by hand from the query text (1-based lines and columns); the YAML cases in
`cases/errors.yaml` check the messages, these tests check the attributes.
"""

from __future__ import annotations

import pickle
from typing import TypeVar

import polars as pl
import pytest

import cloudtrail_hunt
from cloudtrail_hunt.errors import (
    QueryError,
    QueryFieldError,
    QuerySyntaxError,
    QueryUnsupportedError,
)
from cloudtrail_hunt.source import records_frame
from tests.conftest import make_event


@pytest.fixture(scope="module")
def source() -> pl.LazyFrame:
    return records_frame(
        [
            make_event(eventID="e1", eventName="ConsoleLogin", awsRegion="us-east-1"),
            make_event(eventID="e2", eventName="ConsoleLogin", awsRegion="eu-west-1"),
            make_event(eventID="e3", eventName="GetUser", awsRegion="eu-west-1"),
        ]
    )


E = TypeVar("E", bound=QueryError)


def fail(text: str, source: pl.LazyFrame, error: type[E]) -> E:
    with pytest.raises(error) as caught:
        cloudtrail_hunt.query(text, source)
    return caught.value


# ── syntax errors: line, column, caret, what was expected ────────────────────────────────────


def test_unterminated_string_full_message(source: pl.LazyFrame) -> None:
    # `| filter eventName = ` is 21 characters: the quote is in column 22 of line 2.
    text = 'fields eventName\n| filter eventName = "ConsoleLogin\n| limit 5'
    error = fail(text, source, QuerySyntaxError)
    assert (error.line, error.column) == (2, 22)
    assert str(error) == (
        "query line 2, column 22: unterminated string; expected a closing quote\n"
        '| filter eventName = "ConsoleLogin\n' + " " * 21 + "^"
    )


def test_query_ending_early_points_after_the_last_character(source: pl.LazyFrame) -> None:
    text = "fields eventName\n| filter eventName ="
    error = fail(text, source, QuerySyntaxError)
    assert (error.line, error.column) == (2, 21)
    assert error.reason == "the query ends too early"
    assert error.hint == "expected an expression"
    assert error.context == "| filter eventName =\n" + " " * 20 + "^"


def test_unbalanced_parenthesis_expects_a_closing_one(source: pl.LazyFrame) -> None:
    error = fail('filter (eventName = "A"', source, QuerySyntaxError)
    assert (error.line, error.column) == (1, 24)
    assert error.hint == "expected `)`"


def test_unexpected_token_names_it_and_what_was_expected(source: pl.LazyFrame) -> None:
    # `in` wants a list: column 21 is the string after `in`.
    error = fail('filter eventName in "A"', source, QuerySyntaxError)
    assert (error.line, error.column) == (1, 21)
    assert error.reason == "unexpected '\"A\"'"
    assert error.hint == "expected `[`"
    assert str(error).endswith('filter eventName in "A"\n' + " " * 20 + "^")


def test_caret_line_expands_tabs_to_one_column(source: pl.LazyFrame) -> None:
    error = fail('fields eventName\n|\tfilter eventName = "x', source, QuerySyntaxError)
    assert (error.line, error.column) == (2, 22)
    assert error.context == '| filter eventName = "x\n' + " " * 21 + "^"


# ── unknown names and their suggestions ──────────────────────────────────────────────────────


def test_unknown_command_suggests_the_closest(source: pl.LazyFrame) -> None:
    error = fail('fields eventName\n| fitler eventName = "x"', source, QuerySyntaxError)
    assert (error.line, error.column) == (2, 3)
    assert error.reason == "unknown command 'fitler'"
    assert error.hint == "did you mean 'filter'?"
    assert error.context == '| fitler eventName = "x"\n  ^'


def test_unknown_command_without_a_close_match_lists_the_commands(source: pl.LazyFrame) -> None:
    error = fail("zzzzzz eventName", source, QuerySyntaxError)
    assert (error.line, error.column) == (1, 1)
    assert error.hint is not None
    assert error.hint.startswith("expected one of fields, display, filter")


def test_unknown_aggregation_suggests_count(source: pl.LazyFrame) -> None:
    error = fail("stats cout() as n by eventName", source, QueryError)
    assert type(error) is QueryError
    assert (error.line, error.column) == (1, 7)
    assert error.reason == "unknown function 'cout'"
    assert error.hint == "did you mean 'count'?"


def test_unknown_function_suggests_its_documented_spelling(source: pl.LazyFrame) -> None:
    error = fail('fields startwith(eventName, "Get") as ok', source, QueryError)
    assert (error.line, error.column) == (1, 8)
    assert error.hint == "did you mean 'startsWith'?"


def test_misspelt_field_suggests_the_known_field(source: pl.LazyFrame) -> None:
    error = fail("fields eventName, userIdentity.arm", source, QueryFieldError)
    assert isinstance(error, QueryFieldError)
    assert (error.field, error.suggestion) == ("userIdentity.arm", "userIdentity.arn")
    assert (error.line, error.column) == (1, 19)
    assert str(error) == (
        "query line 1, column 19: unknown field 'userIdentity.arm'; "
        "did you mean 'userIdentity.arn'?"
    )


def test_field_differing_only_in_case_suggests_the_camel_case(source: pl.LazyFrame) -> None:
    error = fail('filter eventname = "x"', source, QueryFieldError)
    assert isinstance(error, QueryFieldError)
    assert error.suggestion == "eventName"
    assert (error.line, error.column) == (1, 8)


def test_unknown_top_level_field_far_from_any_known_one_is_empty(source: pl.LazyFrame) -> None:
    # CloudWatch shows an empty column for a field no event has; only near-misses are errors.
    result = cloudtrail_hunt.query("fields somethingElseEntirely | limit 1", source)
    assert result.rows() == [(None,)]


# ── two stats (§5.4) ─────────────────────────────────────────────────────────────────────────


def test_two_stats_are_allowed(source: pl.LazyFrame) -> None:
    text = "stats count(*) as n by eventName, awsRegion | stats count(*) as regions by eventName"
    result = cloudtrail_hunt.query(text + " | sort regions desc", source)
    assert result.rows() == [("ConsoleLogin", 2), ("GetUser", 1)]


def test_third_stats_is_an_error_at_its_position(source: pl.LazyFrame) -> None:
    text = "stats count(*) as n by eventName | stats count(*) as m by n | stats count(*) as k"
    error = fail(text, source, QueryError)
    assert error.reason == "a query may hold at most two `stats` commands"
    assert (error.line, error.column) == (1, 63)


@pytest.mark.parametrize(
    ("between", "name"), [("sort n desc", "sort"), ("limit 5", "limit")], ids=["sort", "limit"]
)
def test_sort_and_limit_only_after_the_second_stats(
    source: pl.LazyFrame, between: str, name: str
) -> None:
    text = f"stats count(*) as n by eventName\n| {between}\n| stats sum(n) as total"
    error = fail(text, source, QueryError)
    assert error.reason == f"`{name}` may only follow the second `stats`"
    assert (error.line, error.column) == (2, 3)


def test_second_stats_sees_only_what_the_first_produced(source: pl.LazyFrame) -> None:
    text = "stats count(*) as n by eventName\n| stats count(*) as m by awsRegion"
    error = fail(text, source, QueryFieldError)
    assert isinstance(error, QueryFieldError)
    assert error.field == "awsRegion"
    assert error.reason == "field not produced by `stats`"
    assert (error.line, error.column) == (2, 26)


def test_bin_in_the_second_stats(source: pl.LazyFrame) -> None:
    text = "stats count(*) as n by bin(5m)\n| stats max(n) as peak by bin(1h)"
    error = fail(text, source, QueryError)
    assert error.reason == "`bin` cannot be used in the second `stats`"
    assert (error.line, error.column) == (2, 27)
    assert error.hint is not None and "datefloor" in error.hint


# ── dedup, parse, regex ──────────────────────────────────────────────────────────────────────


def test_only_limit_may_follow_dedup(source: pl.LazyFrame) -> None:
    error = fail("fields eventName | dedup eventName | sort eventName asc", source, QueryError)
    assert error.reason == "only `limit` may follow `dedup`"
    assert (error.line, error.column) == (1, 38)


def test_limit_after_dedup_is_fine(source: pl.LazyFrame) -> None:
    result = cloudtrail_hunt.query("fields eventName | dedup eventName | limit 5", source)
    assert sorted(result["eventName"].to_list()) == ["ConsoleLogin", "GetUser"]


def test_glob_star_and_name_count_mismatch(source: pl.LazyFrame) -> None:
    error = fail('parse @message "user=* days=*" as user', source, QuerySyntaxError)
    assert error.reason == "the glob has 2 `*` but 1 names follow `as`"
    assert error.hint == "give one name per `*`"
    assert (error.line, error.column) == (1, 16)
    assert isinstance(error, QuerySyntaxError)
    assert error.context == 'parse @message "user=* days=*" as user\n' + " " * 15 + "^"


def test_invalid_regex_lookahead(source: pl.LazyFrame) -> None:
    error = fail("filter eventName like /^(?!Get)/", source, QuerySyntaxError)
    assert (error.line, error.column) == (1, 23)
    assert error.reason.startswith("invalid regex /^(?!Get)/: ")
    assert "look-around" in error.reason


# ── unsupported commands ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "construct", "column"),
    [
        ("fields @message | pattern @message", "pattern", 19),
        ("fields eventName | diff previousDay", "diff", 20),
        ("fields eventName | anomaly", "anomaly", 20),
        ("SOURCE logGroups(namePrefix: ['a']) | fields eventName", "SOURCE", 1),
        ("fields eventName | lookup t k OUTPUT v", "lookup", 20),
    ],
    ids=["pattern", "diff", "anomaly", "SOURCE", "lookup"],
)
def test_unsupported_command_is_named(
    source: pl.LazyFrame, text: str, construct: str, column: int
) -> None:
    error = fail(text, source, QueryUnsupportedError)
    assert isinstance(error, QueryUnsupportedError)
    assert error.construct == construct
    assert (error.line, error.column) == (1, column)
    assert str(error).startswith(f"query line 1, column {column}: `{construct}` is not supported")


# ── pickling ─────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('fields eventName\n| filter eventName = "x', QuerySyntaxError),
        ("fields userIdentity.arm", QueryFieldError),
        ("fields eventName | pattern @message", QueryUnsupportedError),
        ("stats cout() as n", QueryError),
    ],
    ids=["syntax", "field", "unsupported", "query"],
)
def test_errors_survive_pickling(source: pl.LazyFrame, text: str, error: type[QueryError]) -> None:
    raised = fail(text, source, error)
    copy = pickle.loads(pickle.dumps(raised))
    assert type(copy) is type(raised)
    assert str(copy) == str(raised)
    assert repr(copy) == repr(raised)
    assert (copy.line, copy.column, copy.reason, copy.hint) == (
        raised.line,
        raised.column,
        raised.reason,
        raised.hint,
    )


def test_unknown_aggregation_suggests_its_documented_spelling(source: pl.LazyFrame) -> None:
    error = fail("stats sortsFrist(eventName) as f", source, QueryError)
    assert error.hint == "did you mean 'sortsFirst'?"
