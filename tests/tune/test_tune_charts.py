"""Every chart kind of the tuning renders to PNG offline; its data is what was aggregated, and
log text holding HTML or script shows escaped."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import pytest

from cloudtrail_hunt.charts import save_chart
from cloudtrail_hunt.tune import charts
from cloudtrail_hunt.tune.backtest import backtest
from cloudtrail_hunt.tune.recommend import recommend
from tests.tune.conftest import DAY0, DAYS, Burst, bursts_frame

SIGNAL = "aws-iam-07-permission-boundary/create-role-without-boundary-burst"
HOSTILE = "arn:aws:iam::111122223333:user/<script>alert(1)</script>"
END = DAY0 + timedelta(days=DAYS)


def _values(chart: alt.TopLevelMixin) -> list[list[dict[str, Any]]]:
    spec = chart.to_dict()
    layers = spec.get("layer", [spec])
    datasets = spec.get("datasets", {})
    out = []
    for layer in layers:
        data = layer.get("data", spec.get("data", {}))
        out.append(data.get("values") or datasets.get(data.get("name"), []))
    return out


def _png(chart: alt.TopLevelMixin, tmp_path: Path, name: str) -> None:
    out = save_chart(chart, tmp_path / f"{name}.png")
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.fixture(scope="module")
def result() -> Any:
    bursts = [Burst(HOSTILE, DAY0 + timedelta(days=d, hours=1), 5) for d in range(0, 10)] + [
        Burst("arn:aws:iam::111122223333:user/dev", DAY0 + timedelta(days=3, hours=9), 3)
    ]
    return backtest(bursts_frame(bursts), SIGNAL, ["count=3..6"], end=END)


def test_tradeoff_curve_draws_each_setting_and_the_budget(result: Any, tmp_path: Path) -> None:
    choice = recommend(result, ["tickets=1/day"])
    chart = charts.tradeoff(result, choice)
    points, _, rule = _values(chart)
    assert [p["setting"] for p in points] == choice.table["setting"].to_list()
    worst = dict(zip(choice.table["setting"], choice.table["tickets=1/day"], strict=True))
    assert {p["setting"]: p["alerts"] for p in points} == worst
    assert worst["count=3"] == 2 and worst["count=6"] == 0
    assert rule == [{"budget": 1}]
    _png(chart, tmp_path, "tradeoff")


def test_daily_alerts_per_setting(result: Any, tmp_path: Path) -> None:
    chart = charts.daily_alerts(result)
    (rows,) = _values(chart)
    assert len(rows) == 4 * DAYS
    by_setting: dict[str, int] = {}
    for row in rows:
        by_setting[row["setting"]] = by_setting.get(row["setting"], 0) + row["alerts"]
    assert by_setting == {"count=3": 11, "count=4": 10, "count=5": 10, "count=6": 0}
    _png(chart, tmp_path, "daily")


def test_entity_distribution_shows_the_threshold_and_escapes_log_text(
    result: Any, tmp_path: Path
) -> None:
    peaks = charts.peaks(result)
    assert peaks.group_by("principal").agg(pl.col("in_window").max()).sort("principal").rows() == [
        ("arn:aws:iam::111122223333:user/<script>alert(1)</script>", 5),
        ("arn:aws:iam::111122223333:user/dev", 3),
    ]
    chart = charts.entity_distribution(peaks, "principal", "in_window", 3, "peaks")
    bars, rule = _values(chart)
    assert rule == [{"threshold": 3}]
    observed = {(b["principal"], b["in_window"]): b["observations"] for b in bars}
    assert observed[(HOSTILE, 5)] == 10 and observed[("arn:aws:iam::111122223333:user/dev", 3)] == 1
    _png(chart, tmp_path, "distribution")
    page = save_chart(chart, tmp_path / "distribution.html").read_text()
    assert "<script>alert(1)" not in page and "\\u003cscript\\u003ealert(1)" in page


def test_ratio_series_and_the_3x_line(tmp_path: Path) -> None:
    days = [date(2026, 9, 1) + timedelta(days=i) for i in range(5)]
    frame = pl.DataFrame(
        {
            "account": "1",
            "role": [HOSTILE] * 5,
            "day": days,
            "distinct": [1, 1, 1, 9, 9],
            "ratio": [1.0, 1.0, 1.0, 2.1, 3.3],
        }
    )
    chart = charts.ratio_series(frame)
    series, line = _values(chart)
    assert [r["ratio"] for r in series] == [1.0, 1.0, 1.0, 2.1, 3.3]
    assert line == [{"line": 3.0}]
    _png(chart, tmp_path, "ratio")


def test_cadence_heatmap_is_account_by_day_and_keeps_the_busiest(tmp_path: Path) -> None:
    days = [date(2026, 9, 1) + timedelta(days=i) for i in range(3)]
    frame = pl.DataFrame(
        {
            "account": [a for a in ("a1", "a2", "a3") for _ in days],
            "day": days * 3,
            "logins": [0, 1, 0, 0, 0, 0, 2, 2, 0],
            "without_mfa": [0] * 9,
        }
    )
    chart = charts.cadence_heatmap(frame, top=2)
    (cells,) = _values(chart)
    assert sorted({c["account"] for c in cells}) == ["a1", "a3"]
    assert sum(c["logins"] for c in cells) == 5 and len(cells) == 6
    assert "the 2 busiest of 3 accounts" in chart.to_dict()["title"]
    _png(chart, tmp_path, "heatmap")


def test_a_distribution_of_many_entities_is_aggregated_to_the_top_few() -> None:
    frame = pl.DataFrame({"principal": [f"p{i}" for i in range(500)], "roles": list(range(500))})
    (bars, _) = _values(charts.entity_distribution(frame, "principal", "roles", 3))
    assert len({b["principal"] for b in bars}) == charts.TOP + 1  # the top ones and "other"
