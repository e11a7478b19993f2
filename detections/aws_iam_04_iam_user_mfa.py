"""aws-iam-04-iam-user-mfa: IAM users signing in without MFA."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt.detect.model import ControlType, Detection, Severity, Signal, Threshold, Tier
from detections._guide import COMPLIANCE, RESPONSES

ID = "aws-iam-04-iam-user-mfa"

DETECTION = Detection(
    id=ID,
    title="MFA on every IAM user with a console password",
    control_type=ControlType.PREVENTIVE,
    severity=Severity.CRITICAL,
    compliance=COMPLIANCE[ID],
    signals=(
        Signal(
            name="iam-user-console-login-mfa-no",
            description="An IAM user signed in to the console without MFA.",
            # Guide: 'ConsoleLogin with MFAUsed = "No" for an IAM user — page on first
            # occurrence'. SAML and Identity Center sign-ins are not IAM users.
            match=ct.event("ConsoleLogin") & ct.identity("IAMUser") & ct.mfa_not_used(),
            thresholds=(Threshold(Tier.PAGE),),
            # Guide: "suppressing 5 minutes after a successful EnableMFADevice by the same
            # user (allows the legitimate enrol-then-sign-in sequence to complete)".
            unless_after=(
                ct.event("EnableMFADevice") & ct.succeeded(),
                timedelta(minutes=5),
            ),
            principal=pl.col("userIdentity.arn"),
        ),
    ),
    guide_query=None,
    response=RESPONSES[ID],
)
