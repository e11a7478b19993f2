"""aws-iam-03-identity-center: IAM-user sign-ins, Identity Center tampering, net-new IAM users."""

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

ID = "aws-iam-03-identity-center"


def _iam_user_login(site: Site) -> pl.Expr:
    # Guide: 'CloudTrail ConsoleLogin where userIdentity.type = "IAMUser"', outside the
    # documented break-glass naming convention. Identity Center and SAML sign-ins arrive as
    # AssumedRole/SAMLUser and are not IAM users.
    break_glass = pl.col("userIdentity.userName").str.starts_with(site.break_glass_prefix)
    return (
        ct.event("ConsoleLogin")
        & ct.identity("IAMUser")
        & ct.succeeded()
        & ~break_glass.fill_null(False)
    )


def inventory_drift(ctx: HuntContext) -> list[dict[str, Any]]:
    """An account's IAM-user count rising above its baseline, from the credential reports.

    Guide: "Standing IAM-user inventory drift: scheduled query of iam:ListUsers result-count
    crossing a static baseline upward". The credential report lists every IAM user, so its row
    count (root excluded) is the ListUsers count. The baseline is the account's first report
    in the 30 days before the range (else its first report); each report above the highest
    count seen so far is a crossing, reported in the weekly digest with the CreateUser calls
    since the previous high as evidence.
    """
    loaded = reports.load(ctx)
    if loaded is None or loaded.reports.is_empty():
        return []
    counts = (
        loaded.reports.filter(pl.col("user") != "<root_account>")
        .group_by("account", "generated_at", "path")
        .agg(pl.len().alias("users"))
        .sort("account", "generated_at")
    )
    created = (
        ctx.events.filter(
            ct.event("CreateUser") & ct.succeeded() & (pl.col(schema.EVENT_TIME) < ctx.end)
        )
        .select(
            schema.EVENT_TIME,
            pl.coalesce("recipientAccountId", "userIdentity.accountId").alias("account"),
            pl.col("eventID").alias("event_id"),
            pl.col(schema.SOURCE).alias("source"),
            pl.col(schema.SOURCE_INDEX).cast(pl.Int64).alias("index"),
        )
        # In time order whatever order the lake's files are read in: the first event names
        # the finding (its id) and the evidence reads as a story.
        .sort(schema.EVENT_TIME, "source", "index")
        .collect()
    )
    findings = []
    for (account,), runs in counts.group_by("account", maintain_order=True):
        rows = runs.to_dicts()
        in_baseline = [r for r in rows if ctx.start - ctx.baseline <= r["generated_at"] < ctx.start]
        high = (in_baseline or rows)[0]
        for run in rows:
            if run["users"] <= high["users"]:
                continue
            since = created.filter(
                (pl.col("account") == account) & (pl.col(schema.EVENT_TIME) > high["generated_at"])
            )
            evidence = since.select("event_id", "source", "index").to_dicts()
            evidence.append({"event_id": None, "source": run["path"], "index": None})
            findings.append(
                {
                    "tier": Tier.DIGEST,
                    "account": account,
                    "principal": None,
                    "resource": f"arn:aws:iam::{account}:user/*",  # the account's IAM users
                    "first_seen": run["generated_at"],
                    "last_seen": run["generated_at"],
                    "evidence": evidence,
                    "threshold": f"IAM users above the baseline of {high['users']}",
                    "baseline": f"{high['users']} IAM users in {high['path']}",
                }
            )
            high = run
    return findings


DETECTION = Detection(
    id=ID,
    title="Human access through IAM Identity Center, not IAM users",
    control_type=ControlType.PREVENTIVE,
    severity=Severity.CRITICAL,
    compliance=COMPLIANCE[ID],
    signals=(
        Signal(
            name="iam-user-console-login",
            description="An IAM user (not break-glass) signed in to the console.",
            match=_iam_user_login,
            # Guide: "page on the first event in a 24h window per identity, then suppress
            # further pages from the same identity for 24h".
            thresholds=(Threshold(Tier.PAGE, suppress=timedelta(hours=24)),),
        ),
        Signal(
            name="identity-center-config-tampering",
            description="Identity Center permission sets or assignments deleted.",
            # Guide: "CloudTrail sso:DisassociatePermissionSet, sso:DeleteAccountAssignment, or
            # sso-admin:DeletePermissionSet"; all are recorded with eventSource
            # sso.amazonaws.com.
            match=ct.event(
                "DisassociatePermissionSet",
                "DeleteAccountAssignment",
                "DeletePermissionSet",
                "DeleteInlinePolicyFromPermissionSet",
                "DetachManagedPolicyFromPermissionSet",
            )
            & (pl.col("eventSource") == "sso.amazonaws.com")
            & ct.succeeded(),
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Signal(
            name="net-new-iam-users",
            description="A new IAM user created in a member account.",
            match=lambda site: (
                ct.event("CreateUser")
                & (pl.col("eventSource") == "iam.amazonaws.com")
                & ct.succeeded()
                & (pl.col("recipientAccountId") != (site.management_account or "")).fill_null(True)
            ),
            resource=pl.col("requestParameters").str.json_path_match("$.userName"),
            # Guide: "informational digest at weekly cadence, escalate if the digest is
            # non-empty for two consecutive weeks".
            thresholds=(
                Threshold(
                    Tier.DIGEST,
                    group_by=("account",),
                    digest=timedelta(weeks=1),
                    escalate_to=Tier.TICKET,
                ),
            ),
        ),
        Computed(
            name="iam-user-inventory-drift",
            description="An account's IAM-user count rose above its baseline.",
            tiers=(Tier.DIGEST,),
            evaluate=inventory_drift,
            guide=(
                "Standing IAM-user inventory drift: scheduled query of iam:ListUsers"
                " result-count crossing a static baseline upward"
            ),
        ),
    ),
    guide_query=QUERIES[ID],
    response=RESPONSES[ID],
    references=(
        "hardening guide, aws-iam-03-identity-center",
        "https://docs.aws.amazon.com/singlesignon/latest/userguide/logging-using-cloudtrail.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html",
    ),
    baseline="prior 30 days of ConsoleLogin: the distinct IAMUser identities, for review",
)
