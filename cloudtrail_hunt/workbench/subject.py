"""Who the workbench looks at: a principal, an access key or a finding, and when.

A finding is named by its id (:func:`cloudtrail_hunt.detect.findings.finding_id`); an id carries
no time, so finding it means hunting the whole trail once (or looking it up in findings the
caller already has).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.errors import CloudTrailHuntError
from cloudtrail_hunt.ingest.lake import to_utc
from cloudtrail_hunt.source import Source, open_source

_SPAN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
ARN = "userIdentity.arn"
KEY = "userIdentity.accessKeyId"
ISSUER = "userIdentity.sessionContext.sessionIssuer.arn"


def parse_span(text: str | timedelta) -> timedelta:
    """``"2h"``, ``"30m"``, ``"7d"`` (or a timedelta) as a timedelta."""
    if isinstance(text, timedelta):
        return text
    match = _SPAN.match(str(text))
    if match is None:
        where, msg = "--before/--after", f"invalid time span {text!r}"
        raise CloudTrailHuntError(where, msg, "expected a number and s, m, h, d or w")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True, slots=True)
class Subject:
    """What to look at: one of principal, access key or finding, and the instant to centre on."""

    principal: str | None = None
    access_key: str | None = None
    finding: Mapping[str, Any] | None = None
    at: datetime | None = None
    #: eventIDs the finding cites (marked in a timeline, always included in evidence).
    evidence_ids: tuple[str, ...] = field(default=())

    def label(self) -> str:
        if self.finding is not None:
            return f"finding {self.finding['id']}"
        return f"access key {self.access_key}" if self.access_key else f"principal {self.principal}"

    def events(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The subject's events in `frame`: by key, else by principal (a role's ARN matches its
        sessions), plus a finding's evidence events."""
        names = frame.collect_schema().names()
        if self.access_key is not None:
            match = pl.col(KEY) == self.access_key
        else:
            match = pl.col(ARN) == self.principal
            for extra in (ISSUER, "userIdentity.invokedBy"):
                if extra in names:
                    match = match | (pl.col(extra) == self.principal)
        if self.evidence_ids:
            match = match | pl.col("eventID").is_in(list(self.evidence_ids))
        return frame.filter(match.fill_null(False))


def subject(
    source: Source,
    *,
    principal: str | None = None,
    access_key: str | None = None,
    finding: str | Mapping[str, Any] | None = None,
    findings: pl.DataFrame | None = None,
    at: datetime | str | None = None,
) -> Subject:
    """The subject named by exactly one of `principal`, `access_key`, `finding` (an id or a
    findings row); a finding gives its principal and, unless `at` is given, its first_seen."""
    given = [x for x in (principal, access_key, finding) if x is not None]
    if len(given) != 1:
        where, msg = "arguments", "give exactly one of principal, access key or finding"
        raise CloudTrailHuntError(where, msg)
    instant = to_utc(at)
    if finding is None:
        return Subject(principal=principal, access_key=access_key, at=instant)
    row = finding if isinstance(finding, Mapping) else find_finding(source, finding, findings)
    evidence = tuple(e["event_id"] for e in row.get("evidence") or [] if e.get("event_id"))
    keys = _evidence_keys(source, evidence)
    return Subject(
        principal=row.get("principal"),
        # A finding about one credential (a single access key in its evidence) follows the key:
        # the principal of an assumed role names every session of the role.
        access_key=keys[0] if len(keys) == 1 and row.get("principal") is None else None,
        finding=row,
        at=instant or row.get("first_seen"),
        evidence_ids=evidence,
    )


def _evidence_keys(source: Source, event_ids: tuple[str, ...]) -> list[str]:
    if not event_ids:
        return []
    frame = open_source(source).filter(pl.col("eventID").is_in(list(event_ids)))
    keys = frame.select(pl.col(KEY).drop_nulls().unique().sort()).collect()
    return keys[KEY].to_list()


def trail_range(source: Source) -> tuple[datetime, datetime] | None:
    """The first event's instant and one microsecond past the last (None for no events)."""
    column = pl.col(schema.EVENT_TIME)
    bounds = open_source(source).select(column.min().alias("lo"), column.max().alias("hi"))
    lo, hi = bounds.collect().row(0)
    if lo is None:
        return None
    return lo, hi + timedelta(microseconds=1)


def hunt_all(source: Source) -> pl.DataFrame:
    """Every finding of the whole trail, with the site facts and side inputs beside it."""
    from cloudtrail_hunt.detect.findings import FINDING_SCHEMA
    from cloudtrail_hunt.detect.hunt import hunt

    span = trail_range(source)
    if span is None:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    return hunt(source, start=span[0], end=span[1])


def find_finding(
    source: Source, finding_id: str, findings: pl.DataFrame | None = None
) -> dict[str, Any]:
    """The findings row with this id: from `findings`, else by hunting the whole trail."""
    table = findings if findings is not None else hunt_all(source)
    rows = table.filter(pl.col("id") == finding_id).to_dicts()
    if not rows:
        where = str(source) if isinstance(source, str | Path) else "the source"
        msg = f"no finding with id {finding_id!r}"
        raise CloudTrailHuntError(where, msg, "list ids with `cloudtrail-hunt hunt --format jsonl`")
    return rows[0]
