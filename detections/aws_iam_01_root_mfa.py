"""aws-iam-01-root-mfa: root sign-ins without MFA, and MFA removed from root."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt.detect.model import ControlType, Detection, Severity, Signal, Threshold, Tier
from detections._guide import RESPONSES

ID = "aws-iam-01-root-mfa"

DETECTION = Detection(
    id=ID,
    title="Hardware MFA on the root user of every account",
    control_type=ControlType.PREVENTIVE,
    severity=Severity.CRITICAL,
    compliance=(),  # the guide gives no compliance table for this control
    signals=(
        Signal(
            name="root-console-login-mfa-no",
            description="A root console sign-in that used no MFA.",
            # Guide: 'Any single ConsoleLogin with userIdentity.type = "Root" AND MFAUsed = "No"
            # — page on first occurrence.'
            # A failed sign-in also records MFAUsed "No" (MFA is never asked after a wrong
            # password): only a sign-in that succeeded is a login without MFA.
            match=ct.event("ConsoleLogin")
            & ct.identity("Root")
            & ct.mfa_not_used()
            & ct.succeeded(),
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Signal(
            name="root-deactivate-mfa",
            description="Root deactivates an MFA device.",
            # Guide: "Any DeactivateMFADevice on a root principal during a 24h window — page on
            # first occurrence." One page per root principal per 24 h.
            match=ct.event("DeactivateMFADevice", "DeleteVirtualMFADevice") & ct.identity("Root"),
            resource=pl.col("requestParameters").str.json_path_match("$.serialNumber"),
            thresholds=(Threshold(Tier.PAGE, suppress=timedelta(hours=24)),),
        ),
    ),
    guide_query=None,  # the guide describes the baseline query in prose only
    response=RESPONSES[ID],
    references=(
        "hardening guide, aws-iam-01-root-mfa",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/enable-mfa-for-root.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html",
    ),
    baseline="stats count() by userIdentity.accountId over 30 days: root-login cadence per account",
)
