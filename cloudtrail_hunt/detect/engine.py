"""The detection engine: signals → allow-lists → windowed counts → tiers → suppression → findings.

One scan of the lake keeps the rows that pass some signal's cheap gate (a hunt's candidates are
a tiny share of the trail); every signal's match expression is then evaluated on those rows
alone, so JSON parsing and Python callbacks never see the rest of the trail. Thresholds run on
those few rows, group by group: sliding-window counts over time-sorted matches, suppression,
batches and digests. Computed signals (side inputs, baselines) get a HuntContext instead.

The range is ``[start, end)``; events before ``start`` are read as far back as the longest
window, suppression or digest period needs, so a finding does not depend on where a hunt's
range begins. Suppression is a state machine per group (a finding opens a suppression period;
matches inside it join that finding): its state is rebuilt from one period before ``start``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.detect.findings import FINDING_SCHEMA, finding_id
from cloudtrail_hunt.detect.model import (
    Computed,
    Detection,
    HuntContext,
    Signal,
    Threshold,
    Tier,
)
from cloudtrail_hunt.detect.site import Site
from cloudtrail_hunt.errors import DetectionError
from cloudtrail_hunt.ingest.lake import latest_time

_TIME, _ID, _SOURCE, _INDEX = "__time", "__event_id", "__source", "__index"
_BURST = "__burst"
_PRINCIPAL, _ACCOUNT, _RESOURCE = "principal", "account", "resource"


@dataclass(frozen=True, slots=True)
class Tuning:
    """Site overrides for one detection: thresholds by signal and tier, extra allow-list entries."""

    thresholds: Mapping[tuple[str, Tier], Mapping[str, Any]]
    allow: Mapping[str, frozenset[str]]


NO_TUNING = Tuning({}, {})


def run(
    frame: pl.LazyFrame,
    detections: Sequence[Detection],
    *,
    start: datetime,
    end: datetime,
    site: Site | None = None,
    tuning: Mapping[str, Tuning] | None = None,
    side_inputs: Path | None = None,
    baseline: timedelta = timedelta(days=30),
    trail_end: datetime | None = None,
) -> pl.DataFrame:
    """Run `detections` over `frame` and return the findings that fired in ``[start, end)``.

    `trail_end` is the time of the trail's latest event when the caller knows it cheaply (a
    lake's ledger); otherwise the scan reads it from `frame`.
    """
    tuning = tuning or {}
    site = site or Site()
    plans = [
        (
            detection,
            signal,
            [tuned(t, tuning.get(detection.id, NO_TUNING), signal) for t in signal.thresholds],
        )
        for detection in detections
        for signal in detection.signals
        if isinstance(signal, Signal)
    ]
    lookback = plans_lookback(plans, baseline)
    scan = _scan(frame, detections, start - lookback, end, site, trail_end)
    findings: list[dict[str, Any]] = []
    for detection, signal, thresholds in plans:
        # A signal's matches, allow-lists and learned baseline do not depend on the tier.
        allow = tuning.get(detection.id, NO_TUNING).allow
        rows, learned = signal_rows(scan.matches, detection, signal, allow, baseline)
        for threshold in thresholds:
            findings += window(rows, learned, detection, signal, threshold, start, end)
    for detection in detections:
        for computed in detection.signals:
            if isinstance(computed, Computed):
                context = HuntContext(
                    scan.events(detection, computed),
                    start,
                    end,
                    site,
                    side_inputs,
                    baseline,
                    scan.trail_end,
                )
                for finding in _computed(detection, computed, context):
                    finding["id"] = finding_id(finding)  # event signals get theirs in `window`
                    findings.append(finding)
    out = pl.DataFrame(findings, schema=FINDING_SCHEMA)
    return out.sort(["first_seen", "detection", "signal", "tier", "principal"], nulls_last=True)


# ── Steps of `run` callable on their own (the backtest of cloudtrail_hunt.tune replays one scan
# and one match pass through `window` for each setting of a grid) ────────────────────────────


def plans_lookback(
    plans: Iterable[tuple[Detection, Signal, Sequence[Threshold]]], baseline: timedelta
) -> timedelta:
    """How far before the range `run` reads for these (detection, signal, thresholds) plans.

    Every signal reads the baseline window before the range, not just its own window: a chain
    of suppressed matches or overlapping windows that began there is then judged as a hunt over
    the whole history would judge it. The scan reads that window for the baseline anyway, so
    the longer reach costs only the few extra matches.
    """
    lookback = baseline
    for _, signal, thresholds in plans:
        lookback = max([lookback, *(t.lookback for t in thresholds)])
        if signal.unless_after is not None:
            lookback = max(lookback, signal.unless_after[1])
    return lookback


def match_pass(
    frame: pl.LazyFrame,
    detections: Sequence[Detection],
    *,
    lo: datetime,
    hi: datetime,
    site: Site,
) -> pl.DataFrame:
    """The engine's one scan and match pass over ``[lo, hi)``: every event signal's matches."""
    # Only computed signals read the trail's end; giving `hi` spares the scan reading it.
    return _scan(frame, detections, lo, hi, site, trail_end=hi).matches


def signal_rows(
    matches: pl.DataFrame,
    detection: Detection,
    signal: Signal,
    allow: Mapping[str, frozenset[str]],
    baseline: timedelta,
) -> tuple[pl.DataFrame, str | None]:
    """One signal's matches after allow-lists, `unless_after` and its learned allow-list."""
    rows = _signal_rows(matches, detection, signal, allow)
    learned = None
    if signal.learn_allow is not None:
        rows, learned = _learned(rows, signal.learn_allow, baseline)
    return rows, learned


def window(
    rows: pl.DataFrame,
    learned: str | None,
    detection: Detection,
    signal: Signal,
    threshold: Threshold,
    start: datetime,
    end: datetime,
    records: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The findings of one threshold over a signal's rows (from `signal_rows`) in the range.

    `records` is ``rows.to_dicts()`` when the caller windows the same rows many times."""
    found = _findings(rows, detection, signal, threshold, start, end, records)
    for finding in found:
        if learned is not None:
            finding["baseline"] = learned
        finding["id"] = finding_id(finding)
    return found


# ── end of the steps of `run` ──────────────────────────────────────────────────────────────────


def _computed(detection: Detection, signal: Computed, context: HuntContext) -> list[dict[str, Any]]:
    out = []
    for row in signal.evaluate(context):
        if not context.start <= row["first_seen"] < context.end:
            continue
        if row["tier"] not in signal.tiers:
            msg = f"signal {signal.name} produced tier {row['tier']!r}, not one of its tiers"
            raise DetectionError(detection.id, msg)
        out.append(
            {
                "detection": detection.id,
                "signal": signal.name,
                "tier": str(row["tier"]),
                "severity": str(detection.severity),
                "account": row.get("account"),
                "principal": row.get("principal"),
                "resource": row.get("resource"),
                "first_seen": row["first_seen"],
                "last_seen": row.get("last_seen", row["first_seen"]),
                "count": len(row["evidence"]),
                "threshold": row.get("threshold"),
                "baseline": row.get("baseline"),
                "evidence": row["evidence"],
                "response": list(detection.response),
            }
        )
    return out


def _column(detection: Detection, signal: Signal | Computed) -> str:
    return f"{detection.id}/{signal.name}"


def _extra_columns(signal: Signal) -> set[str]:
    names = set(signal.allow_fields)
    if signal.learn_allow is not None:
        names.add(signal.learn_allow)
    for threshold in signal.thresholds:
        names.update(k for k in threshold.group_by if k not in {_ACCOUNT, _PRINCIPAL})
        if threshold.distinct is not None:
            names.add(threshold.distinct)
    return names


@dataclass(frozen=True, slots=True)
class _Scan:
    """What the engine's one pass over the lake collected."""

    frame: pl.LazyFrame  # the whole input, for computed signals without a gate
    matches: pl.DataFrame  # each event signal's flag, who, and what thresholds group on
    cut: pl.DataFrame  # the rows some gate passed, one flag column per gate
    trail_end: datetime | None

    def events(self, detection: Detection, signal: Computed) -> pl.LazyFrame:
        """What `signal` may read: its gated rows and declared columns, else the whole input."""
        if signal.gate is None:
            return self.frame
        columns = [*_ADDRESS, *signal.columns, *signal.gate.meta.root_names()]
        present = [c for c in dict.fromkeys(columns) if c in self.cut.columns]
        return self.cut.lazy().filter(pl.col(_gate_flag(detection, signal))).select(present)


#: Where an event is; every computed signal may read these for its evidence.
_ADDRESS = (schema.EVENT_TIME, "eventID", schema.SOURCE, schema.SOURCE_INDEX)
_SIGNAL_ROWS = "__signal_rows"


def _gate_flag(detection: Detection, signal: Computed) -> str:
    return f"__gate:{_column(detection, signal)}"


def _scan(
    frame: pl.LazyFrame,
    detections: Sequence[Detection],
    lo: datetime,
    hi: datetime,
    site: Site,
    trail_end: datetime | None,
) -> _Scan:
    """One pass over the lake for every signal.

    The scan keeps the rows of ``[lo, hi)`` that pass some event signal's gate and the rows
    that pass some computed signal's gate, each flagged; a column is kept only on the rows of
    the signals that read it. Each signal's match is then evaluated on its rows alone.
    """
    columns = frame.collect_schema().names()
    wanted: dict[str, pl.Expr] = {
        _TIME: pl.col(schema.EVENT_TIME),
        _ID: pl.col("eventID") if "eventID" in columns else pl.lit(None, pl.String),
        _SOURCE: pl.col(schema.SOURCE) if schema.SOURCE in columns else pl.lit(None, pl.String),
        _INDEX: pl.col(schema.SOURCE_INDEX).cast(pl.Int64)
        if schema.SOURCE_INDEX in columns
        else pl.lit(None, pl.Int64),
    }
    flags: list[str] = []
    gates: list[pl.Expr] = []
    # Who a match is about (and the columns thresholds group on) is computed after the scan,
    # on the matching rows only: a principal read from JSON must not parse every event.
    derived: dict[str, pl.Expr] = {}
    # Row flags of the cut, and which flags' rows each column is read on.
    cut_flags: dict[str, pl.Expr] = {}
    readers: dict[str, list[str]] = {}
    for detection in detections:
        for signal in detection.signals:
            if isinstance(signal, Computed):
                if signal.gate is not None:
                    flag = _gate_flag(detection, signal)
                    cut_flags[flag] = signal.gate.fill_null(False)
                    for column in [*signal.columns, *signal.gate.meta.root_names()]:
                        readers.setdefault(column, []).append(flag)
                continue
            name = _column(detection, signal)
            flags.append(name)
            gates.append(signal.candidates(site).fill_null(False))
            wanted[name] = signal.expression(site).fill_null(False)
            derived[f"{name}#principal"] = signal.principal.cast(pl.String)
            derived[f"{name}#account"] = signal.account.cast(pl.String)
            resource = signal.resource if signal.resource is not None else pl.lit(None)
            derived[f"{name}#resource"] = resource.cast(pl.String)
            if signal.unless_after is not None:
                flags.append(f"{name}#unless")
                gates.append(signal.unless_after[0].fill_null(False))
                wanted[f"{name}#unless"] = signal.unless_after[0].fill_null(False)
            for extra in _extra_columns(signal):
                derived.setdefault(extra, pl.col(extra).cast(pl.String))
    for expr in derived.values():
        for root in expr.meta.root_names():
            wanted.setdefault(root, pl.col(root))
    for root in {r for expr in wanted.values() for r in expr.meta.root_names()}:
        readers.setdefault(root, []).append(_SIGNAL_ROWS)
    in_range = (pl.col(schema.EVENT_TIME) >= lo) & (pl.col(schema.EVENT_TIME) < hi)
    cut_flags[_SIGNAL_ROWS] = in_range & pl.any_horizontal(gates) if gates else pl.lit(False)
    # A column is kept on the rows that read it only: the JSON text of the other events would
    # be most of the cut's memory.
    kept = [pl.col(c) for c in _ADDRESS if c in columns] + [
        pl.when(pl.any_horizontal(rows)).then(c).alias(c)
        for c, rows in sorted(readers.items())
        if c in columns and c not in _ADDRESS
    ]
    # The cut is computed columns filtered on, not a filter: pushed into the Parquet scan as
    # a predicate it evaluated 2.5x slower (Polars 2.1, bench/detect_bench.py's lake).
    # Streaming: the JSON columns a few signals read are never whole in memory.
    cut = (
        frame.with_columns(**cut_flags)
        .filter(pl.any_horizontal(list(cut_flags)))
        .select(*kept, *cut_flags)
        .collect(engine="streaming")
    )
    if trail_end is None:
        trail_end = latest_time(frame)
    matches = (
        cut.filter(pl.col(_SIGNAL_ROWS))
        .select(**wanted)
        .filter(pl.any_horizontal(pl.col(flags)) if flags else pl.lit(False))
        .sort(_TIME, maintain_order=True)
        .with_columns(**derived)
    )
    return _Scan(frame, matches, cut, trail_end)


def _signal_rows(
    matches: pl.DataFrame, detection: Detection, signal: Signal, allow: Mapping[str, frozenset[str]]
) -> pl.DataFrame:
    name = _column(detection, signal)
    rows = matches.filter(pl.col(name)).with_columns(
        pl.col(f"{name}#principal").alias(_PRINCIPAL),
        pl.col(f"{name}#account").alias(_ACCOUNT),
        pl.col(f"{name}#resource").alias(_RESOURCE),
    )
    for column, values in allow.items():
        if column not in rows.columns:
            continue
        rows = rows.filter(~pl.col(column).is_in(sorted(values)).fill_null(False))
    if signal.unless_after is not None and not rows.is_empty():
        guards = matches.filter(pl.col(f"{name}#unless")).select(
            pl.col(f"{name}#principal").alias("__guard_principal"),
            pl.col(_TIME).alias("__guard_time"),
        )
        period = signal.unless_after[1]
        rows = (
            rows.sort(_TIME)
            .join_asof(
                guards.sort("__guard_time"),
                left_on=_TIME,
                right_on="__guard_time",
                by_left=_PRINCIPAL,
                by_right="__guard_principal",
                strategy="backward",
                check_sortedness=False,  # sorted by time just above
            )
            .filter(
                pl.col("__guard_time").is_null() | (pl.col(_TIME) - pl.col("__guard_time") > period)
            )
            .drop("__guard_time")
        )
    return rows


def _learned(rows: pl.DataFrame, column: str, baseline: timedelta) -> tuple[pl.DataFrame, str]:
    """Drop matches whose `column` value already matched in the `baseline` before each of them.

    Each match is judged against its own prior window, so the result does not depend on where
    the hunted range starts.
    """
    if rows.is_empty():
        return rows, ""
    seen = (
        rows.select(pl.col(column).alias("__value"), pl.col(_TIME).alias("__seen"))
        .drop_nulls("__value")
        .sort("__seen")
    )
    kept = (
        rows.sort(_TIME)
        .join_asof(
            seen,
            left_on=_TIME,
            right_on="__seen",
            by_left=column,
            by_right="__value",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,  # both sides sorted just above
        )
        .filter(pl.col("__seen").is_null() | (pl.col(_TIME) - pl.col("__seen") > baseline))
        .drop("__seen")
    )
    days = baseline.days
    return kept, f"learned allow-list: {column} not seen matching in the prior {days} days"


def tuned(threshold: Threshold, tuning: Tuning, signal: Signal) -> Threshold:
    """`threshold` with the site's overrides for its signal and tier."""
    overrides = tuning.thresholds.get((signal.name, threshold.tier))
    if not overrides:
        return threshold
    return replace(threshold, **overrides)


def _findings(
    rows: pl.DataFrame,
    detection: Detection,
    signal: Signal,
    threshold: Threshold,
    start: datetime,
    end: datetime,
    records: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    if rows.is_empty():
        return []
    keys = list(threshold.group_by)
    hits = _hits(rows, threshold, keys, records)
    if threshold.batch is not None or threshold.digest is not None:
        grouped = _periods(hits, threshold, keys)
    else:
        grouped = _suppressed(hits, threshold, keys)
    out = []
    for group in grouped:
        # A finding belongs to the range in which it fired.
        if not start <= group["fired"] < end:
            continue
        times = [e[_TIME] for e in group["evidence"]]
        out.append(
            {
                "detection": detection.id,
                "signal": signal.name,
                "tier": str(group.get("tier", threshold.tier)),
                "severity": str(detection.severity),
                "account": group[_ACCOUNT],
                "principal": group[_PRINCIPAL],
                "resource": ", ".join(group[_RESOURCE]) or None,
                "first_seen": min(times),
                "last_seen": max(times),
                "count": len(group["evidence"]),
                "threshold": describe(threshold),
                "baseline": group.get("baseline"),
                "evidence": [
                    {k: e[k] for k in ("event_id", "source", "index")} for e in group["evidence"]
                ],
                "response": list(detection.response),
            }
        )
    return out


def describe(threshold: Threshold) -> str:
    """A threshold in words, e.g. ``3 events within 1h, suppress 1d``."""
    what = f"{threshold.count} distinct {threshold.distinct}" if threshold.distinct else None
    what = what or (f"{threshold.count} events" if threshold.count > 1 else "any event")
    parts = [what]
    if threshold.window is not None:
        parts.append(f"within {_text(threshold.window)}")
    for name in ("suppress", "batch", "digest"):
        value = getattr(threshold, name)
        if value is not None:
            parts.append(f"{name} {_text(value)}")
    return ", ".join(parts)


def _text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _evidence(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"event_id": row[_ID], "source": row[_SOURCE], "index": row[_INDEX], _TIME: row[_TIME]}


def _hits(
    rows: pl.DataFrame,
    threshold: Threshold,
    keys: list[str],
    records: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Each match that satisfies the threshold, with the events that made it fire."""
    records = rows.to_dicts() if records is None else records  # read only below
    if threshold.window is None and threshold.count == 1 and threshold.distinct is None:
        return [{**r, "evidence": [_evidence(r)]} for r in records]
    window = threshold.window or timedelta(days=36_500)
    hits = []
    # Matches are few: a sliding window per group over time-sorted rows is linear. The window
    # is closed at both ends: events exactly `window` apart are in one window.
    for group in _groups(records, keys).values():
        first = burst = 0
        for last, row in enumerate(group):
            # A burst: matches each within one window of the one before. It does not depend on
            # the count, so raising a count can only silence a burst, never split one.
            if last and row[_TIME] - group[last - 1][_TIME] > window:
                burst += 1
            while group[first][_TIME] < row[_TIME] - window:
                first += 1
            inside = group[first : last + 1]
            if threshold.distinct is None:
                size = len(inside)
            else:
                size = len({r[threshold.distinct] for r in inside if r[threshold.distinct]})
            if size >= threshold.count:
                hits.append({**row, _BURST: burst, "evidence": [_evidence(r) for r in inside]})
    hits.sort(key=lambda h: h[_TIME])
    return hits


def _groups(
    records: Iterable[dict[str, Any]], keys: list[str]
) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(record[k] for k in keys), []).append(record)
    return groups


def _open(hit: dict[str, Any]) -> dict[str, Any]:
    return {
        _ACCOUNT: hit[_ACCOUNT],
        _PRINCIPAL: hit[_PRINCIPAL],
        _RESOURCE: [hit[_RESOURCE]] if hit[_RESOURCE] is not None else [],
        "fired": hit[_TIME],
        "evidence": list(hit["evidence"]),
    }


def _join(finding: dict[str, Any], hit: dict[str, Any]) -> None:
    if hit[_RESOURCE] is not None and hit[_RESOURCE] not in finding[_RESOURCE]:
        finding[_RESOURCE].append(hit[_RESOURCE])
    seen = {(e["source"], e["index"], e["event_id"]) for e in finding["evidence"]}
    for event in hit["evidence"]:
        if (event["source"], event["index"], event["event_id"]) not in seen:
            finding["evidence"].append(event)


def _suppressed(
    hits: list[dict[str, Any]], threshold: Threshold, keys: list[str]
) -> list[dict[str, Any]]:
    """One finding per hit, or per suppression period: later hits in the period join it."""
    out = []
    for group in _groups(hits, keys).values():
        current: dict[str, Any] | None = None
        for hit in group:
            period = threshold.suppress
            if (
                current is not None
                and period is not None
                and hit[_TIME] < current["fired"] + period
            ):
                _join(current, hit)
                continue
            if (
                current is not None
                and threshold.window is not None
                and period is None
                and hit.get(_BURST) == current[_BURST]
            ):
                # The firing windows of one burst are one finding, not one per event.
                _join(current, hit)
                continue
            current = _open(hit)
            current[_BURST] = hit.get(_BURST)
            out.append(current)
    return out


def _periods(
    hits: list[dict[str, Any]], threshold: Threshold, keys: list[str]
) -> list[dict[str, Any]]:
    """Batches and digests: one finding per group and period; digests escalate when repeated."""
    period = threshold.batch or threshold.digest
    assert period is not None
    out = []
    for group in _groups(hits, keys).values():
        buckets: dict[int, dict[str, Any]] = {}
        for hit in group:
            # Periods are aligned to Monday 1970-01-05 UTC, so weeks run Monday to Sunday.
            bucket = (hit[_TIME] - _EPOCH) // period
            if bucket in buckets:
                _join(buckets[bucket], hit)
            else:
                buckets[bucket] = _open(hit)  # reported in the range of its first match
        for bucket, entry in sorted(buckets.items()):
            if threshold.escalate_to is not None and bucket - 1 in buckets:
                entry["tier"] = threshold.escalate_to
            out.append(entry)
    return out


_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)
