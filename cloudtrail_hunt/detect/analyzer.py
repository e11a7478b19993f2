"""IAM Access Analyzer findings as a frame, and the computed signals of aws-iam-09 over them.

side_inputs/access-analyzer/ ──► **analyzer** ──► detections/aws_iam_09 (Computed signals).
Layout, relative to the side-inputs folder (the synthetic trail writes the same)::

    access-analyzer/*.json            EventBridge `Access Analyzer Finding` events (a list, one
                                      event, or JSON Lines) or `aws accessanalyzer list-findings`
                                      output (``{"findings": [...]}``)
    access-analyzer/change-ledger.json  approved archives: ``{"approved_archives": [{finding_id,
                                      resource, ticket, approved_at}, ...]}``

A finding is seen in one or more observations (an event per status change, a list-findings row);
evidence addresses an observation as (path relative to the folder, position in the file), with
the EventBridge event id or the finding id as ``event_id``. The CloudTrail call that changed the
resource's policy, when the lake holds it, leads the evidence and names the principal.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt import schema
from cloudtrail_hunt.detect.findings import evidence_columns
from cloudtrail_hunt.detect.model import Tier
from cloudtrail_hunt.detect.policy import principal_account
from cloudtrail_hunt.errors import IngestError

if TYPE_CHECKING:
    from cloudtrail_hunt.detect.model import HuntContext

FOLDER, LEDGER = "access-analyzer", "change-ledger.json"
_DETAIL_TYPE = "Access Analyzer Finding"
#: Archive rules archive a matching finding as it is created; a finding first seen ARCHIVED
#: within this long of its creation never was an open exposure.
_AUTO_ARCHIVE = timedelta(minutes=1)
#: How far before a finding the resource-policy change that caused it is looked for. The
#: analyzer re-evaluates a changed policy within 30 minutes (the guide's "30-minute
#: re-evaluation cycle"); a day leaves room for periodic rescans.
_CAUSE_WINDOW = timedelta(hours=24)

OBSERVATIONS = pl.Schema(
    {
        "finding_id": pl.String(),
        "account": pl.String(),
        "region": pl.String(),
        "resource": pl.String(),
        "resource_type": pl.String(),
        "finding_type": pl.String(),
        "status": pl.String(),
        "observed": pl.Datetime("us", "UTC"),
        "created": pl.Datetime("us", "UTC"),
        "is_public": pl.Boolean(),
        "principal": pl.String(),
        "condition": pl.String(),
        "event_id": pl.String(),
        "source": pl.String(),
        "index": pl.Int64(),
    }
)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _read(path: Path, rel: str) -> list[Any]:
    """The JSON values of a file: one document, or one per line (JSON Lines)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(rel, f"unreadable Access Analyzer file: {exc!r}") from None
    try:
        return [json.loads(text)]
    except (ValueError, RecursionError):
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (ValueError, RecursionError) as exc:
        hint = "expected EventBridge events or `aws accessanalyzer list-findings` output"
        raise IngestError(rel, f"invalid JSON: {exc}", hint) from None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _row(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    created = _time(item.get("createdAt"))
    return {
        "finding_id": _text(item.get("id")),
        "account": _text(item.get("resourceOwnerAccount")) or _text(item.get("accountId")),
        "region": _text(item.get("region")),
        "resource": _text(item.get("resource")),
        "resource_type": _text(item.get("resourceType")),
        "finding_type": _text(item.get("findingType")),
        "status": _text(item.get("status")),
        "observed": _time(item.get("updatedAt")) or created,
        "created": created,
        "is_public": item.get("isPublic") if isinstance(item.get("isPublic"), bool) else None,
        "principal": json.dumps(item.get("principal") or {}, sort_keys=True),
        "condition": json.dumps(item.get("condition") or {}, sort_keys=True),
        **extra,
    }


def _observations(values: list[Any], rel: str) -> Iterator[dict[str, Any]]:
    items: list[Any] = []
    for value in values:
        if isinstance(value, dict) and isinstance(value.get("findings"), list):
            items += value["findings"]
        else:
            items += value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        if item.get("detail-type") == _DETAIL_TYPE and isinstance(item.get("detail"), dict):
            detail = item["detail"]
            yield _row(
                detail,
                observed=_time(item.get("time")) or _time(detail.get("updatedAt")),
                event_id=_text(item.get("id")),
                source=rel,
                index=index,
            )
        elif "id" in item and "resource" in item:
            yield _row(item, event_id=_text(item.get("id")), source=rel, index=index)


def load_findings(folder: str | Path) -> pl.DataFrame:
    """Every finding observation under ``<folder>/access-analyzer`` (empty when there is none).

    Raises
    ------
    IngestError
        A file is unreadable or not JSON.
    """
    base = Path(folder) / FOLDER
    rows: list[dict[str, Any]] = []
    for path in sorted(base.glob("*.json*")) if base.is_dir() else []:
        if path.name == LEDGER:
            continue
        rel = f"{FOLDER}/{path.name}"
        rows += _observations(_read(path, rel), rel)
    frame = pl.DataFrame(rows, schema=OBSERVATIONS)
    return frame.filter(pl.col("finding_id").is_not_null()).sort("observed", nulls_last=True)


def load_ledger(folder: str | Path | None) -> dict[str, list[datetime]]:
    """Approved archives from the change ledger: finding id or resource ARN → approval times.

    Raises
    ------
    IngestError
        The ledger is unreadable or not in the expected shape.
    """
    if folder is None or not (Path(folder) / FOLDER / LEDGER).is_file():
        return {}
    rel = f"{FOLDER}/{LEDGER}"
    approved: dict[str, list[datetime]] = {}
    for value in _read(Path(folder) / FOLDER / LEDGER, rel):
        entries = value.get("approved_archives") if isinstance(value, dict) else None
        if not isinstance(entries, list):
            raise IngestError(rel, "no `approved_archives` list", "expected the change ledger")
        for entry in entries:
            when = _time(entry.get("approved_at")) if isinstance(entry, dict) else None
            if when is None:
                continue
            for key in (entry.get("finding_id"), entry.get("resource")):
                if isinstance(key, str):
                    approved.setdefault(key, []).append(when)
    return approved


@dataclass(frozen=True, slots=True)
class Finding:
    """One Access Analyzer finding, merged from its observations."""

    id: str
    account: str | None
    resource: str | None
    created: datetime
    public: bool
    accounts: tuple[str, ...]
    evidence: tuple[dict[str, Any], ...]
    #: Who the resource's policy grants access to (``*``, account ids, ARNs).
    principals: tuple[str, ...] = ()


def _principal_values(principal: object) -> list[str]:
    if isinstance(principal, str):
        return [principal]
    if not isinstance(principal, dict):
        return []
    values = principal.get("AWS")
    return [v for v in (values if isinstance(values, list) else [values]) if isinstance(v, str)]


def _condition_accounts(condition: object) -> list[str]:
    # Guide: "findings whose condition.aws:PrincipalAccount resolves outside the organisation".
    if not isinstance(condition, dict):
        return []
    out = []
    for key, value in condition.items():
        if str(key).lower() == "aws:principalaccount":
            out += value if isinstance(value, list) else [value]
    return [v for v in out if isinstance(v, str)]


def findings(observations: pl.DataFrame) -> list[Finding]:
    """Merge observations by finding id; drop findings an archive rule closed at creation."""
    merged = []
    for (finding_id,), group in observations.group_by("finding_id", maintain_order=True):
        rows = group.sort("observed", nulls_last=True).to_dicts()
        created = min((r["created"] for r in rows if r["created"]), default=None)
        created = created or rows[0]["observed"]
        if created is None or rows[0]["finding_type"] not in (None, "ExternalAccess"):
            continue
        first = rows[0]
        observed = first["observed"] or created
        if first["status"] == "ARCHIVED" and observed - created <= _AUTO_ARCHIVE:
            continue
        principal = json.loads(first["principal"])
        condition = json.loads(first["condition"])
        values = _principal_values(principal)
        public = bool(any(r["is_public"] for r in rows)) or "*" in values
        found = [principal_account(v) for v in values + _condition_accounts(condition)]
        merged.append(
            Finding(
                id=str(finding_id),
                account=first["account"],
                resource=first["resource"],
                created=created,
                public=public,
                accounts=tuple(sorted({a for a in found if a})),
                evidence=tuple(
                    {"event_id": r["event_id"], "source": r["source"], "index": r["index"]}
                    for r in rows
                ),
                # An account's root ARN in a policy means the whole account: name the account.
                principals=tuple(
                    (principal_account(v) or v) if v.endswith(":root") else v for v in values
                )
                or (("*",) if public else ()),
            )
        )
    return merged


def _resource_name(arn: str) -> str:
    # `arn:aws:s3:::bucket` → bucket, `…:key/<id>` → id, `…:function:name` → name.
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _causes(ctx: HuntContext, found: list[Finding]) -> dict[str, dict[str, Any]]:
    """The latest successful write naming each finding's resource, up to a day before it."""
    if not found:
        return {}
    lo = min(f.created for f in found) - _CAUSE_WINDOW
    hi = max(f.created for f in found)
    names = {f.id: (f.resource or "", _resource_name(f.resource or "")) for f in found}
    # Whole JSON strings only: a bucket called `logs` must not match `access-logs-2`.
    quoted = {k: [_quoted(arn), _quoted(name)] for k, (arn, name) in names.items() if arn}
    written = (
        pl.col(schema.EVENT_TIME).is_between(lo, hi)
        & ct.succeeded()
        & ~pl.col("readOnly").fill_null(False)
    )
    # Text is searched only on the writes of the window (the rest of the scan is null).
    text = pl.when(written).then(
        pl.concat_str(pl.col("resources").fill_null(""), pl.col("requestParameters").fill_null(""))
    )
    mentions = [text.str.contains(q, literal=True) for qs in quoted.values() for q in qs]
    if not mentions:
        return {}
    rows = (
        ctx.events.filter(written & pl.any_horizontal(mentions).fill_null(False))
        .select(
            schema.EVENT_TIME,
            *_address(ctx.events),
            "userIdentity.arn",
            pl.coalesce("recipientAccountId", "userIdentity.accountId").alias("acct"),
            "resources",
            "requestParameters",
        )
        .sort(schema.EVENT_TIME)
        .collect()
        .to_dicts()
    )
    out = {}
    for finding in found:
        for row in rows:
            if not (finding.created - _CAUSE_WINDOW <= row[schema.EVENT_TIME] <= finding.created):
                continue
            if finding.account and row["acct"] not in (None, finding.account):
                continue
            haystack = (row["resources"] or "") + (row["requestParameters"] or "")
            if any(q in haystack for q in quoted.get(finding.id, [])):
                out[finding.id] = row  # rows are time-sorted: the last one wins
    return out


_address = evidence_columns


def _evidence(row: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": row["event_id"], "source": row["source"], "index": row["index"]}


def _rows(
    ctx: HuntContext, chosen: list[Finding], tier: Tier, threshold: str
) -> list[dict[str, Any]]:
    causes = _causes(ctx, chosen)
    out = []
    for finding in chosen:
        cause = causes.get(finding.id)
        evidence = ([_evidence(cause)] if cause else []) + list(finding.evidence)
        first = cause[schema.EVENT_TIME] if cause else finding.created
        out.append(
            {
                "tier": tier,
                "account": finding.account,
                # Who is granted access; who changed the policy leads the evidence.
                "principal": ", ".join(finding.principals) or None,
                "resource": finding.resource,
                "first_seen": first,
                "last_seen": finding.created,
                "evidence": evidence,
                "threshold": threshold,
            }
        )
    return out


def _in_range(ctx: HuntContext, found: list[Finding]) -> list[Finding]:
    # A finding belongs to the range it was created in; its cause may precede the range.
    return [f for f in found if ctx.start <= f.created < ctx.end]


def _load(ctx: HuntContext) -> list[Finding]:
    return findings(load_findings(ctx.side_inputs)) if ctx.side_inputs is not None else []


def public_findings(ctx: HuntContext) -> list[dict[str, Any]]:
    """Page on each finding that shares a resource publicly (``principal.AWS = "*"``)."""
    chosen = [f for f in _in_range(ctx, _load(ctx)) if f.public]
    return _rows(ctx, chosen, Tier.PAGE, "any public-exposure finding")


def external_accounts(finding: Finding, known: Collection[str]) -> list[str]:
    """The finding's principal accounts outside `known` and the resource's own account."""
    return [a for a in finding.accounts if a not in known and a != finding.account]


def cross_account_findings(ctx: HuntContext) -> list[dict[str, Any]]:
    """Page on each non-public finding that shares with an account outside org and partners."""
    known = ctx.site.accounts | ctx.site.partner_accounts
    chosen = [f for f in _in_range(ctx, _load(ctx)) if not f.public and external_accounts(f, known)]
    return _rows(ctx, chosen, Tier.PAGE, "any finding to an account outside the partner list")


def _archived_ids(request: str | None) -> list[str]:
    try:
        value = json.loads(request or "null")
    except (ValueError, RecursionError):
        return []
    if not isinstance(value, dict):
        return []
    ids = value.get("ids")
    keys = [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
    if isinstance(value.get("resourceArn"), str):
        keys.append(value["resourceArn"])
    return keys


#: The events `archives_without_ticket` reads, and their columns.
UPDATE_FINDINGS = (pl.col("eventSource") == "access-analyzer.amazonaws.com") & ct.event(
    "UpdateFindings"
)
UPDATE_FINDINGS_COLUMNS = (
    *("eventSource", "eventName", "errorCode", "responseElements.ConsoleLogin"),
    *("requestParameters", "userIdentity.arn", "recipientAccountId", "userIdentity.accountId"),
)


def archives_without_ticket(ctx: HuntContext) -> list[dict[str, Any]]:
    """Ticket each UpdateFindings → ARCHIVED naming a finding the ledger did not approve before.

    Guide: "CloudTrail access-analyzer:UpdateFindings with status = "ARCHIVED" on findings not
    previously approved through the change-management ledger". Without a ledger, every manual
    archive is unapproved.
    """
    ledger = load_ledger(ctx.side_inputs)
    update = (
        UPDATE_FINDINGS
        & ct.succeeded()
        & pl.col(schema.EVENT_TIME).is_between(ctx.start, ctx.end, closed="left")
    )
    # The request is parsed only for UpdateFindings calls (the rest of the scan is null).
    status = pl.when(update).then(pl.col("requestParameters")).str.json_path_match("$.status")
    calls = (
        ctx.events.filter(update & (status == "ARCHIVED").fill_null(False))
        .select(
            schema.EVENT_TIME,
            *_address(ctx.events),
            "userIdentity.arn",
            pl.coalesce("recipientAccountId", "userIdentity.accountId").alias("acct"),
            "requestParameters",
        )
        .sort(schema.EVENT_TIME)
        .collect()
        .to_dicts()
    )
    out = []
    for call in calls:
        when = call[schema.EVENT_TIME]
        keys = _archived_ids(call["requestParameters"])
        approved = [k for k in keys if any(t <= when for t in ledger.get(k, []))]
        if keys and len(approved) == len(keys):
            continue
        out.append(
            {
                "tier": Tier.TICKET,
                "account": call["acct"],
                "principal": call["userIdentity.arn"],
                "resource": ", ".join(keys) or None,
                "first_seen": when,
                "last_seen": when,
                "evidence": [_evidence(call)],
                "threshold": "any archive without a prior change-ledger approval",
            }
        )
    return out
