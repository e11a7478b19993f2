"""The lake is a set of plain Delta tables: Polars, pyarrow and DuckDB read it without us."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

import cloudtrail_hunt as ch
from tests.ingest.trails import small_trail


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("interop")
    small_trail(tmp / "src", days=3)
    ch.ingest(tmp / "src", tmp / "lake", workers=1)
    return tmp / "lake"


def _ours(lake: Path) -> list[tuple[str, object, int]]:
    frame = ch.scan(lake).group_by("account", "day").agg(pl.len().alias("n")).collect()
    return sorted(frame.rows())


def test_polars_scan_delta_reads_the_events_table(lake: Path) -> None:
    frame = pl.scan_delta(str(lake / "events"))
    assert frame.collect_schema()["account"] == pl.String
    got = frame.group_by("account", "day").agg(pl.len().alias("n")).collect()
    assert sorted(got.rows()) == _ours(lake) and len(_ours(lake)) == 2 * 3


def test_duckdb_reads_the_events_table_through_pyarrow(lake: Path) -> None:
    events = DeltaTable(str(lake / "events")).to_pyarrow_dataset()  # noqa: F841 (read by DuckDB)
    con = duckdb.connect()
    got = con.sql("SELECT account, day, count(*) AS n FROM events GROUP BY account, day").fetchall()
    assert sorted(got) == _ours(lake)
    ((leading,),) = con.sql("SELECT min(account) FROM events").fetchall()
    assert leading == "012345678901"  # account ids stay text, leading zero included
    ((hashes,),) = con.sql("SELECT count(DISTINCT md5(message)) FROM events").fetchall()
    assert hashes == ch.scan(lake).select(pl.len()).collect().item()


def test_an_old_version_reads_through_pyarrow_too(lake: Path, tmp_path: Path) -> None:
    table = DeltaTable(str(lake / "events"))
    version = table.version()
    table.load_as_version(0)  # the empty table ingest created first
    assert table.to_pyarrow_dataset().count_rows() == 0
    table.load_as_version(version)
    assert table.to_pyarrow_dataset().count_rows() == ch.scan(lake).collect().height
