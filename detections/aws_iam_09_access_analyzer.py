"""aws-iam-09-access-analyzer: public and cross-account findings, archives without a ticket."""

from __future__ import annotations

from cloudtrail_hunt.detect import analyzer
from cloudtrail_hunt.detect.model import Computed, ControlType, Detection, Severity, Tier
from detections._guide import RESPONSES

ID = "aws-iam-09-access-analyzer"

DETECTION = Detection(
    id=ID,
    title="IAM Access Analyzer in every region of every account",
    control_type=ControlType.DETECTIVE,
    severity=Severity.HIGH,
    compliance=(),
    signals=(
        Computed(
            name="analyzer-finding-public",
            description='An Access Analyzer finding shares a resource publicly (principal "*").',
            # Read from the side inputs: EventBridge "Access Analyzer Finding" events and
            # `list-findings` output; the CloudTrail call that changed the resource policy
            # names who did it.
            tiers=(Tier.PAGE,),
            evaluate=analyzer.public_findings,
            guide=(
                'Public-exposure finding (principal.AWS = "*") on S3, KMS, Lambda, ECR, Secrets'
                " Manager, RDS-snapshot, EBS-snapshot, EFS, SQS, SNS — page within 15 minutes"
                " regardless of resource value"
            ),
        ),
        Computed(
            name="analyzer-finding-cross-account",
            description="An Access Analyzer finding shares with an account outside org/partners.",
            # Guide: "findings whose condition.aws:PrincipalAccount resolves outside the
            # organisation's account-id inventory"; principal.AWS accounts count the same.
            tiers=(Tier.PAGE,),
            evaluate=analyzer.cross_account_findings,
            guide=(
                "Cross-account finding to an account outside the partner-account allow-list —"
                " page within 1 hour; the allow-list is the authoritative ledger"
            ),
        ),
        Computed(
            name="analyzer-archive-without-ticket",
            description="A finding was archived (UpdateFindings) without a ledger approval.",
            tiers=(Tier.TICKET,),
            evaluate=analyzer.archives_without_ticket,
            gate=analyzer.UPDATE_FINDINGS,
            columns=analyzer.UPDATE_FINDINGS_COLUMNS,
            guide=(
                "Manual archive of an unresolved finding via UpdateFindings without a referenced"
                " change-management ticket ID in the resourceOwnerAccount note field —"
                " informational ticket for SOC-lead review"
            ),
        ),
    ),
    # The guide prints no Logs Insights query for this control.
    guide_query=None,
    response=RESPONSES[ID],
    references=(
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/what-is-access-analyzer.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-eventbridge.html",
        "https://docs.aws.amazon.com/access-analyzer/latest/APIReference/API_UpdateFindings.html",
    ),
)
