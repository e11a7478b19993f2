"""`hunt()`: run the rule pack over a lake or raw logs for a time range, with the site's tuning."""

from __future__ import annotations

import tempfile
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import engine, registry
from cloudtrail_hunt.detect.model import Computed, Detection
from cloudtrail_hunt.detect.site import Site, site_from_org_json
from cloudtrail_hunt.errors import ConfigError
from cloudtrail_hunt.ingest import side_tables
from cloudtrail_hunt.lake import AsOf, Lake, latest_time, to_utc
from cloudtrail_hunt.lake_cache import cache_lake
from cloudtrail_hunt.source import Source, is_log_events, open_source, resolve_lake

#: The window before the hunted range that baselines learn from (the guide's 30 days).
BASELINE = timedelta(days=30)

# --- side inputs and organisation facts (issue 12) -------------------------------------------
#: What each detection needs beyond the trail: `site.<field>` organisation facts, and side
#: inputs by folder. Without them its signals err towards alerting or stay silent.
FACTS_NEEDED: dict[str, tuple[str, ...]] = {
    "aws-iam-02": ("site.automation_principals",),
    "aws-iam-03": ("site.management_account", "credential-reports"),
    "aws-iam-04": ("credential-reports",),
    "aws-iam-05": ("credential-reports", "config"),
    "aws-iam-06": ("site.accounts", "site.partner_accounts"),
    "aws-iam-07": ("site.boundary_arns",),
    "aws-iam-08": ("site.management_account", "site.allowed_regions"),
    "aws-iam-09": ("site.accounts", "site.partner_accounts", "access-analyzer"),
    "aws-iam-10": ("site.audit_roles", "credential-reports"),
}


class MissingFactsWarning(UserWarning):
    """The hunt lacks organisation facts or side inputs that some chosen detection needs."""


def missing_facts(chosen: list[Detection], site: Site, folder: Path | None) -> dict[str, list[str]]:
    """Fact → ids of the chosen detections that need it and do not have it."""
    out: dict[str, list[str]] = {}
    for detection in chosen:
        for fact in FACTS_NEEDED.get(detection.id[:10], ()):
            if fact.startswith("site."):
                present = bool(getattr(site, fact[5:]))
            else:
                present = folder is not None and any((folder / fact).glob("*"))
            if not present:
                out.setdefault(fact, []).append(detection.id)
    return out


def _warn_missing(missing: dict[str, list[str]]) -> None:
    if not missing:
        return
    needs = "; ".join(f"{fact} (needed by {', '.join(ids)})" for fact, ids in missing.items())
    warnings.warn(
        f"the hunt lacks {needs}; those signals err towards alerting or stay silent. Give "
        "organisation facts in --config [site] or side_inputs/org.json, side inputs beside the "
        "logs or with --side-inputs",
        MissingFactsWarning,
        stacklevel=3,
    )


def _require_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise ConfigError(
            key="side_inputs",
            reason=f"{str(folder)!r} is not a folder",
            hint="give the folder holding org.json, credential-reports/, access-analyzer/",
        )
    return folder


def _side_documents(lake: Lake | None, side_inputs: str | Path | None) -> dict[str, bytes]:
    """The side-input documents a hunt reads: the folder given, else the lake's side tables."""
    if side_inputs is not None:
        documents, bad = side_tables.usable_documents(_require_folder(Path(side_inputs)))
        for rel, reason in bad:
            warnings.warn(f"side input {rel} skipped: {reason}", stacklevel=3)
        return documents
    if lake is None or not lake.exists():
        return {}
    return side_tables.stored_documents(lake.uri, storage_options=lake.storage_options)


def _existing_lake(source: Source) -> Lake | None:
    """The lake `source` reads, without ingesting: itself, or raw logs' cache lake if built."""
    if isinstance(source, Lake):
        return source
    if not isinstance(source, str | Path) or is_log_events(source):
        return None
    for where in (source, cache_lake(source)):
        lake = Lake.open(where)
        if lake.exists():
            return lake
    return None


# --- end side inputs -------------------------------------------------------------------------


def site_of(source: Source, side_inputs: str | Path | None = None) -> Site:
    """The organisation facts a hunt over `source` uses (``org.json`` of its side inputs).

    The side inputs given, else the lake's side tables, else (raw logs not ingested yet) the
    ``side_inputs/`` folder beside them; no org.json gives an empty Site.
    """
    documents = _side_documents(_existing_lake(source), side_inputs)
    beside = Path(source) / "side_inputs" if isinstance(source, str | Path) else None
    if "org.json" not in documents and beside is not None and beside.is_dir():
        documents, _ = side_tables.usable_documents(beside)
    if "org.json" not in documents:
        return Site()
    with tempfile.TemporaryDirectory(prefix="cloudtrail-hunt-site-") as scratch:
        org = side_tables.materialise({"org.json": documents["org.json"]}, scratch) / "org.json"
        return site_from_org_json(org)


def lake_of(source: Source, as_of: AsOf = None) -> Lake | None:
    """The lake a hunt over `source` reads, resolved once and pinned (raw logs are ingested,
    events and side inputs, into their cache lake); None for a frame or CloudWatch log events."""
    if isinstance(source, Lake) or (isinstance(source, str | Path) and not is_log_events(source)):
        return resolve_lake(source, as_of=as_of)[0].pinned()
    return None


def _last_day(latest: datetime | None) -> tuple[datetime, datetime]:
    if latest is None:
        now = datetime.now().astimezone()
        return now - timedelta(days=1), now
    day = datetime(latest.year, latest.month, latest.day, tzinfo=latest.tzinfo)
    return day, day + timedelta(days=1)


def hunted_range(
    start: datetime | date | str | None,
    end: datetime | date | str | None,
    trail_end: datetime | None,
) -> tuple[datetime, datetime]:
    """The range a hunt covers: ``[start, end)``, each by default from the last day of data."""
    lo, hi = to_utc(start), to_utc(end)
    if lo is None or hi is None:
        day, next_day = _last_day(trail_end)
        lo, hi = lo or day, hi or next_day
    return lo, hi


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
        Folder of org.json, credential reports, Access Analyzer findings and Config
        evaluations; by default the side tables of the lake (ingest stores `<logs>/side_inputs`
        there), so a hunt over a lake and over its raw logs read the same documents.
    as_of
        Hunt the lake as it was at this version (int) or time.

    Returns
    -------
    pl.DataFrame
        The findings (:data:`cloudtrail_hunt.detect.findings.FINDING_SCHEMA`) plus
        `lake_version`: the version of the lake's `events` table read (null for a frame), so
        the hunt can be re-run on exactly the data it saw (``as_of=lake_version``).

    Warns
    -----
    MissingFactsWarning
        Once, naming the organisation facts and side inputs the chosen detections lack.
    """
    chosen = registry.select(pack if pack is not None else registry.load(), detections)
    lo, hi = to_utc(start), to_utc(end)
    if lo is not None and hi is not None and lo >= hi:
        raise ConfigError(key="start", reason=f"the range is empty: start {start} >= end {end}")
    if side_inputs is not None:
        _require_folder(Path(side_inputs))
    # Resolved once and pinned: every read below sees the same version of the lake.
    lake = lake_of(source, as_of)
    frame = open_source(source) if lake is None else None
    documents = _side_documents(lake, side_inputs)
    # A lake finds its latest event in its last day partition alone.
    trail_end = lake.latest_event() if lake is not None else None
    if (lo is None or hi is None) and frame is not None:
        trail_end = latest_time(frame)
    lo, hi = hunted_range(lo, hi, trail_end)
    # Read as much history as the longest baseline of the chosen detections needs; a lake
    # opens only the days from there on, so a one-day hunt costs the same on a year.
    history = max(
        [BASELINE] + [s.lookback for d in chosen for s in d.signals if isinstance(s, Computed)]
    )
    if lake is not None:
        frame = lake.scan(start=lo - history)
    assert frame is not None
    frame = frame.filter(pl.col(schema.EVENT_TIME) >= lo - history)
    # The detections parse side inputs from a folder: the documents are laid out in a scratch
    # one, so every way to hunt goes through the same parsers.
    with tempfile.TemporaryDirectory(prefix="cloudtrail-hunt-side-") as scratch:
        folder = side_tables.materialise(documents, scratch) if documents else None
        if site is None:
            org = folder / "org.json" if folder is not None else None
            site = site_from_org_json(org) if org is not None and org.is_file() else Site()
        _warn_missing(missing_facts(chosen, site, folder))
        found = engine.run(
            frame,
            chosen,
            start=lo,
            end=hi,
            site=site,
            tuning=tuning,
            side_inputs=folder,
            baseline=BASELINE,
            trail_end=trail_end,
        )
    version = lake.version if lake is not None else None
    return found.with_columns(pl.lit(version, pl.Int64).alias("lake_version"))
