"""What scenario modules share: the context, labelling, and the guide lines quoted in labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudtrail_hunt.synth.identities import Account, Org
from cloudtrail_hunt.synth.records import Ids
from cloudtrail_hunt.synth.schedule import Schedule
from cloudtrail_hunt.synth.trail import Label, Trail

__all__ = ["ATTACKER_IPS", "CONTROLS", "GUIDE", "Ctx"]

#: Control number -> control id of the hardening guide.
CONTROLS = {
    1: "aws-iam-01-root-mfa",
    2: "aws-iam-02-root-access-keys",
    3: "aws-iam-03-identity-center",
    4: "aws-iam-04-iam-user-mfa",
    5: "aws-iam-05-key-rotation",
    6: "aws-iam-06-role-assumption",
    7: "aws-iam-07-permission-boundary",
    8: "aws-iam-08-scp-deny-list",
    9: "aws-iam-09-access-analyzer",
    10: "aws-iam-10-credential-report",
}

#: Source addresses of the attacker (documentation ranges, never routable).
ATTACKER_IPS = ("203.0.113.77", "203.0.113.140", "203.0.113.201", "192.0.2.66")

#: signal -> the guide line it exercises (quoted verbatim in the label's description).
GUIDE: dict[str, str] = {
    "root-console-login-mfa-no": 'Any single ConsoleLogin with userIdentity.type = "Root" AND '
    'MFAUsed = "No" — page on first occurrence.',
    "root-deactivate-mfa": "Any DeactivateMFADevice on a root principal during a 24h window — "
    "page on first occurrence.",
    "root-create-access-key": "Any successful CreateAccessKey from a root principal — page on "
    "first occurrence; the expected steady-state rate is exactly zero.",
    "root-update-access-key": "CloudTrail UpdateAccessKey targeting an access-key whose owning "
    "user resolves to the root principal (cross-reference requestParameters.userName against "
    "the credential-report root row).",
    "credential-report-root-key-flip": "IAM credential-report deltas where access_key_1_active or "
    "access_key_2_active flips from false to true on the <root_account> row between "
    "consecutive scheduled report runs.",
    "root-create-access-key-scp-denied": "Any CreateAccessKey denied by the SCP from "
    "aws-iam-08-scp-deny-list — informational alert per occurrence, batched at 1-hour cadence.",
    "automation-allow-list": "Tune: feed the prior 30 days into a static allow-list of approved "
    "automation principals; deviation against that list is the actionable signal.",
    "iam-user-console-login": "Any IAM-user console sign-in outside the documented break-glass "
    "naming convention — page on the first event in a 24h window per identity, then suppress "
    "further pages from the same identity for 24h to avoid flap during remediation.",
    "identity-center-config-tampering": "CloudTrail sso:DisassociatePermissionSet, "
    "sso:DeleteAccountAssignment, or sso-admin:DeletePermissionSet — covers tampering with "
    "the Identity Center configuration itself.",
    "net-new-iam-users": "Net-new IAM users created in any member account between Identity "
    "Center adoption date and the present — informational digest at weekly cadence, escalate "
    "if the digest is non-empty for two consecutive weeks.",
    "iam-user-inventory-drift": "Standing IAM-user inventory drift: scheduled query of "
    "iam:ListUsers result-count crossing a static baseline upward indicates new long-lived "
    "human accounts being created outside Identity Center.",
    "iam-user-console-login-mfa-no": 'ConsoleLogin with MFAUsed = "No" for an IAM user — page on '
    "first occurrence; CIS 1.10 implies steady-state zero so the detection is binary.",
    "iam-user-mfa-removed-with-login-profile": "CloudTrail DeactivateMFADevice or "
    "DeleteVirtualMFADevice on an IAM user that still holds an active LoginProfile — covers "
    "an attacker (or a careless user) stripping the second factor.",
    "enable-mfa-5-minute-suppression": "Tune the streaming page rule by suppressing 5 minutes "
    "after a successful EnableMFADevice by the same user (allows the legitimate "
    "enrol-then-sign-in sequence to complete without flapping).",
    "key-call-volume-dormant": "Behavioural anomaly band: a key whose 30-day moving-average call "
    "volume drops to zero while still active for > 60 days — strong dormancy signal "
    "independent of the rotation clock.",
    "assume-role-by-iam-user": "CloudTrail sts:AssumeRole events where userIdentity.type = "
    '"IAMUser" — long-lived IAM-user keys still acting as the on-ramp to role sessions; the '
    "desirable shape is FederatedUser or WebIdentity.",
    "trust-policy-principal-wildcard": 'Any UpdateAssumeRolePolicy widening the principal to "*" '
    "— page immediately; this is the canonical role-trust-policy backdoor shape.",
    "trust-policy-external-account": "Cross-account trust additions where the target account is "
    "not on the maintained partner-account allow-list — page within 15 minutes; the "
    "allow-list is the authoritative ledger and any deviation is actionable.",
    "distinct-role-assumers-3x-baseline": "Behavioural variance: 7-day moving-average of "
    "distinct role-assumers exceeding the 90-day baseline by more than 3× — informational "
    "ticket; broad fan-out often precedes credential-stuffing-style enumeration.",
    "eks-pod-identity-drift": "EKS Pod Identity drift: eks:DescribePodIdentityAssociation "
    "revealing service-account-to-role bindings whose target role was not provisioned "
    "through the cluster's managed Terraform stack.",
    "delete-role-permissions-boundary": "Any DeleteRolePermissionsBoundary event — page "
    "immediately; there is no legitimate steady-state need to strip a boundary from a "
    "delegated role.",
    "create-role-without-boundary-burst": "Three or more CreateRole events without a boundary "
    "from the same developer principal in a 1-hour window — informational ticket; isolated "
    "cases may be IaC stack-drift, the cluster is the signal.",
    "non-canonical-permissions-boundary": "Static allow-list deviation: the set of boundary ARNs "
    "in use must equal the published-policy ARN list — page on any unknown ARN appearing in "
    "PutRolePermissionsBoundary.",
    "scp-deny-destructive-tampering": "CloudTrail organizations:DetachPolicy, "
    "organizations:DisablePolicyType, or organizations:UpdatePolicy events targeting the "
    "deny-destructive SCP — direct tampering with the preventive guard itself.",
    "scp-denial-fenced-api": 'CloudTrail errorCode = "AccessDenied" with errorMessage containing '
    '"explicit deny in a service control policy" against any of the fenced API names (e.g. '
    "cloudtrail:StopLogging, kms:ScheduleKeyDeletion) — the SCP firing in production confirms "
    "an attempted destructive action.",
    "scp-denials-5-distinct-30min": "Five or more SCP denials from the same principal across "
    "distinct fenced APIs in a 30-minute window — page; this is the walk-the-deny-list shape.",
    "fenced-api-success-member-account": "Any successful (i.e. not denied) invocation of the "
    "fenced APIs from a non-management-account principal — page immediately; bypass is the "
    "worst-case signal and means the SCP has been silently detached.",
    "request-outside-allowed-regions": "CloudTrail API calls whose requestParameters.region falls "
    "outside the allow-listed regions eu-west-1, eu-central-1, us-east-1 — resource-creation "
    "attempts in unmonitored regions even before the SCP denial materialises.",
    "analyzer-finding-public": 'Public-exposure finding (principal.AWS = "*") on S3, KMS, Lambda, '
    "ECR, Secrets Manager, RDS-snapshot, EBS-snapshot, EFS, SQS, SNS — page within 15 minutes "
    "regardless of resource value.",
    "analyzer-finding-cross-account": "Cross-account finding to an account outside the "
    "partner-account allow-list — page within 1 hour; the allow-list is the authoritative "
    "ledger.",
    "analyzer-archive-without-ticket": "Manual archive of an unresolved finding via UpdateFindings "
    "without a referenced change-management ticket ID in the resourceOwnerAccount note field "
    "— informational ticket for SOC-lead review.",
    "credential-report-password-no-mfa": "Credential-report row count with password_enabled=true "
    "AND mfa_active=false > 0 — daily digest with severity proportional to the row count "
    "(0 = silent, 1-5 = ticket, 6+ = page).",
    "config-access-keys-rotated-non-compliant": "Non-zero count of NON_COMPLIANT users on the "
    "weekly Config evaluation cadence — informational ticket per user with "
    "rotation-required acknowledgement deadline of 14 days.",
    "credential-report-key-over-90-days": "IAM credential-report rows where "
    "access_key_1_last_rotated (or _2_) is more than 90 days behind the report timestamp — "
    "periodic-snapshot complement.",
    "key-age-over-180-days": "Key age > 180 days (double the policy threshold) — escalate to "
    "page; treat the workload owner's silence as confirmation the credential is orphaned.",
    "key-last-used-gap": "Last-used recency gap: access-key whose access_key_1_last_used_date "
    "trails access_key_1_last_rotated by more than 30 days while still active — flags "
    "dormant keys whose owners likely no longer exist.",
    "credential-never-used-over-45-days": "IAM credential-report row deltas where "
    "password_last_used or access_key_1_last_used_date remains N/A for > 45 days while the "
    "corresponding credential remains active — the dormancy shape codified by CIS 1.12/1.13.",
    "stale-users-two-consecutive-runs": "Custom metric StaleUsers > 0 for two consecutive runs — "
    "ticket per stale user with remediation deadline of 7 days from notice; one isolated run "
    "may indicate a freshly-onboarded user yet to authenticate.",
    "stale-users-over-10": "Custom metric > 10 in any single run — page; the cluster suggests a "
    "missed offboarding wave or a long-paused decommission project.",
    "credential-report-generation-failing": "CloudTrail GenerateCredentialReport calls failing "
    "with errorCode set (Throttling, ServiceFailure) on the audit cadence — the job cannot "
    "produce its evidence; absence of data is the signal.",
    "audit-lambda-missed-over-14-days": "Audit Lambda missing its scheduled invocation for > 14 "
    "days (no GenerateCredentialReport entry in CloudTrail attributed to the Lambda's role) — "
    "page; the control's own observability is the precondition for everything else.",
}


@dataclass(slots=True)
class Ctx:
    """State a scenario needs: the org, the calendar, the trail, an RNG and the labels so far."""

    org: Org
    sched: Schedule
    trail: Trail
    ids: Ids
    extra_region: str
    labels: list[Label] = field(default_factory=list)
    #: Access Analyzer findings raised by scenarios (written by side_inputs).
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: CloudTrail Insights events (records) raised by scenarios.
    insights: list[dict[str, Any]] = field(default_factory=list)

    def t(self, hunt_day: int, hh: int, mm: int = 0, ss: int = 0) -> int:
        """Epoch second of day `hunt_day` of the hunt window (0 = first) at hh:mm:ss."""
        return self.sched.t(self.sched.hunt + hunt_day, hh, mm, ss)

    def day(self, day: int, hh: int, mm: int = 0, ss: int = 0) -> int:
        """Epoch second of trail day `day` at hh:mm:ss."""
        return self.sched.t(day, hh, mm, ss)

    @property
    def a0(self) -> Account:
        return self.org.accounts[0]

    @property
    def a1(self) -> Account:
        return self.org.accounts[1]

    @property
    def a2(self) -> Account:
        return self.org.accounts[2]

    def member(self, k: int) -> Account:
        """The k-th member account, wrapping around (spreads scenarios over big orgs)."""
        members = self.org.members
        return members[k % len(members)]

    def label(
        self,
        scenario: str,
        control: int,
        signal: str,
        tier: str | None,
        account: str,
        principal: str,
        records: list[dict[str, Any]],
        note: str,
        *,
        evidence: list[str] | None = None,
        first: int | None = None,
        last: int | None = None,
    ) -> Label:
        """Add a label: fires at `tier`, or stays silent when `tier` is None."""
        lab = guide_label(
            scenario, control, signal, tier, account, principal, note,
            records=records, evidence=evidence or [], first=first, last=last,
        )  # fmt: skip
        self.labels.append(lab)
        return lab


def guide_label(
    scenario: str,
    control: int,
    signal: str,
    tier: str | None,
    account: str,
    principal: str,
    note: str,
    *,
    records: list[dict[str, Any]] | None = None,
    evidence: list[str] | None = None,
    first: int | None = None,
    last: int | None = None,
) -> Label:
    """A label that fires at `tier`, or stays silent when `tier` is None.

    The description is `note` followed by the quoted guide line of `signal`.
    """
    quote = GUIDE.get(signal)
    description = f'{note} Guide: "{quote}"' if quote else note
    return Label(
        scenario,
        CONTROLS[control],
        signal,
        tier,
        "fire" if tier else "silent",
        account,
        principal,
        description,
        list(records or []),
        list(evidence or []),
        first,
        last,
    )
