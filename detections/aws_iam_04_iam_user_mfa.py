"""aws-iam-04-iam-user-mfa: IAM users signing in without MFA."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt.detect import reports
from cloudtrail_hunt.detect.model import (
    Computed,
    ControlType,
    Detection,
    Severity,
    Signal,
    Threshold,
    Tier,
)
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
            # A failed sign-in records MFAUsed "No" too; the guide's point is "a console password
            # authenticating without a second factor", so the sign-in must have succeeded.
            match=ct.event("ConsoleLogin")
            & ct.identity("IAMUser")
            & ct.mfa_not_used()
            & ct.succeeded(),
            thresholds=(Threshold(Tier.PAGE),),
            # Guide: "suppressing 5 minutes after a successful EnableMFADevice by the same
            # user (allows the legitimate enrol-then-sign-in sequence to complete)".
            unless_after=(
                ct.event("EnableMFADevice") & ct.succeeded(),
                timedelta(minutes=5),
            ),
            principal=pl.col("userIdentity.arn"),
        ),
        Computed(
            name="credential-report-password-no-mfa",
            description="Report rows with a console password and no MFA, banded by count.",
            # Guide: "0 = silent, 1-5 = ticket, 6+ = page", one finding per account and report.
            tiers=(Tier.TICKET, Tier.PAGE),
            evaluate=reports.password_no_mfa,
        ),
    ),
    guide_query=None,
    response=RESPONSES[ID],
    references=(
        "hardening guide, aws-iam-04-iam-user-mfa",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html",
    ),
)
