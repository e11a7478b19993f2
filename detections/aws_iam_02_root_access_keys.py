"""aws-iam-02-root-access-keys: the root user creating or re-enabling an access key."""

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
from detections._guide import QUERIES, RESPONSES

ID = "aws-iam-02-root-access-keys"

# The real event shape: root creates its own key, so `userIdentity.type` is Root and
# `requestParameters` is null (no userName). The guide's `userName like /:root$/` branch cannot
# match a real record (IAM user names cannot contain `:`); we judge by the caller.
_ROOT_CALL = ct.identity("Root")
#: Whose key a call is about: `userName`, null for the caller's own. The guide pages on any
#: CreateAccessKey *from* root, also for an IAM user's key (tests/detect/corpus_expectations.py):
#: the finding's resource then names that user, so it does not read as a key on root.
_TARGET = ct.request("userName")
#: A key owned by root: root acting on its own key (no `userName`; CloudTrail may write root's
#: own as `AWS ROOT USER`, which no IAM user can be called). Root re-activating an IAM user's
#: key is not the guide's "access-key whose owning user resolves to the root principal".
_ROOT_OWNED = (_ROOT_CALL & _TARGET.is_null()) | (_TARGET == "AWS ROOT USER").fill_null(False)
#: Automation acts through a role: the role (session issuer), not the session, is who it is.
_ISSUER = pl.coalesce(
    pl.col("userIdentity.sessionContext.sessionIssuer.arn"), pl.col("userIdentity.arn")
)

DETECTION = Detection(
    id=ID,
    title="No access keys on the root user",
    control_type=ControlType.PREVENTIVE,
    severity=Severity.CRITICAL,
    compliance=(),
    signals=(
        Signal(
            name="root-create-access-key",
            description="Root created an access key.",
            # Guide: "Any successful CreateAccessKey from a root principal — page on first
            # occurrence; the expected steady-state rate is exactly zero."
            match=ct.event("CreateAccessKey") & _ROOT_CALL & ct.succeeded(),
            resource=_TARGET,
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Signal(
            name="root-update-access-key",
            description="Root re-activated (UpdateAccessKey) one of its access keys.",
            match=ct.event("UpdateAccessKey") & _ROOT_OWNED & ct.succeeded(),
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Signal(
            name="root-create-access-key-scp-denied",
            description="Root tried to create an access key and an SCP denied it.",
            # Guide: "Any CreateAccessKey denied by the SCP from aws-iam-08-scp-deny-list —
            # informational alert per occurrence, batched at 1-hour cadence."
            match=ct.event("CreateAccessKey") & _ROOT_CALL & ct.scp_denied(),
            gate=ct.event("CreateAccessKey") & _ROOT_CALL & ct.denied(),
            thresholds=(Threshold(Tier.INFORMATIONAL, batch=timedelta(hours=1)),),
        ),
        Signal(
            name="automation-allow-list",
            description="An access key created by a principal that did not do so before.",
            # Guide: "Tune: feed the prior 30 days into a static allow-list of approved
            # automation principals; deviation against that list is the actionable signal."
            # The site's approved automation roles are allow-listed too; root is covered above.
            match=lambda site: (
                ct.event("CreateAccessKey")
                & ct.succeeded()
                & ~_ROOT_CALL
                & ~_ISSUER.is_in(sorted(site.automation_principals)).fill_null(False)
            ),
            principal=_ISSUER,
            resource=_TARGET,
            thresholds=(Threshold(Tier.TICKET),),
            learn_allow="userIdentity.sessionContext.sessionIssuer.arn",
            allow_fields=("userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.arn"),
        ),
        Computed(
            name="credential-report-root-key-flip",
            description="access_key_N_active turns true on the root row between two reports.",
            # Guide: "IAM credential-report deltas where access_key_1_active or
            # access_key_2_active flips from false to true on the <root_account> row".
            tiers=(Tier.PAGE,),
            evaluate=reports.root_key_flip,
        ),
    ),
    guide_query=QUERIES[ID],
    response=RESPONSES[ID],
    references=(
        "hardening guide, aws-iam-02-root-access-keys",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-best-practices.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    ),
    baseline="prior 30 days of CreateAccessKey callers: the approved automation principals",
)
