"""Promoted JSON fields read by msgspec must equal what `json_path_match` reads, odd values too."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_series_equal

from cloudtrail_hunt.ingest.normalize import _promoted_columns

PARTS = [
    b'{"userName":"a","roleName":"r"}',
    b'{"userName":"\\u00e9\\n\\u0000","region":"eu-west-1"}',
    b'{"userName":"a","userName":"b"}',  # duplicate key: the last wins in both readers
    b'{"user\\u004eame":"q"}',  # escaped key
    b"{}",
    b'{"userName":null}',
    None,
]
ODD = [b'{"userName":5}', b'{"userName":{"x":1}}', b'{"userName":1.5e300}', b'"text"', b"[1]"]


@pytest.mark.parametrize("texts", [PARTS, PARTS + ODD, ODD])
def test_promoted_columns_match_json_path_match(texts: list[bytes | None]) -> None:
    part = pl.Series("requestParameters", texts, dtype=pl.Binary).cast(pl.String)
    frame = pl.DataFrame([part])
    got = frame.select(*_promoted_columns("requestParameters", texts).values())
    for column in got.columns:
        expected = part.str.json_path_match(f"$.{column.split('.', 1)[1]}").alias(column)
        assert_series_equal(got[column], expected)
