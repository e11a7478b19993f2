"""aws-iam-03-identity-center: IAM-user sign-ins, Identity Center tampering, net-new IAM users."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt.detect.model import ControlType, Detection, Severity, Signal, Threshold, Tier
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
            principal=pl.col("requestParameters").str.json_path_match("$.userName"),
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
