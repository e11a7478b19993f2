"""`hunt()`: run the rule pack over a lake or raw logs for a time range, with the site's tuning."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import engine, registry
from cloudtrail_hunt.detect.model import Computed, Detection
from cloudtrail_hunt.detect.site import Site, site_from_org_json
from cloudtrail_hunt.ingest.lake import latest_event, latest_time, to_utc
from cloudtrail_hunt.source import Source, cache_lake, is_lake, is_log_events, open_source

#: The window before the hunted range that baselines learn from (the guide's 30 days).
BASELINE = timedelta(days=30)


def default_site(source: Source) -> Site:
    """The organisation facts beside raw logs (`side_inputs/org.json`), else none."""
    # A synthetic trail (and a site that mirrors its layout) carries its org facts beside it.
    if isinstance(source, str | Path):
        org = Path(source) / "side_inputs" / "org.json"
        if org.is_file():
            return site_from_org_json(org)
    return Site()


def default_side_inputs(source: Source) -> Path | None:
    """The `side_inputs/` folder beside raw logs, if there is one."""
    if isinstance(source, str | Path) and (Path(source) / "side_inputs").is_dir():
        return Path(source) / "side_inputs"
    return None


def _lake_of(source: Source) -> Path | None:
    """The lake a source reads from: itself, or the cache lake of raw logs (after open_source)."""
    if not isinstance(source, str | Path) or is_log_events(source):
        return None
    return Path(source) if is_lake(source) else cache_lake(source)


def _last_day(latest: datetime | None) -> tuple[datetime, datetime]:
    if latest is None:
        now = datetime.now().astimezone()
        return now - timedelta(days=1), now
    day = datetime(latest.year, latest.month, latest.day, tzinfo=latest.tzinfo)
    return day, day + timedelta(days=1)


def hunt(
    source: Source,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    detections: list[str] | None = None,
    site: Site | None = None,
    tuning: dict[str, engine.Tuning] | None = None,
    pack: list[Detection] | None = None,
    side_inputs: str | Path | None = None,
) -> pl.DataFrame:
    """Run the detections over ``[start, end)`` and return the findings.

    Parameters
    ----------
    source
        A lake, raw CloudTrail logs (ingested on the fly into a cache lake), or a frame.
    start, end
        The hunted range; without `start`, the last day of data. Events up to 30 days before
        `start` are read for windows, suppression and baselines.
    detections
        Detection ids (or `aws-iam-NN` prefixes) to run; all by default.
    site, tuning
        Organisation facts and per-detection overrides (see cloudtrail_hunt.config).
    pack
        The detections to choose from; the shipped rule pack by default.
    side_inputs
        Folder of credential reports, Access Analyzer findings and Config evaluations; by
        default `<source>/side_inputs` when it exists.
    """
    chosen = registry.select(pack if pack is not None else registry.load(), detections)
    lo, hi = to_utc(start), to_utc(end)
    frame = open_source(source)
    # A lake's ledger finds its latest event without scanning it.
    lake = _lake_of(source)
    trail_end = latest_event(lake) if lake is not None else None
    if lo is None or hi is None:
        if lake is None:
            trail_end = latest_time(frame)
        day, next_day = _last_day(trail_end)
        lo, hi = lo or day, hi or next_day
    # Read as much history as the longest baseline of the chosen detections needs.
    history = max(
        [BASELINE] + [s.lookback for d in chosen for s in d.signals if isinstance(s, Computed)]
    )
    frame = frame.filter(pl.col(schema.EVENT_TIME) >= lo - history)
    return engine.run(
        frame,
        chosen,
        start=lo,
        end=hi,
        site=site if site is not None else default_site(source),
        tuning=tuning,
        side_inputs=Path(side_inputs) if side_inputs else default_side_inputs(source),
        baseline=BASELINE,
        trail_end=trail_end,
    )
