"""The detection model: Detection, Signal, Threshold and their enums, checked when built.

detections/aws_iam_NN_*.py ──► **model** ──► registry ──► engine ──► findings.
A Detection carries the guide's metadata for one control and its signals; a Signal is a boolean
Polars expression over lake columns plus who it is about; each Threshold routes the signal's
matches to one tier, optionally counted over a sliding window, suppressed, batched or digested.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from cloudtrail_hunt.detect.site import Site
from cloudtrail_hunt.errors import DetectionError
from cloudtrail_hunt.ingest.lake import latest_time


class Tier(enum.StrEnum):
    """Where a finding is routed (the guide's alert thresholds)."""

    PAGE = "page"
    TICKET = "ticket"
    INFORMATIONAL = "informational"
    DIGEST = "digest"


class Severity(enum.StrEnum):
    """The guide's severity of a control."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class ControlType(enum.StrEnum):
    """Whether the control prevents or detects."""

    PREVENTIVE = "PREVENTIVE"
    DETECTIVE = "DETECTIVE"


_DURATION = re.compile(r"(\d+)(m|h|d|w)")
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """Parse ``"15m"``, ``"24h"``, ``"30d"`` or ``"1w"``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        msg = f"invalid duration {text!r}; expected a number and m, h, d or w, e.g. '24h'"
        raise ValueError(msg)
    return timedelta(**{_UNIT[match[2]]: int(match[1])})


@dataclass(frozen=True, slots=True)
class ComplianceRef:
    """A compliance mapping as the guide lists it: framework and reference."""

    framework: str
    ref: str


@dataclass(frozen=True, slots=True)
class Threshold:
    """One alert threshold of the guide: when a signal's matches become a finding of a tier.

    A group (``group_by`` values, by default account and principal) fires when it has at
    least ``count`` matches (or ``count`` distinct values of ``distinct``) within ``window``,
    the window closed at both ends; without a window every match counts alone. A burst (matches
    each within one window of the one before) that fires is one finding. ``suppress``
    keeps one finding per group per period (later matches join it); ``batch`` gathers a group's
    matches into fixed buckets (hourly informational batches); ``digest`` gathers them per
    period and raises the tier to ``escalate_to`` when the previous period was non-empty too.
    """

    tier: Tier
    count: int = 1
    window: timedelta | None = None
    distinct: str | None = None
    group_by: tuple[str, ...] = ("account", "principal")
    suppress: timedelta | None = None
    batch: timedelta | None = None
    digest: timedelta | None = None
    escalate_to: Tier | None = None
    guide: str = ""

    def __post_init__(self) -> None:
        if self.count < 1:
            msg = f"count must be at least 1, got {self.count}"
            raise ValueError(msg)
        for name in ("window", "suppress", "batch", "digest"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                msg = f"{name} must be positive, got {value}"
                raise ValueError(msg)
        if self.escalate_to is not None and self.digest is None:
            msg = "escalate_to needs a digest period"
            raise ValueError(msg)

    @property
    def lookback(self) -> timedelta:
        """How far before the hunted range events still matter to this threshold."""
        # A digest escalates on the period before it: look back two periods.
        spans = [self.window, self.suppress, self.batch, self.digest and 2 * self.digest]
        return max((s for s in spans if s is not None), default=timedelta(0))


@dataclass(frozen=True, slots=True)
class Signal:
    """One log signal of the guide.

    ``match`` is a boolean expression over lake columns, or a function of the site facts
    returning one (partner accounts, naming conventions); ``principal`` and ``account`` say who
    a match is about. ``allow_fields`` are the columns an allow-list entry may name.
    """

    name: str
    description: str
    match: pl.Expr | Callable[[Site], pl.Expr]
    thresholds: tuple[Threshold, ...]
    principal: pl.Expr = field(default_factory=lambda: pl.col("userIdentity.arn"))
    account: pl.Expr = field(
        default_factory=lambda: pl.coalesce(pl.col("recipientAccountId"), pl.col("account"))
    )
    allow_fields: tuple[str, ...] = ("userIdentity.arn",)
    #: What a match acted on (the role, user, policy...), the finding's `resource`.
    resource: pl.Expr | None = None
    #: Drop a match that follows, within the period, an event of the same principal matching
    #: this expression (control 04: a sign-in right after enrolling MFA).
    unless_after: tuple[pl.Expr, timedelta] | None = None
    #: Learn an allow-list on the baseline window: values of this column seen matching the
    #: signal in the 30 days before the range silence it in the range (control 02's "feed the
    #: prior 30 days into a static allow-list of approved automation principals").
    learn_allow: str | None = None
    guide: str = ""
    #: A cheap necessary condition of ``match`` over plain columns (``ct.event(...)``). The
    #: engine's scan keeps the rows that pass some signal's gate (its match when it has none)
    #: and evaluates matches on those alone, so a match that parses JSON or calls Python pays
    #: for its few candidate rows, not for the whole trail. Must hold wherever ``match`` does.
    gate: pl.Expr | None = None

    def expression(self, site: Site) -> pl.Expr:
        """The match expression for this site."""
        return self.match if isinstance(self.match, pl.Expr) else self.match(site)

    def candidates(self, site: Site) -> pl.Expr:
        """The scan's first cut for this signal: its gate, else its match."""
        return self.gate if self.gate is not None else self.expression(site)


@dataclass(frozen=True, slots=True)
class HuntContext:
    """What a computed signal sees: the events of ``[start - baseline, end)`` and the side inputs.

    ``events`` is a LazyFrame in the lake schema (for a gated signal, only the rows that pass
    its gate and the columns it declares); ``side_inputs`` is the folder of credential
    reports, Access Analyzer findings and Config evaluations (see detect/side_inputs.py), or
    None when the hunt has none; ``trail_end`` is the time of the latest event of the whole
    trail read (None when it is empty): how far "silent since" can be judged.
    """

    events: pl.LazyFrame
    start: datetime
    end: datetime
    site: Site
    side_inputs: Path | None
    baseline: timedelta
    trail_end: datetime | None = None

    def latest_event(self) -> datetime | None:
        """The latest event time of the trail: `trail_end`, else read from `events`."""
        return self.trail_end if self.trail_end is not None else latest_time(self.events)


@dataclass(frozen=True, slots=True)
class Computed:
    """A signal computed by a function rather than a match expression.

    For what is not a per-event match: credential-report deltas, Access Analyzer findings,
    moving averages against a baseline, dormancy. ``evaluate`` returns finding rows with the
    keys ``tier``, ``account``, ``principal``, ``resource`` (optional), ``first_seen``,
    ``last_seen``, ``evidence``
    (dicts with ``event_id``, ``source``, ``index``), ``threshold`` and optionally
    ``baseline``; the engine adds the detection's metadata and keeps the rows that fired in
    ``[start, end)`` (by ``first_seen``).
    """

    name: str
    description: str
    tiers: tuple[Tier, ...]
    evaluate: Callable[[HuntContext], list[dict[str, Any]]]
    guide: str = ""
    #: How much history before the range `evaluate` needs (``ctx.events`` starts there).
    lookback: timedelta = timedelta(days=30)
    #: The rows `evaluate` reads, as a cheap condition over plain columns, and the columns it
    #: reads. With a gate, the engine's one scan collects those rows for it (``ctx.events``
    #: holds nothing else) instead of the signal scanning the lake on its own.
    gate: pl.Expr | None = None
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.columns and self.gate is None:
            raise DetectionError(self.name, "`columns` only applies to a gated signal")


@dataclass(frozen=True, slots=True)
class Detection:
    """One control of the hardening guide, with its metadata and signals."""

    id: str
    title: str
    control_type: ControlType
    severity: Severity
    compliance: tuple[ComplianceRef, ...]
    signals: tuple[Signal | Computed, ...]
    guide_query: str | None
    response: tuple[str, ...]
    references: tuple[str, ...] = ()
    baseline: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"aws-iam-\d\d-[a-z0-9-]+", self.id):
            raise DetectionError(self.id, "ids are `aws-iam-NN-name`")
        names = [s.name for s in self.signals]
        if len(set(names)) != len(names):
            raise DetectionError(self.id, f"duplicate signal names in {names}")
        if not self.response:
            raise DetectionError(self.id, "the guide's initial response is missing")

    def signal(self, name: str) -> Signal | Computed:
        """The signal called `name`."""
        for signal in self.signals:
            if signal.name == name:
                return signal
        known = ", ".join(repr(s.name) for s in self.signals)
        raise DetectionError(self.id, f"no signal {name!r}; expected one of {known}")


#: Allow-list entries: field → values that silence a match (site config adds to these).
AllowList = Mapping[str, frozenset[str]]
