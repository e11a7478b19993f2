"""Unaliased `stats` outputs are named by their text, and later commands can use that text."""

from __future__ import annotations

import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.errors import QueryError
from tests.conftest import make_event

RECORDS = [make_event(eventName=n) for n in ("A", "A", "A", "B", "C", "C")]


def test_sort_and_filter_by_an_unaliased_aggregation() -> None:
    result = ch.query(
        "stats count(*) by eventName | filter count(*) > 1 | sort count(*) desc", RECORDS
    )
    assert result.columns == ["eventName", "count(*)"]
    assert result.rows() == [("A", 3), ("C", 2)]


def test_aggregation_text_matches_ignoring_spaces() -> None:
    result = ch.query("stats count() by eventName | sort count( ) asc | limit 1", RECORDS)
    assert result.rows() == [("B", 1)]


def test_aggregation_not_produced_by_stats_is_an_error() -> None:
    with pytest.raises(QueryError, match="only be used in `stats`"):
        ch.query("stats count() by eventName | sort sum(x) desc", RECORDS)


def test_two_stats_columns_with_one_name_is_an_error() -> None:
    with pytest.raises(QueryError, match="names two columns 'e'") as caught:
        ch.query("stats count(*) as n by eventName as e, awsRegion as e", RECORDS)
    assert (caught.value.line, caught.value.column) == (1, 1)


def test_format_date_in_a_time_zone() -> None:
    result = ch.query('fields formatDate(@timestamp, "%H:%M", "Europe/Paris") as t', RECORDS[:1])
    assert result["t"].to_list() == ["12:00"]  # make_event's 10:00 UTC in October (CEST)
    with pytest.raises(QueryError, match="unknown time zone 'Mars/Base'"):
        ch.query('fields formatDate(@timestamp, "%H", "Mars/Base") as t', RECORDS)
