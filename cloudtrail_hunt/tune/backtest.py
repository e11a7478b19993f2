"""Backtest a thresholded signal: what each setting of a grid would have fired over a range.

source ──► one scan and match pass (engine.match_pass) ──► per setting: engine.window ──► report.

The grid varies a signal's Threshold (count, window, distinct, group key, suppression, batch,
digest, tier routing); matching never depends on those, so the lake is read once and only the
windowing repeats. Each setting's findings are exactly what ``hunt(detections=[detection])``
would fire over the same range with that setting in the site config (tests/tune check it).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import engine, registry
from cloudtrail_hunt.detect.findings import FINDING_SCHEMA
from cloudtrail_hunt.detect.hunt import BASELINE, lake_of, site_of
from cloudtrail_hunt.detect.model import Computed, Detection, Signal, Threshold, Tier, duration
from cloudtrail_hunt.detect.site import Site
from cloudtrail_hunt.errors import ConfigError, DetectionError
from cloudtrail_hunt.lake import Lake, latest_time, to_utc
from cloudtrail_hunt.source import Source, open_source

__all__ = [
    "AXES",
    "Backtest",
    "Setting",
    "backtest",
    "default_range",
    "parse_grid",
    "resolve_signal",
]

#: The days a backtest replays by default: the guide's 30-day calibration window.
DEFAULT_RANGE = timedelta(days=30)
#: Threshold fields a grid may vary, in the order a setting's label shows them.
AXES = ("count", "window", "distinct", "group_by", "suppress", "batch", "digest", "tier")
_DURATIONS = ("window", "suppress", "batch", "digest")
_NONE = ("none", "-", "off")
_GRID, _SIGNAL, _SOURCE = "--grid", "--signal", "SOURCE"
Progress = Callable[[int, int], None]


def _usage(key: str, reason: str, hint: str | None = None) -> ConfigError:
    return ConfigError(key, reason, hint)


def _signal_error(where: str, reason: str, hint: str | None = None) -> DetectionError:
    return DetectionError(where, reason, hint)


@dataclass(frozen=True, slots=True)
class Setting:
    """One point of the grid: the signal's threshold with some fields changed."""

    threshold: Threshold
    label: str

    def value(self, axis: str) -> Any:
        """The setting's value on `axis`, as a label shows it."""
        return _show(axis, getattr(self.threshold, axis))


def _show(axis: str, value: Any) -> str:
    if value is None:
        return "none"
    if axis in _DURATIONS:
        return engine._text(value)
    if axis == "group_by":
        return "+".join(value)
    return str(value)


def _parse_value(axis: str, text: str) -> Any:
    text = text.strip()
    if axis in _DURATIONS or axis == "distinct":
        if text.lower() in _NONE:
            return None
        return duration(text) if axis in _DURATIONS else text
    if axis == "group_by":
        keys = tuple(k for k in re.split(r"[+ ]", text) if k)
        unknown = [k for k in keys if k not in ("account", "principal")]
        if unknown or not keys:
            msg = f"group key {text!r}; expected account, principal or account+principal"
            raise ValueError(msg)
        return keys
    if axis == "tier":
        return Tier(text)
    return int(text)


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """``["count=3..8", "window=30m,1h", "group_by=principal,account+principal"]`` as values.

    Counts take ranges (``3..8``) and lists; durations take ``none`` for no window or period.
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        axis, sep, values = spec.partition("=")
        axis = axis.strip().replace("-", "_")
        if axis == "group":
            axis = "group_by"
        if not sep or axis not in AXES:
            raise _usage(_GRID, f"{spec!r} is not AXIS=VALUES", f"axes: {', '.join(AXES)}")
        parsed: list[Any] = []
        for part in values.split(","):
            ranged = re.fullmatch(r"\s*(\d+)\.\.(\d+)\s*", part)
            try:
                if ranged and axis == "count":
                    parsed += range(int(ranged[1]), int(ranged[2]) + 1)
                else:
                    parsed.append(_parse_value(axis, part))
            except ValueError as error:
                raise _usage(_GRID, f"{spec!r}: {error}") from None
        if not parsed:
            raise _usage(_GRID, f"{spec!r} gives no values")
        grid[axis] = list(dict.fromkeys(grid.get(axis, []) + parsed))
    return grid


def settings(current: Threshold, grid: Mapping[str, Sequence[Any]]) -> list[Setting]:
    """The grid's settings around `current` (the current one always among them, and first
    when the grid does not hold it)."""
    axes = [a for a in AXES if a in grid]
    out: dict[Threshold, str] = {}
    for values in itertools.product(*(grid[a] for a in axes)):
        try:
            threshold = replace(current, **dict(zip(axes, values, strict=True)))
        except ValueError as error:
            text = " ".join(f"{a}={_show(a, v)}" for a, v in zip(axes, values, strict=True))
            raise _usage(_GRID, f"{text}: {error}") from None
        out.setdefault(threshold, "")
    shown = axes or ["count", "window"]
    chosen = list(out) if current in out else [current, *out]
    return [Setting(t, " ".join(f"{a}={_show(a, getattr(t, a))}" for a in shown)) for t in chosen]


def resolve_signal(name: str, pack: Sequence[Detection] | None = None) -> tuple[Detection, Signal]:
    """``DETECTION/SIGNAL`` (the detection may be its ``aws-iam-NN`` prefix) as objects."""
    detection_id, sep, signal_name = name.partition("/")
    if not sep:
        raise _usage(
            _SIGNAL,
            f"{name!r} is not DETECTION/SIGNAL",
            "e.g. aws-iam-07/create-role-without-boundary-burst",
        )
    chosen = registry.select(list(pack) if pack is not None else registry.load(), [detection_id])
    detection = chosen[0]
    signal = detection.signal(signal_name)
    if isinstance(signal, Computed):
        where = f"{detection.id}/{signal.name}"
        raise _signal_error(
            where,
            "a computed signal has no threshold to backtest",
            "see `cloudtrail-hunt calibrate` for its calibration",
        )
    return detection, signal


@dataclass(frozen=True, slots=True)
class Backtest:
    """What each setting fired over ``[start, end)``.

    ``summary``: one row per setting (its label, its threshold's fields, ``current``,
    ``alerts``, ``alerts_per_day``, ``max_per_day``, ``entities``, ``max_per_entity_week``,
    ``pages``, ``tickets``, ``kept`` and ``dropped`` of the current setting's findings, and
    ``new`` findings the current setting does not have). ``findings``: every setting's
    findings (the findings schema plus ``lake_version``, as `hunt` returns them, and
    ``setting``). ``daily``: alerts, pages and tickets per setting and UTC day, zeros included.
    ``changes``: one row per current finding and setting, ``kept`` when some finding of that
    setting shares an event with it.
    """

    detection: str
    signal: str
    start: datetime
    end: datetime
    settings: list[Setting]
    current: Setting
    summary: pl.DataFrame
    findings: pl.DataFrame
    daily: pl.DataFrame
    changes: pl.DataFrame
    matches: pl.DataFrame  # the signal's matches in the range (time, account, principal, ...)

    @property
    def days(self) -> float:
        """The length of the range in days."""
        return (self.end - self.start) / timedelta(days=1)


def default_range(
    frame: pl.LazyFrame | None,
    lake: Lake | None,
    start: datetime | None = None,
    end: datetime | None = None,
    days: timedelta = DEFAULT_RANGE,
) -> tuple[datetime, datetime]:
    """``[start, end)``: by default `end` is the end of the last day of data (of the lake,
    else of the frame) and `start` is `days` before it."""
    if end is None:
        if lake is not None:
            latest = lake.latest_event()
        else:
            latest = latest_time(frame) if frame is not None else None
        if latest is None:
            raise _usage(_SOURCE, "holds no events", "check the path or the --end date")
        end = datetime(latest.year, latest.month, latest.day, tzinfo=latest.tzinfo) + timedelta(
            days=1
        )
    return (start or end - days), end


def backtest(
    source: Source,
    signal: str,
    grid: Mapping[str, Sequence[Any]] | Iterable[str] | None = None,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    tier: str | None = None,
    site: Site | None = None,
    tuning: Mapping[str, engine.Tuning] | None = None,
    pack: Sequence[Detection] | None = None,
    on_progress: Progress | None = None,
) -> Backtest:
    """Replay ``[start, end)`` (default: the 30 days before `end`, itself by default the end
    of the last day of data) through the hunt's engine for each setting of `grid`.

    Parameters
    ----------
    source
        A lake, raw CloudTrail logs, or a frame (as for :func:`cloudtrail_hunt.hunt`).
    signal
        ``DETECTION/SIGNAL``, e.g. ``aws-iam-07/create-role-without-boundary-burst``.
    grid
        Axis to values (``{"count": [3, 4, 5], "window": [timedelta(hours=1)]}``) or specs
        (``["count=3..8", "window=30m,1h"]``); axes are :data:`AXES`. The current setting
        (the guide's, with the site's `tuning`) is always backtested too.
    tier
        Which of the signal's thresholds to vary, when it has several.
    site, tuning, pack
        As for `hunt`: organisation facts, the site config's overrides, the rule pack.
    on_progress
        Called with (done, total) as settings are windowed.
    """
    detection, sig = resolve_signal(signal, pack)
    tuning = tuning or {}
    detection_tuning = tuning.get(detection.id, engine.NO_TUNING)
    base = _threshold(detection, sig, tier)
    current = engine.tuned(base, detection_tuning, sig)
    if grid is not None and not isinstance(grid, Mapping):
        grid = parse_grid(grid)
    chosen = settings(current, grid or {})
    lake = lake_of(source)  # resolved once and pinned, as `hunt` does
    frame = open_source(source) if lake is None else None
    lo, hi = to_utc(start), to_utc(end)
    lo, hi = default_range(frame, lake, lo, hi)
    site = site if site is not None else site_of(lake if lake is not None else source)
    # What hunt(detections=[detection]) reads: its frame reaches back as far as the longest
    # baseline of the detection, and its scan as far as the detection's event signals need.
    history = max([BASELINE] + [s.lookback for s in detection.signals if isinstance(s, Computed)])
    reach = {
        s.threshold: min(history, _lookback(detection, sig, base, s.threshold, tuning))
        for s in chosen
    }
    if lake is not None:  # a lake opens only the days from there on, as `hunt` reads it
        frame = lake.scan(start=lo - history)
    assert frame is not None
    frame = frame.filter(pl.col(schema.EVENT_TIME) >= lo - history)
    alone = replace(detection, signals=(sig,))  # scan for this signal only
    matches = engine.match_pass(frame, [alone], lo=lo - max(reach.values()), hi=hi, site=site)
    rows_by_reach: dict[timedelta, tuple[pl.DataFrame, str | None, list[dict[str, Any]]]] = {}
    found: dict[str, list[dict[str, Any]]] = {}
    for done, setting in enumerate(chosen):
        back = reach[setting.threshold]
        if back not in rows_by_reach:
            scoped = matches.filter(pl.col(engine._TIME) >= lo - back)
            rows, learned = engine.signal_rows(scoped, alone, sig, detection_tuning.allow, BASELINE)
            rows_by_reach[back] = (rows, learned, rows.to_dicts())
        rows, learned, records = rows_by_reach[back]
        fired = engine.window(rows, learned, detection, sig, setting.threshold, lo, hi, records)
        # The order `hunt` sorts findings in; the report indexes the current ones by it.
        found[setting.label] = sorted(fired, key=_finding_order)
        if on_progress is not None:
            on_progress(done + 1, len(chosen))
    # Every finding records the version of the lake it read, as `hunt`'s do (null: a frame).
    version = lake.version if lake is not None else None
    findings = _findings_frame(found, list(detection.response), version)
    current_setting = next(s for s in chosen if s.threshold == current)
    in_range = rows_by_reach[reach[current]][0]
    summary, daily, changes = _report(findings, found, chosen, current_setting, lo, hi)
    return Backtest(
        detection=detection.id,
        signal=sig.name,
        start=lo,
        end=hi,
        settings=chosen,
        current=current_setting,
        summary=summary,
        findings=findings,
        daily=daily,
        changes=changes,
        matches=in_range.filter(pl.col(engine._TIME) >= lo).select(
            pl.col(engine._TIME).alias("eventTime"),
            "account",
            "principal",
            *[c for c in ("eventName",) if c in in_range.columns],
        ),
    )


def _threshold(detection: Detection, signal: Signal, tier: str | None) -> Threshold:
    where = f"{detection.id}/{signal.name}"
    if tier is None:
        if len(signal.thresholds) > 1:
            tiers = ", ".join(str(t.tier) for t in signal.thresholds)
            raise _signal_error(where, "has several thresholds", f"pick a tier: {tiers}")
        return signal.thresholds[0]
    for threshold in signal.thresholds:
        if str(threshold.tier) == tier:
            return threshold
    tiers = ", ".join(str(t.tier) for t in signal.thresholds)
    raise _signal_error(where, f"has no {tier} tier", f"one of {tiers}")


def _lookback(
    detection: Detection,
    signal: Signal,
    base: Threshold,
    setting: Threshold,
    tuning: Mapping[str, engine.Tuning],
) -> timedelta:
    """How far before the range hunt(detections=[detection]) scans with `setting` in force."""
    detection_tuning = tuning.get(detection.id, engine.NO_TUNING)
    plans = []
    for other in detection.signals:
        if not isinstance(other, Signal):
            continue
        thresholds = [engine.tuned(t, detection_tuning, other) for t in other.thresholds]
        if other is signal:
            thresholds = [
                setting if t == base else x
                for t, x in zip(other.thresholds, thresholds, strict=True)
            ]
        plans.append((detection, other, thresholds))
    return engine.plans_lookback(plans, BASELINE)


def _evidence_keys(evidence: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(e["source"], e["index"], e["event_id"]) for e in evidence}


def _finding_order(finding: dict[str, Any]) -> tuple[Any, ...]:
    principal = finding["principal"]
    return (finding["first_seen"], principal is None, principal or "")


def _findings_frame(
    found: dict[str, list[dict[str, Any]]], response: list[str], version: int | None
) -> pl.DataFrame:
    """Every setting's findings as one frame in the findings schema, plus ``lake_version``
    (as `hunt` returns them) and ``setting``."""
    # The guide's response is the same on every finding: added once, not built per row.
    columns = [c for c in FINDING_SCHEMA.names() if c != "response"]
    rows = [
        {**{c: f[c] for c in columns}, "setting": label}
        for label, fired in found.items()
        for f in fired
    ]
    schema = {c: FINDING_SCHEMA[c] for c in columns} | {"setting": pl.String()}
    frame = pl.DataFrame(rows, schema=schema)
    answer = pl.Series("response", [response], dtype=FINDING_SCHEMA["response"])
    return frame.with_columns(
        pl.lit(answer).first().alias("response"),
        pl.lit(version, pl.Int64).alias("lake_version"),
    ).select(*FINDING_SCHEMA.names(), "lake_version", "setting")


def _report(
    findings: pl.DataFrame,
    found: dict[str, list[dict[str, Any]]],
    chosen: list[Setting],
    current: Setting,
    start: datetime,
    end: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    days = (end - start) / timedelta(days=1)
    keys = {label: [_evidence_keys(f["evidence"]) for f in fired] for label, fired in found.items()}
    events = {label: set().union(*sets) for label, sets in keys.items()}
    mine = findings.filter(pl.col("setting") == current.label).with_row_index("finding")
    change_rows, rows = [], []
    for setting in chosen:
        frame = findings.filter(pl.col("setting") == setting.label)
        kept = [bool(k & events[setting.label]) for k in keys[current.label]]
        change_rows += [
            {"setting": setting.label, "finding": i, "kept": k} for i, k in enumerate(kept)
        ]
        new = sum(not (k & events[current.label]) for k in keys[setting.label])
        per_day = frame.group_by(pl.col("first_seen").dt.date()).len()
        per_entity_week = frame.group_by(
            "account", "principal", pl.col("first_seen").dt.truncate("1w")
        ).len()
        rows.append(
            {
                "setting": setting.label,
                **{a: _show(a, getattr(setting.threshold, a)) for a in AXES},
                "current": setting is current,
                "alerts": frame.height,
                "alerts_per_day": round(frame.height / days, 3) if days else 0.0,
                "max_per_day": int(per_day["len"].max() or 0),
                "entities": frame.select("account", "principal").unique().height,
                "max_per_entity_week": int(per_entity_week["len"].max() or 0),
                "pages": frame.filter(pl.col("tier") == "page").height,
                "tickets": frame.filter(pl.col("tier") == "ticket").height,
                "kept": sum(kept),
                "dropped": len(kept) - sum(kept),
                "new": new,
            }
        )
    summary = pl.DataFrame(rows)
    changes = (
        pl.DataFrame(
            change_rows, schema={"setting": pl.String, "finding": pl.UInt32, "kept": pl.Boolean}
        )
        .join(mine.select("finding", "account", "principal", "first_seen", "count"), on="finding")
        .sort("setting", "finding")
    )
    day_grid = pl.DataFrame({"setting": [s.label for s in chosen]}).join(
        pl.date_range(start.date(), (end - timedelta(microseconds=1)).date(), "1d", eager=True)
        .alias("day")
        .to_frame(),
        how="cross",
    )
    counted = findings.group_by("setting", pl.col("first_seen").dt.date().alias("day")).agg(
        pl.len().alias("alerts"),
        (pl.col("tier") == "page").sum().alias("pages"),
        (pl.col("tier") == "ticket").sum().alias("tickets"),
    )
    daily = (
        day_grid.join(counted, on=["setting", "day"], how="left")
        .with_columns(pl.col("alerts", "pages", "tickets").fill_null(0).cast(pl.Int64))
        .sort("setting", "day")
    )
    return summary, daily, changes
