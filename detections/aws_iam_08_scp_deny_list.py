"""aws-iam-08-scp-deny-list: the deny-destructive SCP tampered with, walked, or bypassed."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt.detect.model import ControlType, Detection, Severity, Signal, Threshold, Tier
from cloudtrail_hunt.detect.site import Site
from detections._guide import QUERIES, RESPONSES

ID = "aws-iam-08-scp-deny-list"

#: The actions the guide's deny-destructive SCP fences (its `DenyDestructiveAudit` statement).
FENCED = (
    "StopLogging",
    "DeleteTrail",
    "DeleteConfigurationRecorder",
    "StopConfigurationRecorder",
    "ScheduleKeyDeletion",
    "DisableKey",
)


_ORGANIZATIONS = pl.col("eventSource") == "organizations.amazonaws.com"
_TAMPERING_CALLS = ("DetachPolicy", "UpdatePolicy", "DeletePolicy", "DisablePolicyType")


def _tampering(site: Site) -> pl.Expr:
    # Guide: "organizations:DetachPolicy, organizations:DisablePolicyType, or
    # organizations:UpdatePolicy events targeting the deny-destructive SCP". DisablePolicyType
    # of SERVICE_CONTROL_POLICY switches every SCP off, this one included.
    policy_id = (site.deny_destructive_policy or "").rsplit("/", 1)[-1]
    targets = (
        ct.request("policyId", where=_ORGANIZATIONS) == policy_id if policy_id else pl.lit(True)
    )
    disables_scps = ct.request("policyType", where=_ORGANIZATIONS) == "SERVICE_CONTROL_POLICY"
    return (
        _ORGANIZATIONS
        & ct.succeeded()
        & (
            (ct.event("DetachPolicy", "UpdatePolicy", "DeletePolicy") & targets.fill_null(False))
            | (ct.event("DisablePolicyType") & disables_scps.fill_null(False))
        )
    )


def _bypass(site: Site) -> pl.Expr:
    # Guide: "Any successful (i.e. not denied) invocation of the fenced APIs from a
    # non-management-account principal" (SCPs never bind the management account).
    account = pl.col("userIdentity.accountId")
    member = (account != (site.management_account or "")).fill_null(True)
    return ct.event(*FENCED) & ct.succeeded() & member & ~ct.identity("AWSService")


def _outside_regions(site: Site) -> pl.Expr:
    # Guide: "API calls whose requestParameters.region falls outside the allow-listed regions
    # — resource-creation attempts in unmonitored regions". Calls AWS services make on their
    # own (AWSService identities, `invokedBy`) are not attempts by a principal.
    if not site.allowed_regions:
        return pl.lit(False)
    allowed = sorted(site.allowed_regions)
    region = pl.coalesce(ct.request("region"), pl.col("awsRegion"))
    by_service = ct.identity("AWSService") | pl.col("userIdentity.invokedBy").is_not_null()
    read_only = (pl.col("readOnly") == True).fill_null(False)  # noqa: E712 - a Boolean column
    return ~region.is_in(allowed).fill_null(True) & ~by_service & ~read_only


DETECTION = Detection(
    id=ID,
    title="An SCP deny-list fencing destructive actions and regions",
    control_type=ControlType.PREVENTIVE,
    severity=Severity.HIGH,
    compliance=(),
    signals=(
        Signal(
            name="scp-deny-destructive-tampering",
            description="The deny-destructive SCP was detached, changed, or SCPs disabled.",
            match=_tampering,
            resource=pl.coalesce(
                pl.col("requestParameters").str.json_path_match("$.policyId"),
                pl.col("requestParameters").str.json_path_match("$.policyType"),
            ),
            gate=_ORGANIZATIONS & ct.event(*_TAMPERING_CALLS),
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Signal(
            name="scp-denial-fenced-api",
            description="An SCP denied a fenced destructive API.",
            # The guide's query matches errorCode = "AccessDenied" only; JSON-protocol APIs
            # report AccessDeniedException, so every access-denied code counts here.
            match=ct.event(*FENCED) & ct.scp_denied(),
            gate=ct.event(*FENCED) & ct.denied(),
            thresholds=(Threshold(Tier.INFORMATIONAL, batch=timedelta(hours=1)),),
        ),
        Signal(
            name="scp-denials-5-distinct-30min",
            description="One principal denied by SCPs on five distinct fenced APIs within 30 min.",
            # Guide: "Five or more SCP denials from the same principal across distinct fenced
            # APIs in a 30-minute window — page".
            match=ct.event(*FENCED) & ct.scp_denied(),
            gate=ct.event(*FENCED) & ct.denied(),
            thresholds=(
                Threshold(
                    Tier.PAGE,
                    count=5,
                    distinct="eventName",
                    window=timedelta(minutes=30),
                ),
            ),
        ),
        Signal(
            name="fenced-api-success-member-account",
            description="A fenced destructive API succeeded in a member account.",
            match=_bypass,
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Signal(
            name="request-outside-allowed-regions",
            description="A principal acted in a region the SCP does not allow.",
            match=_outside_regions,
            thresholds=(Threshold(Tier.TICKET, suppress=timedelta(hours=24)),),
        ),
    ),
    guide_query=QUERIES[ID],
    response=RESPONSES[ID],
    references=(
        "hardening guide, aws-iam-08-scp-deny-list",
        "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html",
    ),
)
