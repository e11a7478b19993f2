"""aws-iam-04-iam-user-mfa: IAM users signing in without MFA."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import reports
from cloudtrail_hunt.detect.findings import episodes, evidence
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
from detections._guide import COMPLIANCE, RESPONSES

ID = "aws-iam-04-iam-user-mfa"

#: MFA removed from an IAM user: DeactivateMFADevice names the user; DeleteVirtualMFADevice
#: names the device, whose serial ends with the user name for devices named after their user.
_MFA_REMOVED = ct.event("DeactivateMFADevice", "DeleteVirtualMFADevice") & ct.succeeded()
_SERIAL = pl.col("requestParameters").str.json_path_match("$.serialNumber")
_TARGET_USER = pl.coalesce(ct.request("userName"), _SERIAL.str.extract(r":mfa/(.+)$"))
#: The root user's own MFA device: CloudTrail names root ``AWS ROOT USER`` in `userName`, and
#: root's virtual device is ``root-account-mfa-device``; removing it is control 01's signal.
_ROOT_NAME, _ROOT_DEVICE = "AWS ROOT USER", r":mfa/root-account-mfa-device$"
_OWN_ROOT = (
    (ct.request("userName") == _ROOT_NAME).fill_null(False)
    | _SERIAL.str.contains(_ROOT_DEVICE).fill_null(False)
    | (ct.identity("Root") & ct.request("userName").is_null() & _SERIAL.is_null())
)
_LOGIN_PROFILE = {"CreateLoginProfile": True, "DeleteLoginProfile": False}
#: The events the signal reads: MFA removals and LoginProfile changes.
_RELEVANT = _MFA_REMOVED | (ct.event(*_LOGIN_PROFILE) & ct.succeeded())
_EPISODE = timedelta(hours=24)


def mfa_removed_with_login_profile(ctx: HuntContext) -> list[dict[str, Any]]:
    """MFA removed from a user who still has a console password, one ticket per user a day.

    Guide: "CloudTrail DeactivateMFADevice or DeleteVirtualMFADevice on an IAM user that
    still holds an active LoginProfile". Whether the user has a LoginProfile is said by the
    later of: `password_enabled` in the last credential report before the event, and the last
    CreateLoginProfile / DeleteLoginProfile call for the user before it. Unknown (no report, no
    call) counts as holding one, which errs towards alerting.
    """
    account = pl.coalesce("recipientAccountId", "userIdentity.accountId").alias("account")
    columns = [
        schema.EVENT_TIME,
        "eventName",
        account,
        _TARGET_USER.alias("user"),
        pl.col("userIdentity.arn").alias("actor"),
        _OWN_ROOT.alias("own_root"),
        pl.col("eventID").alias("event_id"),
        pl.col(schema.SOURCE).alias("source"),
        pl.col(schema.SOURCE_INDEX).cast(pl.Int64).alias("index"),
    ]
    events = (
        ctx.events.filter(_RELEVANT & (pl.col(schema.EVENT_TIME) < ctx.end))
        .select(columns)
        .filter(pl.col("user").is_not_null() & ~pl.col("own_root"))
        .collect()
        .sort(schema.EVENT_TIME)
    )
    states = reports.login_profiles(ctx)
    removals: list[dict[str, Any]] = []
    # The last LoginProfile call seen so far per user: (time, has a password after it).
    calls: dict[tuple[str, str], tuple[datetime, bool | None]] = {}
    for row in events.to_dicts():
        key = (row["account"], row["user"])
        if row["eventName"] in _LOGIN_PROFILE:
            calls[key] = (row[schema.EVENT_TIME], _LOGIN_PROFILE[row["eventName"]])
            continue
        # Whichever is later, the report or the call, says whether the password is there.
        known = [
            s
            for s in (calls.get(key), reports.login_profile_at(states, key, row[schema.EVENT_TIME]))
            if s is not None
        ]
        if not known or max(known, key=lambda s: s[0])[1] is not False:
            removals.append({**row, "key": key})
    return [
        {
            "tier": Tier.TICKET,
            "account": episode[0]["account"],
            # Who removed the device acted; the user whose device it was is the resource.
            "principal": ", ".join(dict.fromkeys(r["actor"] for r in episode if r["actor"]))
            or None,
            "resource": f"arn:aws:iam::{episode[0]['account']}:user/{episode[0]['user']}",
            "first_seen": episode[0][schema.EVENT_TIME],
            "last_seen": episode[-1][schema.EVENT_TIME],
            "evidence": evidence(episode),
            "threshold": "any event, one ticket per user per 24h",
        }
        for episode in episodes(removals, "key", _EPISODE)
    ]


DETECTION = Detection(
    id=ID,
    title="MFA on every IAM user with a console password",
    control_type=ControlType.PREVENTIVE,
    severity=Severity.CRITICAL,
    compliance=COMPLIANCE[ID],
    signals=(
        Computed(
            name="iam-user-mfa-removed-with-login-profile",
            description="MFA removed from an IAM user who still has a console password.",
            tiers=(Tier.TICKET,),
            evaluate=mfa_removed_with_login_profile,
            gate=_RELEVANT,
            columns=(
                *("eventName", "errorCode", "responseElements.ConsoleLogin", "userIdentity.type"),
                *("recipientAccountId", "userIdentity.accountId", "userIdentity.arn"),
                *("requestParameters", "requestParameters.userName"),
            ),
            guide=(
                "CloudTrail DeactivateMFADevice or DeleteVirtualMFADevice on an IAM user that"
                " still holds an active LoginProfile"
            ),
        ),
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
