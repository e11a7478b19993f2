"""The backtest replays a range through the hunt's engine: the current setting fires exactly
what `hunt` fires, every setting fires what `hunt` with that setting in the config fires, and
raising a count never adds alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.engine import Tuning
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.model import Signal, Tier
from cloudtrail_hunt.errors import ConfigError, DetectionError
from cloudtrail_hunt.tune.backtest import AXES, backtest, parse_grid
from tests.tune.conftest import DAY0, Burst, bursts_frame

PACK = registry.load()
EVENT_SIGNALS = [f"{d.id}/{s.name}" for d in PACK for s in d.signals if isinstance(s, Signal)]
BURST_SIGNAL = "aws-iam-07-permission-boundary/create-role-without-boundary-burst"


def _comparable(frame: pl.DataFrame) -> list[dict[str, Any]]:
    keep = [c for c in frame.columns if c != "setting"]
    return frame.select(keep).sort("first_seen", "principal", "account", "tier").to_dicts()


def _hunted(source: Any, name: str, start: datetime, end: datetime, **kw: Any) -> pl.DataFrame:
    detection, signal = name.split("/")
    found = hunt(source, start=start, end=end, detections=[detection], **kw)
    return found.filter(pl.col("signal") == signal)


def _assert_current_equals_hunt(source: Path) -> int:
    fired = 0
    for name in EVENT_SIGNALS:
        result = backtest(source, name)
        assert result.end - result.start == timedelta(days=30)
        current = result.findings.filter(pl.col("setting") == result.current.label)
        expected = _hunted(source, name, result.start, result.end)
        assert _comparable(current) == _comparable(expected), name
        fired += expected.height
    return fired


def test_current_setting_fires_what_hunt_fires_on_the_sample(sample_lake: Path) -> None:
    # Something must fire for the comparison to mean anything.
    assert _assert_current_equals_hunt(sample_lake) > 0


def test_current_setting_fires_what_hunt_fires_on_a_generated_trail(generated_lake: Path) -> None:
    assert _assert_current_equals_hunt(generated_lake) > 0


@pytest.mark.parametrize(
    ("name", "grid", "tier"),
    [
        (BURST_SIGNAL, ["count=2..4", "window=30m,2h"], Tier.TICKET),
        ("aws-iam-03-identity-center/iam-user-console-login", ["suppress=none,1h,3d"], Tier.PAGE),
        ("aws-iam-08-scp-deny-list/scp-denial-fenced-api", ["batch=10m,1d"], Tier.INFORMATIONAL),
        (BURST_SIGNAL, ["count=2", "group=principal,account", "tier=page,ticket"], Tier.TICKET),
        (
            "aws-iam-08-scp-deny-list/scp-denials-5-distinct-30min",
            ["count=3..5", "distinct=eventName,none"],
            Tier.PAGE,
        ),
    ],
)
def test_every_setting_fires_what_hunt_fires_with_it_in_the_config(
    sample_lake: Path, name: str, grid: list[str], tier: Tier
) -> None:
    result = backtest(sample_lake, name, grid, start=DAY_SAMPLE_START, end=DAY_SAMPLE_END)
    detection, signal = name.split("/")
    assert len(result.settings) == len(result.summary) > 2
    for setting in result.settings:
        # Tuning overrides any field of a threshold (the TOML config only the tunable ones).
        override = {k: getattr(setting.threshold, k) for k in AXES}
        tuning = {detection: Tuning({(signal, tier): override}, {})}
        expected = _hunted(sample_lake, name, result.start, result.end, tuning=tuning)
        mine = result.findings.filter(pl.col("setting") == setting.label)
        assert _comparable(mine) == _comparable(expected), setting.label


DAY_SAMPLE_START = datetime(2026, 10, 20, tzinfo=UTC)
DAY_SAMPLE_END = datetime(2026, 11, 5, tzinfo=UTC)


def test_the_report_counts_what_the_findings_hold(sample_lake: Path) -> None:
    result = backtest(sample_lake, BURST_SIGNAL, ["count=1..4"])
    for row in result.summary.iter_rows(named=True):
        mine = result.findings.filter(pl.col("setting") == row["setting"])
        assert (
            row["alerts"]
            == mine.height
            == result.daily.filter(pl.col("setting") == row["setting"])["alerts"].sum()
        )
        assert row["tickets"] == mine.height and row["pages"] == 0
        assert row["entities"] == mine.select("account", "principal").unique().height
    current = result.summary.filter(pl.col("current"))
    assert current["kept"].item() == current["alerts"].item() and current["dropped"].item() == 0
    assert result.daily.height == 4 * 30  # every day of the range, zeros included


def test_every_finding_records_the_lake_version_it_read(sample_lake: Path) -> None:
    from cloudtrail_hunt.lake import Lake

    result = backtest(sample_lake, BURST_SIGNAL, ["count=1..2"])
    assert result.findings.height > 0
    assert result.findings["lake_version"].to_list() == [Lake.open(sample_lake).version] * len(
        result.findings
    )
    # A frame has no version.
    frame = _events([(0, 60, 3)])
    found = backtest(frame, BURST_SIGNAL, end=DAY0 + timedelta(5)).findings
    assert found.height == 1 and found["lake_version"].null_count() == 1


def test_a_computed_signal_or_a_bad_grid_is_refused(sample_lake: Path) -> None:
    with pytest.raises(DetectionError, match="computed"):
        backtest(sample_lake, "aws-iam-06/distinct-role-assumers-3x-baseline")
    with pytest.raises(ConfigError, match="AXIS=VALUES"):
        parse_grid(["colour=red"])
    with pytest.raises(ConfigError, match="count must be at least 1"):
        backtest(sample_lake, BURST_SIGNAL, ["count=0,1"])


def test_parse_grid_reads_ranges_lists_and_none() -> None:
    grid = parse_grid(["count=3..5", "window=30m,none", "group=principal", "tier=page"])
    assert grid == {
        "count": [3, 4, 5],
        "window": [timedelta(minutes=30), None],
        "group_by": [("principal",)],
        "tier": [Tier.PAGE],
    }


# ── Laws ─────────────────────────────────────────────────────────────────────────────────────

_bursts = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 24 * 60 * 3), st.integers(1, 6)),
    min_size=1,
    max_size=12,
)


def _events(sorted_bursts: list[tuple[int, int, int]]) -> pl.LazyFrame:
    return bursts_frame(
        [
            Burst(f"arn:aws:iam::111122223333:user/u{who}", DAY0 + timedelta(minutes=m), size)
            for who, m, size in sorted_bursts
        ]
    )


def _event_ids(frame: pl.DataFrame) -> set[str]:
    return {e["event_id"] for ev in frame["evidence"].to_list() for e in ev}


@settings(max_examples=25)
@given(bursts=_bursts)
def test_raising_a_count_never_adds_alerts(bursts: list[tuple[int, int, int]]) -> None:
    result = backtest(
        _events(bursts), BURST_SIGNAL, ["count=1..7", "window=10m,1h"], end=DAY0 + timedelta(5)
    )
    summary = {(r["count"], r["window"]): r for r in result.summary.iter_rows(named=True)}
    for (count, window), row in summary.items():
        if count == "7":
            continue
        stricter = summary[(str(int(count) + 1), window)]
        assert stricter["alerts"] <= row["alerts"]
        assert stricter["entities"] <= row["entities"]
        looser = result.findings.filter(pl.col("setting") == row["setting"])
        strict = result.findings.filter(pl.col("setting") == stricter["setting"])
        assert _event_ids(strict) <= _event_ids(looser)


@settings(max_examples=25)
@given(bursts=_bursts)
def test_shrinking_a_window_never_adds_alerted_events_or_entities(
    bursts: list[tuple[int, int, int]],
) -> None:
    result = backtest(
        _events(bursts), BURST_SIGNAL, ["count=2..4", "window=5m,20m,1h"], end=DAY0 + timedelta(5)
    )
    by = {(r["count"], r["window"]): r["setting"] for r in result.summary.iter_rows(named=True)}
    for count in ("2", "3", "4"):
        for small, large in (("5m", "20m"), ("20m", "1h")):
            narrow = result.findings.filter(pl.col("setting") == by[(count, small)])
            wide = result.findings.filter(pl.col("setting") == by[(count, large)])
            assert _event_ids(narrow) <= _event_ids(wide)
            entities = {(r["account"], r["principal"]) for r in narrow.iter_rows(named=True)}
            assert entities <= {(r["account"], r["principal"]) for r in wide.iter_rows(named=True)}


def test_shrinking_a_window_can_split_one_burst_into_two_alerts() -> None:
    # Why the window law is about events and entities, not the number of alerts: the engine
    # makes one finding of a burst (matches each within one window of the one before), and a
    # narrower window can cut a burst in two.
    bursts = [(0, 60, 2), (0, 160, 2)]  # two pairs of events 25 minutes apart, 75 between
    result = backtest(
        _events(bursts), BURST_SIGNAL, ["count=2", "window=30m,2h"], end=DAY0 + timedelta(5)
    )
    grid = result.summary.filter(~pl.col("current"))  # the guide's 3-in-1h setting is there too
    alerts = dict(zip(grid["window"], grid["alerts"], strict=True))
    assert alerts == {"30m": 2, "2h": 1}
