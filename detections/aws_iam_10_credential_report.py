"""aws-iam-10-credential-report: stale or never-used credentials, and the audit job's health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import reports
from cloudtrail_hunt.detect.model import (
    Computed,
    ControlType,
    Detection,
    HuntContext,
    Severity,
    Signal,
    Threshold,
    Tier,
)
from cloudtrail_hunt.detect.site import Site
from detections._guide import COMPLIANCE, QUERIES, RESPONSES

ID = "aws-iam-10-credential-report"
_MISSED = timedelta(days=14)
_ISSUER = pl.col("userIdentity.sessionContext.sessionIssuer.arn")
#: EventBridge calls that stop a schedule; shown as evidence when they fall inside the gap.
_STOPS = ("DisableRule", "DeleteRule", "RemoveTargets")
_REPORT_RUN = ct.event("GenerateCredentialReport")
_SCHEDULE_STOP = ct.event(*_STOPS) & (pl.col("eventSource") == "events.amazonaws.com")


def _by_audit_role(site: Site) -> pl.Expr:
    if not site.audit_roles:
        return pl.lit(True)  # no audit role configured: every caller may be the audit job
    return _ISSUER.is_in(sorted(site.audit_roles)).fill_null(False)


def _generation_failing(site: Site) -> pl.Expr:
    # Guide: "CloudTrail GenerateCredentialReport calls failing with errorCode set (Throttling,
    # ServiceFailure) on the audit cadence — the job cannot produce its evidence".
    failed = pl.col("errorCode").is_not_null()
    return ct.event("GenerateCredentialReport") & failed & _by_audit_role(site)


def audit_missed(ctx: HuntContext) -> list[dict[str, Any]]:
    """Page when an audit role makes no GenerateCredentialReport call for more than 14 days.

    Each gap between two calls (or between the last call and the end of the trail, within the
    hunted range) longer than 14 days fires 14 days after the call that began it. Evidence: that
    call, and any EventBridge DisableRule / DeleteRule / RemoveTargets in the account during the
    gap. Roles never seen calling are not judged (the trail may begin after their last run).
    """
    # Guide: "Audit Lambda missing its scheduled invocation for > 14 days (no
    # GenerateCredentialReport entry in CloudTrail attributed to the Lambda's role) — page".
    roles = sorted(ctx.site.audit_roles)
    last = ctx.latest_event()
    if not roles or last is None:
        return []
    horizon = min(ctx.end, last)
    columns = ctx.events.collect_schema().names()
    where = {
        "source": pl.col(schema.SOURCE) if schema.SOURCE in columns else pl.lit(None, pl.String),
        "index": (
            pl.col(schema.SOURCE_INDEX) if schema.SOURCE_INDEX in columns else pl.lit(None)
        ).cast(pl.Int64),
    }
    account = pl.coalesce("recipientAccountId", "userIdentity.accountId")
    calls = (
        ctx.events.filter(_REPORT_RUN & _ISSUER.is_in(roles))
        .select(role=_ISSUER, account=account, time=schema.EVENT_TIME, event_id="eventID", **where)
        .sort("time")
        .with_columns(next=pl.col("time").shift(-1).over("role"))
        .with_columns(gap_end=pl.coalesce("next", pl.lit(horizon)))
        .filter(pl.col("gap_end") - pl.col("time") > _MISSED)
        .collect()
    )
    stops = (
        ctx.events.filter(_SCHEDULE_STOP)
        .select(account=account, time=schema.EVENT_TIME, event_id="eventID", **where)
        .collect()
    )
    out = []
    for gap in calls.iter_rows(named=True):
        inside = stops.filter(
            (pl.col("account") == gap["account"])
            & pl.col("time").is_between(gap["time"], gap["gap_end"], closed="right")
        )
        evidence = [gap, *inside.iter_rows(named=True)]
        out.append(
            {
                "tier": Tier.PAGE,
                "account": gap["account"],
                "principal": gap["role"],
                "first_seen": gap["time"] + _MISSED,
                "last_seen": gap["gap_end"],
                "evidence": [{k: e[k] for k in ("event_id", "source", "index")} for e in evidence],
                "threshold": "no GenerateCredentialReport by the audit role for > 14 days",
                "baseline": f"last call {gap['time']:%Y-%m-%dT%H:%M:%SZ}",
            }
        )
    return out


DETECTION = Detection(
    id=ID,
    title="Scheduled IAM credential-report audit of unused credentials",
    control_type=ControlType.DETECTIVE,
    # The guide states no severity for this control (only "Controls 09–10 are DETECTIVE").
    severity=Severity.MEDIUM,
    compliance=COMPLIANCE[ID],
    signals=(
        Computed(
            name="stale-users-two-consecutive-runs",
            description="A user stale (idle >= 45 days) in two consecutive scheduled runs.",
            tiers=(Tier.TICKET,),
            evaluate=reports.stale_two_consecutive_runs,
        ),
        Computed(
            name="stale-users-over-10",
            description="More than 10 stale users in one scheduled audit run.",
            # Guide: "Custom metric > 10 in any single run — page".
            tiers=(Tier.PAGE,),
            evaluate=reports.stale_over_10,
        ),
        Computed(
            name="credential-never-used-over-45-days",
            description="An active password or key never used, set more than 45 days ago.",
            tiers=(Tier.TICKET,),
            evaluate=reports.never_used_over_45_days,
        ),
        Signal(
            name="credential-report-generation-failing",
            description="The audit job's GenerateCredentialReport call failed.",
            match=_generation_failing,
            # One ticket per audit session per day; its retries join it.
            thresholds=(Threshold(Tier.TICKET, suppress=timedelta(hours=24)),),
        ),
        Computed(
            name="audit-lambda-missed-over-14-days",
            description="No GenerateCredentialReport by the audit role for more than 14 days.",
            tiers=(Tier.PAGE,),
            evaluate=audit_missed,
            gate=_REPORT_RUN | _SCHEDULE_STOP,
            columns=(
                *("eventName", "eventSource", "userIdentity.sessionContext.sessionIssuer.arn"),
                *("recipientAccountId", "userIdentity.accountId"),
            ),
        ),
    ),
    guide_query=QUERIES[ID],
    response=RESPONSES[ID],
    references=(
        "hardening guide, aws-iam-10-credential-report",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_finding-unused.html",
    ),
    baseline="per account: the audit role's GenerateCredentialReport cadence (weekly)",
)
