"""The lake as readers see it: partition pruning, predicate pushdown, string account ids."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.errors import LakeError
from tests.ingest.trails import small_trail


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("lake")
    small_trail(tmp / "src", days=3)
    ch.ingest(tmp / "src", tmp / "lake", workers=1)
    return tmp / "lake"


def test_scan_opens_only_the_days_in_range(lake: Path) -> None:
    frame = ch.scan(lake, start=date(2026, 10, 2), end=date(2026, 10, 3), accounts=["012345678901"])
    plan = frame.explain()
    assert "day=2026-10-02" in plan
    assert "day=2026-10-01" not in plan and "day=2026-10-03" not in plan
    assert "account" in plan[plan.index("Parquet SCAN") :]  # the account filter reaches the scan
    rows = frame.select("day", "account").unique().collect()
    assert rows.rows() == [(date(2026, 10, 2), "012345678901")]


def test_a_day_is_clustered_so_one_account_reads_a_fraction_of_its_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    from cloudtrail_hunt.ingest import lake as writer

    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 4)
    small_trail(tmp_path / "src", days=1, objects_per_day=3)  # 12 rows per account and region
    ch.ingest(tmp_path / "src", tmp_path / "lake", workers=1)
    (path,) = (tmp_path / "lake/events").rglob("*.parquet")
    meta = pq.ParquetFile(path).metadata
    column = meta.schema.to_arrow_schema().get_field_index("account")
    ranges = [
        (meta.row_group(i).column(column).statistics.min,
         meta.row_group(i).column(column).statistics.max)
        for i in range(meta.num_row_groups)
    ]  # fmt: skip
    assert meta.num_row_groups == 48 // 4
    assert all(lo == hi for lo, hi in ranges)  # each row group holds one account
    wanted = [r for r in ranges if r[0] <= "012345678901" <= r[1]]
    assert len(wanted) == meta.num_row_groups // 2  # the other account's groups are skipped
    got = ch.scan(tmp_path / "lake", accounts=["012345678901"]).collect()
    assert got.height == 24 and set(got["account"]) == {"012345678901"}


def test_scan_pushes_the_time_filter_into_the_parquet_scan(lake: Path) -> None:
    start = datetime(2026, 10, 2, 6, tzinfo=UTC)
    frame = ch.scan(lake, start=start).filter(pl.col("eventName") == "GetUser").select("eventTime")
    plan = frame.explain()
    scan_part = plan[plan.index("Parquet SCAN") :]
    assert "SELECTION" in scan_part and "eventTime" in scan_part and "eventName" in scan_part
    assert "PROJECT" in scan_part
    times = frame.collect()["eventTime"]
    assert times.min() >= start and times.len() > 0


def test_scan_end_is_exclusive_and_accepts_iso_text(lake: Path) -> None:
    got = ch.scan(lake, start="2026-10-01T00:00:00Z", end="2026-10-01T06:00:00Z").collect()
    assert got.height > 0
    assert got["eventTime"].max() < datetime(2026, 10, 1, 6, tzinfo=UTC)


def test_scan_keeps_account_ids_as_text_with_leading_zeros(lake: Path) -> None:
    schema = ch.scan(lake).collect_schema()
    assert schema["account"] == pl.String and schema["day"] == pl.Date
    assert "012345678901" in set(ch.scan(lake).select("account").collect()["account"])


def test_scan_of_a_folder_that_is_not_a_lake_says_so(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="not a cloudtrail-hunt lake") as info:
        ch.scan(tmp_path)
    assert info.value.path == str(tmp_path)


def test_scan_of_an_empty_range_is_an_empty_frame_with_the_lake_schema(lake: Path) -> None:
    empty = ch.scan(lake, start=date(2030, 1, 1)).collect()
    assert empty.is_empty() and empty.schema == ch.scan(lake).collect_schema()


def test_latest_event_is_the_lakes_maximum_event_time(lake: Path, sample_lake: Path) -> None:
    from cloudtrail_hunt.ingest.lake import latest_event

    for root in (lake, sample_lake):
        expected = ch.scan(root).select(pl.col("eventTime").max()).collect().item()
        assert expected is not None
        assert latest_event(root) == expected


def test_latest_event_of_an_empty_lake_is_none(tmp_path: Path) -> None:
    from cloudtrail_hunt.ingest.lake import latest_event

    (tmp_path / "empty").mkdir()
    ch.ingest(tmp_path / "empty", tmp_path / "lake")
    assert latest_event(tmp_path / "lake") is None


def test_partition_files_are_sorted_by_time_then_source_whatever_the_input_order(
    tmp_path: Path,
) -> None:
    import gzip
    import json

    from tests.conftest import make_event

    day = tmp_path / "src/AWSLogs/012345678901/CloudTrail/us-east-1/2026/10/01"
    day.mkdir(parents=True)
    times = ["10:05", "10:01", "10:03", "10:01"]  # out of order, with a tie inside the object
    for name, shift in (("a", 0), ("b", 1)):
        records = [
            make_event(eventTime=f"2026-10-01T{t}:0{shift}Z", eventID=f"{name}{i}")
            for i, t in enumerate(times)
        ]
        records.append(make_event(eventTime="2026-10-01T10:01:00Z", eventID=f"{name}-tie"))
        (day / f"012345678901_CloudTrail_us-east-1_{name}.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": records}).encode())
        )
    ch.ingest(tmp_path / "src", tmp_path / "lake", workers=1)
    (path,) = (tmp_path / "lake/events").rglob("*.parquet")
    rows = pl.read_parquet(path).select("account", "region", "eventTime", "source", "source_index")
    assert rows.height == 10
    assert rows.equals(rows.sort("account", "region", "eventTime", "source", "source_index"))
