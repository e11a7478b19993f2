"""Finding ids name what a finding is: equal across re-runs and however the range is cut
(issue 14, acceptance 1)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from cloudtrail_hunt.detect import findings as rendering
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.site import site_from_org_json
from tests.conftest import SAMPLE_LOGS

ORG = json.loads((SAMPLE_LOGS / "side_inputs" / "org.json").read_text())
FIRST, LAST = (date.fromisoformat(d) for d in ORG["windows"]["hunt"])


def _hunt(lake: Path, start: date, end: date) -> pl.DataFrame:
    return hunt(
        lake,
        start=start,
        end=end,
        site=site_from_org_json(SAMPLE_LOGS / "side_inputs" / "org.json"),
        side_inputs=SAMPLE_LOGS / "side_inputs",
    )


@pytest.fixture(scope="module")
def whole(sample_lake: Path) -> pl.DataFrame:
    return _hunt(sample_lake, FIRST, LAST + timedelta(days=1))


def test_ids_are_unique_and_equal_across_reruns(whole: pl.DataFrame, sample_lake: Path) -> None:
    assert whole.height > 10
    assert whole["id"].null_count() == 0 and whole["id"].n_unique() == whole.height
    again = _hunt(sample_lake, FIRST, LAST + timedelta(days=1))
    assert again["id"].to_list() == whole["id"].to_list()


def test_day_by_day_hunts_name_the_same_findings(whole: pl.DataFrame, sample_lake: Path) -> None:
    days = [FIRST + timedelta(days=k) for k in range((LAST - FIRST).days + 1)]
    daily = pl.concat([_hunt(sample_lake, d, d + timedelta(days=1)) for d in days])
    # Each finding opens on one day: the daily hunts together find the month's findings.
    assert sorted(daily["id"]) == sorted(whole["id"])
    assert daily["id"].n_unique() == daily.height


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_id_is_a_key_of_every_machine_format(whole: pl.DataFrame, fmt: str) -> None:
    out = io.BytesIO()
    rendering.write(whole, fmt, out)
    data = out.getvalue()
    if fmt == "jsonl":
        ids = [json.loads(line)["id"] for line in data.decode().splitlines()]
    elif fmt == "csv":
        ids = pl.read_csv(io.BytesIO(data))["id"].to_list()
    else:
        ids = pl.read_parquet(io.BytesIO(data))["id"].to_list()
    assert ids == whole["id"].to_list()
    assert "id" in rendering.STABLE_KEYS
