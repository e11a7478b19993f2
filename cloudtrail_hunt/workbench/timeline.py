"""`timeline()`: what a principal or an access key did around a finding, in order.

Each event says whether it failed (and whether it was a denial), which findings cite it, and
whether it is the first time the subject was seen from that source IP, with that user agent or
in that region. "First" is judged against everything the trail holds for the subject before the
event, not only the window shown, so a new address stands out even late in a long session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.source import Source, open_source
from cloudtrail_hunt.workbench.subject import ARN, KEY, Subject, hunt_all, parse_span, subject

if TYPE_CHECKING:
    import altair as alt

__all__ = ["TIMELINE_COLUMNS", "timeline", "timeline_chart"]

#: The columns of a timeline, in order (`source`/`source_index` say where each event came from).
TIMELINE_COLUMNS = (
    schema.EVENT_TIME, "eventSource", "eventName", "outcome", "errorCode", "errorMessage",
    "awsRegion", "sourceIPAddress", "userAgent", ARN, KEY, "recipientAccountId", "eventID",
    "findings", "new_ip", "new_user_agent", "new_region", "notes",
    schema.SOURCE, schema.SOURCE_INDEX,
)  # fmt: skip
_DENIED = r"(?i)AccessDenied|Unauthorized|Forbidden"
_ORDER = [schema.EVENT_TIME, schema.SOURCE, schema.SOURCE_INDEX]
_NEW = {"sourceIPAddress": "new_ip", "userAgent": "new_user_agent", "awsRegion": "new_region"}


def timeline(
    source: Source,
    *,
    principal: str | None = None,
    access_key: str | None = None,
    finding: str | Mapping[str, Any] | None = None,
    before: str | timedelta = "2h",
    after: str | timedelta = "24h",
    at: datetime | str | None = None,
    findings: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The subject's events from `before` ahead of to `after` past the instant looked at.

    Parameters
    ----------
    source
        A lake, raw CloudTrail logs or a frame (see :func:`cloudtrail_hunt.source.open_source`).
    principal, access_key, finding
        Exactly one: an ARN (a role's ARN matches all its sessions), an access key id, or a
        finding (its id, or its row from a findings frame).
    before, after
        Spans such as ``"2h"``, ``"30m"``, ``"7d"``.
    at
        The instant looked at; by default the finding's first_seen, else the subject's first
        event.
    findings
        Findings to mark; by default the findings of a hunt over the window (a finding id is
        looked up in a hunt of the whole trail, whose findings are then marked).

    Returns
    -------
    pl.DataFrame
        :data:`TIMELINE_COLUMNS`, oldest first. `outcome` is ``ok``, ``error`` or ``denied``;
        `findings` lists the ids of the findings that cite the event; `notes` says in words
        what is new and what fired.
    """
    return look(
        source, principal=principal, access_key=access_key, finding=finding, before=before,
        after=after, at=at, findings=findings,
    ).timeline  # fmt: skip


@dataclass(frozen=True, slots=True)
class Look:
    """What :func:`look` found: the subject, its events (every column) in the window, the
    window, the findings marked, and the timeline."""

    who: Subject
    events: pl.DataFrame
    window: tuple[datetime, datetime] | None
    findings: pl.DataFrame | None
    timeline: pl.DataFrame


def look(
    source: Source,
    *,
    principal: str | None,
    access_key: str | None,
    finding: str | Mapping[str, Any] | None,
    before: str | timedelta,
    after: str | timedelta,
    at: datetime | str | None,
    findings: pl.DataFrame | None,
) -> Look:
    """The work of :func:`timeline` (same parameters), keeping what evidence bundles need."""
    if isinstance(finding, str) and findings is None:
        findings = hunt_all(source)
    who = subject(
        source, principal=principal, access_key=access_key, finding=finding,
        findings=findings, at=at,
    )  # fmt: skip
    history = who.events(open_source(source)).collect()
    events, window = in_window(who, history, parse_span(before), parse_span(after))
    if findings is None and window is not None:
        from cloudtrail_hunt.detect.hunt import hunt

        findings = hunt(source, start=window[0], end=window[1])
    timeline = described(events, findings)
    return Look(who, events.drop(*_NEW.values()), window, findings, timeline)


def in_window(
    who: Subject, history: pl.DataFrame, before: timedelta, after: timedelta
) -> tuple[pl.DataFrame, tuple[datetime, datetime] | None]:
    """The subject's events (all columns, oldest first, first sightings flagged) inside the
    window around `who.at` (else around its first event), and that window."""
    history = history.sort(_ORDER)
    history = history.with_columns(
        [
            (pl.col(c).cum_count().over(pl.col(c)) == 1).fill_null(False).alias(flag)
            for c, flag in _NEW.items()
        ]
    )
    anchor = who.at
    if anchor is None and history.height:
        anchor = history[schema.EVENT_TIME][0]
    if anchor is None:
        return history, None
    lo, hi = anchor - before, anchor + after
    return history.filter(pl.col(schema.EVENT_TIME).is_between(lo, hi, closed="left")), (lo, hi)


def described(events: pl.DataFrame, findings: pl.DataFrame | None) -> pl.DataFrame:
    """Events from :func:`in_window` as a timeline: outcome, citing findings, notes."""
    frame = events.join(_citations(findings), on="eventID", how="left").with_columns(
        pl.col("findings").fill_null([]),
        pl.when(pl.col("errorCode").is_null())
        .then(pl.lit("ok"))
        .when(pl.col("errorCode").str.contains(_DENIED))
        .then(pl.lit("denied"))
        .otherwise(pl.lit("error"))
        .alias("outcome"),
    )
    frame = frame.with_columns(_notes().alias("notes"))
    return frame.select(TIMELINE_COLUMNS).sort(_ORDER)


def _citations(findings: pl.DataFrame | None) -> pl.DataFrame:
    empty = pl.DataFrame(schema={"eventID": pl.String, "findings": pl.List(pl.String)})
    if findings is None or findings.is_empty():
        return empty
    cites = (
        findings.select("id", pl.col("evidence").list.eval(pl.element().struct.field("event_id")))
        .explode("evidence")
        .drop_nulls()
        .rename({"evidence": "eventID"})
    )
    return cites.group_by("eventID").agg(pl.col("id").unique().sort().alias("findings"))


def _notes() -> pl.Expr:
    parts = [
        pl.when(pl.col("findings").list.len() > 0).then(
            pl.lit("finding ") + pl.col("findings").list.join(", ")
        ),
        pl.when(pl.col("outcome") != "ok").then(pl.col("outcome") + ": " + pl.col("errorCode")),
        pl.when(pl.col("new_ip")).then(pl.lit("first seen from ") + pl.col("sourceIPAddress")),
        pl.when(pl.col("new_user_agent")).then(pl.lit("new user agent")),
        pl.when(pl.col("new_region")).then(pl.lit("first call in ") + pl.col("awsRegion")),
    ]
    return pl.concat_str(parts, separator="; ", ignore_nulls=True)


def timeline_chart(frame: pl.DataFrame) -> alt.LayerChart:
    """Events over time by API (``service:Name``), coloured by outcome; findings ringed."""
    import altair as alt

    from cloudtrail_hunt.charts import chart_values

    rows = frame.select(
        schema.EVENT_TIME,
        (pl.col("eventSource").str.replace(r"\.amazonaws\.com$", "") + ":" + pl.col("eventName"))
        .fill_null("?")
        .alias("api"),
        "outcome",
        pl.col("findings").list.join(", ").alias("finding"),
        "sourceIPAddress",
        "userAgent",
    )
    data = alt.Data(values=chart_values(rows))
    base = alt.Chart(data).encode(
        x=alt.X(f"{schema.EVENT_TIME}:T", title="time (UTC)"),
        y=alt.Y("api:N", title="API"),
    )
    colours = alt.Scale(domain=["ok", "error", "denied"], range=["#4c78a8", "#f58518", "#e45756"])
    dots = base.mark_circle(size=60).encode(
        color=alt.Color("outcome:N", scale=colours),
        tooltip=[f"{schema.EVENT_TIME}:T", "api:N", "outcome:N", "sourceIPAddress:N",
                 "userAgent:N", "finding:N"],
    )  # fmt: skip
    marked = base.transform_filter("datum.finding != ''").mark_point(
        size=220, shape="diamond", filled=False, color="black"
    )
    return alt.layer(dots, marked).properties(width=700, title="timeline")
