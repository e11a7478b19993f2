"""`hunt()`: run the rule pack over a lake or raw logs for a time range, with the site's tuning."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import engine, registry
from cloudtrail_hunt.detect.model import Computed, Detection
from cloudtrail_hunt.detect.site import Site, site_from_org_json
from cloudtrail_hunt.lake import AsOf, Lake, latest_time, to_utc
from cloudtrail_hunt.source import Source, is_log_events, open_source, resolve_lake

#: The window before the hunted range that baselines learn from (the guide's 30 days).
BASELINE = timedelta(days=30)


def default_site(source: Source) -> Site:
    """The organisation facts beside raw logs (`side_inputs/org.json`), else none."""
    # A synthetic trail (and a site that mirrors its layout) carries its org facts beside it.
    if isinstance(source, Lake):
        source = source.uri if source.is_local else ""
    if isinstance(source, str | Path) and not str(source).startswith("s3://"):
        org = Path(source) / "side_inputs" / "org.json"
        if org.is_file():
            return site_from_org_json(org)
    return Site()


def default_side_inputs(source: Source) -> Path | None:
    """The `side_inputs/` folder beside raw logs, if there is one."""
    if isinstance(source, Lake):
        source = source.uri if source.is_local else ""
    if isinstance(source, str | Path) and (Path(source) / "side_inputs").is_dir():
        return Path(source) / "side_inputs"
    return None


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
    as_of: AsOf = None,
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
    as_of
        Hunt the lake as it was at this version (int) or time.

    Returns
    -------
    pl.DataFrame
        The findings (:data:`cloudtrail_hunt.detect.findings.FINDING_SCHEMA`) plus
        `lake_version`: the version of the lake's `events` table read (null for a frame), so
        the hunt can be re-run on exactly the data it saw (``as_of=lake_version``).
    """
    chosen = registry.select(pack if pack is not None else registry.load(), detections)
    lo, hi = to_utc(start), to_utc(end)
    lake: Lake | None = None
    frame: pl.LazyFrame | None = None
    if isinstance(source, Lake) or (isinstance(source, str | Path) and not is_log_events(source)):
        # Resolved once and pinned: every read below sees the same version of the lake.
        lake = resolve_lake(source, as_of=as_of)[0].pinned()
    else:
        frame = open_source(source)
    # A lake finds its latest event in its last day partition alone.
    trail_end = lake.latest_event() if lake is not None else None
    if lo is None or hi is None:
        if frame is not None:
            trail_end = latest_time(frame)
        day, next_day = _last_day(trail_end)
        lo, hi = lo or day, hi or next_day
    # Read as much history as the longest baseline of the chosen detections needs; a lake
    # opens only the days from there on, so a one-day hunt costs the same on a year.
    history = max(
        [BASELINE] + [s.lookback for d in chosen for s in d.signals if isinstance(s, Computed)]
    )
    if lake is not None:
        frame = lake.scan(start=lo - history)
    assert frame is not None
    frame = frame.filter(pl.col(schema.EVENT_TIME) >= lo - history)
    found = engine.run(
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
    version = lake.version if lake is not None else None
    return found.with_columns(pl.lit(version, pl.Int64).alias("lake_version"))
