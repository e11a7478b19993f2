"""aws-iam-06-role-assumption: IAM-user keys assuming roles, widened trust, fan-out, EKS drift."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import policy
from cloudtrail_hunt.detect.baselines import Variance, daily_distinct, moving_vs_baseline
from cloudtrail_hunt.detect.findings import episodes, evidence, evidence_columns
from cloudtrail_hunt.detect.model import (
    Computed,
    ControlType,
    Detection,
    Severity,
    Signal,
    Threshold,
    Tier,
)
from cloudtrail_hunt.errors import IngestError
from detections._guide import QUERIES, RESPONSES

if TYPE_CHECKING:
    from cloudtrail_hunt.detect.model import HuntContext
    from cloudtrail_hunt.detect.site import Site

ID = "aws-iam-06-role-assumption"

_STS = pl.col("eventSource") == "sts.amazonaws.com"
_IAM = pl.col("eventSource") == "iam.amazonaws.com"

# The trust policy a call sets: UpdateAssumeRolePolicy's `policyDocument` (the guide's query
# field), and CreateRole's `assumeRolePolicyDocument` (a new role trusting an outsider is the
# same trust addition). Masked first, so only these few documents are parsed.
#: The role a call changed (the finding's resource).
_ROLE_NAME = pl.col("requestParameters").str.json_path_match("$.roleName")
_TRUST_CALL = _IAM & ct.event("UpdateAssumeRolePolicy", "CreateRole") & ct.succeeded()
_DOCUMENT = pl.coalesce(
    pl.when(ct.event("UpdateAssumeRolePolicy")).then(pl.col("requestParameters.policyDocument")),
    pl.when(ct.event("CreateRole"))
    .then(pl.col("requestParameters"))
    .str.json_path_match("$.assumeRolePolicyDocument"),
)


def _external_trust(site: Site) -> pl.Expr:
    # Guide: "Cross-account trust additions where the target account is not on the maintained
    # partner-account allow-list — page within 15 minutes". The organisation's own accounts
    # and the role's own account are not cross-account trust.
    known = site.accounts | site.partner_accounts
    outsiders = policy.external_accounts(_DOCUMENT, known, pl.col("recipientAccountId"))
    return _TRUST_CALL & (outsiders.list.len() > 0).fill_null(False)


# --- Behavioural variance: distinct role-assumers ----------------------------------------------

#: Guide: "7-day moving-average of distinct role-assumers exceeding the 90-day baseline by more
#: than 3×". Without history a role must average more than 3 distinct assumers a day, and no
#: day is judged on less than a week of history (the engine reads 30 days before the range, so
#: the baseline is the mean over the days that exist, up to 90).
VARIANCE = Variance(window=7, baseline=90, factor=3.0, floor=1.0, min_history=7)
#: One ticket per role per fan-out week; a fan-out that goes on opens a new one each week.
_FAN_OUT_SUPPRESS = timedelta(days=7)
_ASSUME = ct.event("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity")
# Who assumes: the role behind a session (not each session name), the IAM user, the service,
# or the federated subject. Denied attempts count: the guide's concern is enumeration.
_ASSUMER = pl.coalesce(
    pl.col("userIdentity.sessionContext.sessionIssuer.arn"),
    pl.col("userIdentity.arn"),
    pl.col("userIdentity.invokedBy"),
    pl.col("userIdentity.userName"),
)


def _json(mask: pl.Expr, column: str, path: str) -> pl.Expr:
    """A JSON-path value of `column`, read only where `mask` holds (the rest of a scan is null
    there, and parsing JSON text is the expensive part)."""
    return pl.when(mask).then(pl.col(column)).str.json_path_match(path)


_address = evidence_columns


def fan_out(ctx: HuntContext) -> list[dict[str, Any]]:
    """Roles whose 7-day average of daily distinct assumers exceeds 3× their baseline.

    History starts on the first day any role was assumed: role assumption never stops in a
    live account, so that is where the lake's history begins (a quiet role counts zero there).
    """
    # Daily counts are aggregated in the scan; event rows are read only for the fired days.
    assumptions = (
        ctx.events.filter(_STS & _ASSUME & (pl.col(schema.EVENT_TIME) < ctx.end))
        .with_columns(
            pl.coalesce("recipientAccountId", "userIdentity.accountId").alias("account"),
            _json(_STS & _ASSUME, "requestParameters", "$.roleArn").alias("role"),
            _ASSUMER.alias("assumer"),
        )
        .filter(pl.col("role").is_not_null())
    )
    keys = ["account", "role"]
    daily = daily_distinct(assumptions, keys, "assumer")
    if daily.is_empty():
        return []
    first, last = daily["day"].min(), (ctx.end - timedelta(microseconds=1)).date()
    assert isinstance(first, date)  # the frame is not empty
    judged = moving_vs_baseline(daily, keys, first, last, VARIANCE)
    fired = judged.filter(pl.col("fired")).select(*keys, "day", "ma", "base", "history")
    if fired.is_empty():
        return []
    days = (
        assumptions.with_columns(pl.col(schema.EVENT_TIME).dt.date().alias("day"))
        .join(fired.lazy(), on=[*keys, "day"])
        .select(schema.EVENT_TIME, *_address(ctx.events), *keys, "day", "ma", "base", "history")
        .sort(schema.EVENT_TIME)
        .collect()
    )
    rows = days.with_columns(pl.concat_str(keys, separator="|").alias("key")).to_dicts()
    out = []
    for episode in episodes(rows, "key", _FAN_OUT_SUPPRESS):
        head = episode[0]
        out.append(
            {
                "tier": Tier.TICKET,
                "account": head["account"],
                "principal": head["role"],
                "resource": head["role"],
                "first_seen": head[schema.EVENT_TIME],
                "last_seen": episode[-1][schema.EVENT_TIME],
                "evidence": evidence(episode),
                "threshold": VARIANCE.describe(),
                "baseline": (
                    f"{head['base'] or 0:.2f} distinct assumers/day over {head['history']} days "
                    f"of history; 7-day average {head['ma']:.2f} on {head['day']}"
                ),
            }
        )
    return out


# --- EKS Pod Identity drift --------------------------------------------------------------------

_POD_IDENTITY = (
    (pl.col("eventSource") == "eks.amazonaws.com")
    & ct.event(
        "DescribePodIdentityAssociation",
        "CreatePodIdentityAssociation",
        "UpdatePodIdentityAssociation",
    )
    & ct.succeeded()
)
_BOUND_ROLE = pl.coalesce(
    _json(_POD_IDENTITY, "responseElements", "$.association.roleArn"),
    _json(_POD_IDENTITY, "requestParameters", "$.roleArn"),
)
_DRIFT_SUPPRESS = timedelta(hours=24)


def managed_roles(ctx: HuntContext) -> frozenset[str] | None:
    """Role names (or ARNs) the managed Terraform stacks provision, or None when unknown.

    From the site (`extra["iac_managed_roles"]`), else from `org.json` beside the side inputs
    (the synthetic trail's `iac_managed_roles`).
    """
    listed = ctx.site.iac_managed_roles or ctx.site.extra.get("iac_managed_roles")
    org = ctx.side_inputs / "org.json" if ctx.side_inputs is not None else None
    if listed is None and org is not None and org.is_file():
        try:
            listed = json.loads(org.read_text(encoding="utf-8")).get("iac_managed_roles")
        except (ValueError, AttributeError) as exc:
            raise IngestError(str(org), f"invalid org.json: {exc!r}") from None
    if listed is not None and not isinstance(listed, list | tuple | set | frozenset):
        where = "iac_managed_roles"
        raise IngestError(where, f"expected a list of roles, got {listed!r:.80}")
    return frozenset(map(str, listed)) if listed is not None else None


def pod_identity_drift(ctx: HuntContext) -> list[dict[str, Any]]:
    """Pod Identity bindings to roles outside the managed stacks, one ticket per role a day.

    Guide: "EKS Pod Identity drift: eks:DescribePodIdentityAssociation revealing
    service-account-to-role bindings whose target role was not provisioned through the
    cluster's managed Terraform stack". Creating or updating such a binding counts too. With
    no managed-role list every binding is unknown, which errs towards alerting.
    """
    managed = sorted(managed_roles(ctx) or ())
    role = _BOUND_ROLE
    name = role.str.split("/").list.last()
    unmanaged = ~(name.is_in(managed) | role.is_in(managed)).fill_null(False)
    rows = (
        ctx.events.filter(
            _POD_IDENTITY & (pl.col(schema.EVENT_TIME) < ctx.end) & role.is_not_null() & unmanaged
        )
        .select(
            schema.EVENT_TIME,
            *_address(ctx.events),
            pl.coalesce("recipientAccountId", "userIdentity.accountId").alias("account"),
            role.alias("role"),
        )
        .collect()
        .to_dicts()
    )
    return [
        {
            "tier": Tier.TICKET,
            "account": episode[0]["account"],
            "principal": episode[0]["role"],
            "resource": episode[0]["role"],
            "first_seen": episode[0][schema.EVENT_TIME],
            "last_seen": episode[-1][schema.EVENT_TIME],
            "evidence": evidence(episode),
            "threshold": "any binding to an unmanaged role, suppress 24h",
        }
        for episode in episodes(rows, "role", _DRIFT_SUPPRESS)
    ]


DETECTION = Detection(
    id=ID,
    title="Workloads authenticate through assumed roles, not long-lived keys",
    control_type=ControlType.PREVENTIVE,
    severity=Severity.HIGH,
    compliance=(),
    signals=(
        Signal(
            name="assume-role-by-iam-user",
            description="An IAM user's long-lived key called sts:AssumeRole.",
            # Guide: "CloudTrail sts:AssumeRole events where userIdentity.type = "IAMUser" —
            # long-lived IAM-user keys still acting as the on-ramp to role sessions; the
            # desirable shape is FederatedUser or WebIdentity". AssumeRoleWithWebIdentity and
            # service (AWSService) assumptions are the desirable shapes.
            match=_STS & ct.event("AssumeRole") & ct.identity("IAMUser"),
            resource=pl.col("requestParameters").str.json_path_match("$.roleArn"),
            thresholds=(Threshold(Tier.TICKET, suppress=timedelta(hours=24)),),
        ),
        Signal(
            name="trust-policy-principal-wildcard",
            description='A role trust policy was set to trust "*".',
            # Guide: "Any UpdateAssumeRolePolicy widening the principal to "*" — page
            # immediately". The policy is parsed: `"Principal": "*"`, `{"AWS": "*"}` and "*"
            # inside an array all count (the guide's regex sees only the first).
            match=_TRUST_CALL & policy.wildcard_principal(_DOCUMENT),
            gate=_TRUST_CALL,
            resource=_ROLE_NAME,
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Signal(
            name="trust-policy-external-account",
            description="A role trust policy trusts an account outside the org and partners.",
            # Bare 12-digit ids and any IAM/STS ARN count, not only `:root"` (the guide's
            # regex); an allow-listed partner is silent, with or without sts:ExternalId.
            match=_external_trust,
            gate=_TRUST_CALL,
            resource=_ROLE_NAME,
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Computed(
            name="distinct-role-assumers-3x-baseline",
            description="A role's distinct assumers rose above 3x its baseline (7-day average).",
            tiers=(Tier.TICKET,),
            evaluate=fan_out,
            gate=_STS & _ASSUME,
            columns=(
                *("eventSource", "eventName", "recipientAccountId", "requestParameters"),
                *("userIdentity.accountId", "userIdentity.arn", "userIdentity.invokedBy"),
                *("userIdentity.userName", "userIdentity.sessionContext.sessionIssuer.arn"),
            ),
            # 7 days of window on top of a 90-day baseline.
            lookback=timedelta(days=97),
            guide=(
                "Behavioural variance: 7-day moving-average of distinct role-assumers exceeding"
                " the 90-day baseline by more than 3× — informational ticket"
            ),
        ),
        Computed(
            name="eks-pod-identity-drift",
            description="A Pod Identity association binds a role the managed stacks do not own.",
            tiers=(Tier.TICKET,),
            evaluate=pod_identity_drift,
            gate=_POD_IDENTITY,
            columns=(
                *("eventSource", "eventName", "errorCode", "responseElements.ConsoleLogin"),
                *("requestParameters", "responseElements"),
                *("recipientAccountId", "userIdentity.accountId"),
            ),
            guide=(
                "EKS Pod Identity drift: eks:DescribePodIdentityAssociation revealing"
                " service-account-to-role bindings whose target role was not provisioned"
                " through the cluster's managed Terraform stack"
            ),
        ),
    ),
    guide_query=QUERIES[ID],
    response=RESPONSES[ID],
    references=(
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html",
        "https://docs.aws.amazon.com/eks/latest/userguide/pod-identities.html",
    ),
    baseline="daily distinct assumers per role over up to 90 days before the 7-day window",
)
