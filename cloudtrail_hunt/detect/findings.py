"""The findings table: its schema, and its renderers (terminal table, JSON Lines, CSV, Parquet).

The JSON Lines keys `detection`, `signal`, `tier`, `severity`, `account`, `principal`,
`resource`, `first_seen`, `last_seen`, `count`, `evidence` (objects with `event_id`,
`source`, `index`) and `id` (:func:`finding_id`) are a stable interface: scripts depend on
them. `principal` is who acted (for an Access Analyzer finding, the external principal granted
access; for a credential-report finding, the users whose rows match); `resource` is what was
acted on or exposed. At least one is set. Every value is log-derived text and goes through the
escaping writers of cloudtrail_hunt.output.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import IO, Any

import polars as pl

from cloudtrail_hunt import output, schema

EVIDENCE = pl.Struct({"event_id": pl.String(), "source": pl.String(), "index": pl.Int64()})
_COLUMNS: dict[str, pl.DataType] = {
    "detection": pl.String(),
    "signal": pl.String(),
    "tier": pl.String(),
    "severity": pl.String(),
    "account": pl.String(),
    "principal": pl.String(),
    "resource": pl.String(),
    "first_seen": pl.Datetime("us", "UTC"),
    "last_seen": pl.Datetime("us", "UTC"),
    "count": pl.Int64(),
    "evidence": pl.List(EVIDENCE),
    "id": pl.String(),
    "threshold": pl.String(),
    "baseline": pl.String(),
    "response": pl.List(pl.String()),
}
FINDING_SCHEMA = pl.Schema(_COLUMNS)
STABLE_KEYS = (
    "detection", "signal", "tier", "severity", "account", "principal", "resource",
    "first_seen", "last_seen", "count", "evidence", "id",
)  # fmt: skip
FORMATS = ("table", "jsonl", "csv", "parquet")
_ID_PARTS = ("detection", "signal", "tier", "account", "principal")


def finding_id(finding: Mapping[str, Any]) -> str:
    """A finding's id: what it is (detection, signal, tier, who) and the event that opened it.

    Nothing of the run goes in (no range, no time of the hunt), so a re-run, or a day-by-day
    hunt against a month-long one, names the same finding with the same id, and a ticket can
    quote it. The first event is its evidence's first entry (its eventID, else where it is);
    a finding without evidence is named by its first_seen.
    """
    evidence = finding.get("evidence") or []
    first = evidence[0] if evidence else {}
    opened = first.get("event_id") or (
        f"{first['source']}#{first['index']}" if first.get("source") else None
    )
    parts = [str(finding.get(k) or "") for k in _ID_PARTS]
    parts.append(opened or str(_iso(finding.get("first_seen"))))
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"f-{digest[:16]}"


def evidence_columns(events: pl.LazyFrame) -> list[pl.Expr]:
    """Where an event is: its id, source object and index (null where the frame lacks them)."""
    columns = events.collect_schema().names()

    def column(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name).cast(dtype) if name in columns else pl.lit(None, dtype)

    return [
        column("eventID", pl.String()).alias("event_id"),
        column(schema.SOURCE, pl.String()).alias("source"),
        column(schema.SOURCE_INDEX, pl.Int64()).alias("index"),
    ]


def evidence(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The evidence entries (event_id, source, index) of event rows."""
    return [{k: r[k] for k in ("event_id", "source", "index")} for r in rows]


def episodes(
    rows: Iterable[dict[str, Any]], key: str, period: timedelta
) -> list[list[dict[str, Any]]]:
    """Time-sorted rows per `key` into findings: a row at least `period` after a finding's
    first row opens the next one (the engine's suppression rule, for computed signals)."""
    open_: dict[Any, list[dict[str, Any]]] = {}
    out: list[list[dict[str, Any]]] = []
    for row in sorted(rows, key=lambda r: r[schema.EVENT_TIME]):
        current = open_.get(row[key])
        if current is None or row[schema.EVENT_TIME] >= current[0][schema.EVENT_TIME] + period:
            current = open_[row[key]] = []
            out.append(current)
        current.append(row)
    return out


def _iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else value


def write(findings: pl.DataFrame, fmt: str, out: IO[bytes] | None = None) -> None:
    """Write findings in `fmt`: one of :data:`FORMATS`."""
    if fmt == "jsonl":
        lines = [
            json.dumps({k: _iso(v) for k, v in row.items()}, ensure_ascii=False)
            for row in findings.iter_rows(named=True)
        ]
        data = ("\n".join(lines) + ("\n" if lines else "")).encode()
        (out or _stdout()).write(data)
        return
    if fmt == "table":
        # Pages first, then tickets, digests, informational; by time within a tier.
        rank = pl.col("tier").replace_strict(TIER_ORDER, default=len(TIER_ORDER))
        shown = findings.sort(rank, "first_seen", maintain_order=True).select(
            "id",
            "tier",
            pl.col("detection").str.slice(0, 10),  # aws-iam-NN names it
            "signal",
            "account",
            pl.col("principal").map_elements(short_arns, pl.String()),
            pl.col("resource").map_elements(short_arns, pl.String()),
            pl.col("first_seen").dt.strftime("%Y-%m-%d %H:%M"),
            "count",
        )
        output.write(shown, "table", out)
        return
    if fmt == "csv":
        flat = findings.with_columns(
            pl.Series("evidence", map(evidence_text, findings["evidence"].to_list()), pl.String()),
            pl.col("response").list.join(" | "),
        )
        output.write(flat, "csv", out)
        return
    output.write(findings, fmt, out)


#: The terminal table's order of tiers.
TIER_ORDER = {"page": 0, "ticket": 1, "digest": 2, "informational": 3}
_IAM_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):(.+)")
_SHOWN_NAMES = 3


def short_arn(text: str) -> str:
    """An IAM or STS ARN as its account and first and last path parts, for a terminal cell.

    ``arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0e41/jo@example.com`` →
    ``111122223333:assumed-role/…/jo@example.com``; other text is unchanged.
    """
    match = _IAM_ARN.fullmatch(text.strip())
    if match is None:
        return text.strip()
    account, rest = match.groups()
    parts = rest.split("/")
    return f"{account}:{rest}" if len(parts) <= 2 else f"{account}:{parts[0]}/…/{parts[-1]}"


def short_arns(text: str | None) -> str | None:
    """A list of names (comma-separated) shortened: each ARN, and the first few of a long list."""
    if text is None:
        return None
    names = [short_arn(n) for n in text.split(",") if n.strip()]
    more = len(names) - _SHOWN_NAMES
    return ", ".join(names[:_SHOWN_NAMES]) + (f" +{more} more" if more > 0 else "")


def evidence_text(entries: Iterable[Mapping[str, Any]] | None) -> str:
    """Evidence for one CSV cell: ``source#index`` with ``(event id)`` when there is one."""
    out = []
    for entry in entries or []:
        where = str(entry["source"])
        if entry["index"] is not None:
            where += f"#{entry['index']}"
        if entry["event_id"]:
            where += f" ({entry['event_id']})"
        out.append(where)
    return "; ".join(out)


def _stdout() -> IO[bytes]:
    import sys

    return sys.stdout.buffer
