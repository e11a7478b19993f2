"""The hardening guide's own words, verbatim: initial responses, queries, compliance tables.

Source: shared/seeds/000_7e1086e7423bf4e1.txt. Kept apart from the logic so a test can check
every string against the guide.
"""

from __future__ import annotations

from cloudtrail_hunt.detect.model import ComplianceRef

RESPONSES: dict[str, tuple[str, ...]] = {
    "aws-iam-01-root-mfa": (
        "Verify the login against the documented break-glass ticket and the named individual who holds the root hardware key; if no ticket exists, treat as confirmed compromise.",
        "Force root credential rotation: trigger the documented root-password reset flow + re-enrol the hardware MFA device via the AWS console; rotate any root-tagged signing keys.",
        "Escalate per general/ir.html — open an incident, snapshot CloudTrail + Config + GuardDuty findings for the affected account, and run the SCP audit (aws-iam-08-scp-deny-list) to confirm preventive guards still apply.",
    ),
    "aws-iam-02-root-access-keys": (
        "Pull the credential report immediately and confirm whether access_key_1_active or access_key_2_active is now true on the root row; capture the CSV as forensic evidence before any remediation touches the account.",
        "If the key was created: delete it via aws iam delete-access-key using the root console session (programmatic deletion requires the root key the attacker just created — coordinate with the named root-key holder); then re-confirm the SCP from aws-iam-08-scp-deny-list is attached to every OU.",
        "Open an incident per general/ir.html; correlate the CloudTrail event source IP against known break-glass jump-host CIDRs and treat any deviation as confirmed compromise.",
    ),
    "aws-iam-03-identity-center": (
        "Confirm via the named individual whether the IAM-user sign-in is a sanctioned break-glass session; if yes, capture the change-management ticket ID and close as documented exception.",
        "If unsanctioned: disable the IAM user's console password via aws iam delete-login-profile, deactivate any attached access keys, and provision the human's correct Identity Center group membership instead.",
        "Run the orphan-IAM-user audit (cross-reference aws iam list-users against the HRIS active-employee list) and forward the diff to general/ir.html as an IAM-hygiene finding rather than an active incident if no credential abuse is evident.",
    ),
    "aws-iam-04-iam-user-mfa": (
        "Open the user's IAM record and confirm whether they are mid-enrolment for a new device (cross-reference the helpdesk queue for a pending MFA-replacement ticket).",
        "If no enrolment ticket exists: revoke active sessions by detaching the deny-without-MFA policy temporarily, force a password reset via aws iam update-login-profile --password-reset-required, and require MFA enrolment on the next sign-in via the helpdesk-mediated path.",
        "If a DeactivateMFADevice event preceded the sign-in: treat as a credential-takeover precursor and engage general/ir.html for a full session review across all the user's federated entitlements.",
    ),
    "aws-iam-05-key-rotation": (
        "Map the non-compliant access-key back to its workload via tag workload-id on the parent IAM user; consult the workload's owning team's on-call rotation rather than the original key creator (who may have left).",
        "Pursue elimination first: replace the long-lived key with the role-assumption path from aws-iam-06-role-assumption; if elimination is impossible in the audit window, rotate via aws iam create-access-key + cutover + aws iam delete-access-key on the prior key.",
        "Forward the residual long-lived-key inventory monthly to the cloud-platform steering group per general/ir.html as a recurring hygiene metric, not an incident.",
    ),
    "aws-iam-06-role-assumption": (
        "Snapshot the role's current trust policy via aws iam get-role --role-name <name> and diff against the version-controlled Terraform state to confirm whether the change was applied through the IaC path.",
        "If out-of-band: revert by re-applying the Terraform stack (terraform apply -target=aws_iam_role.<name>), then run aws sts get-caller-identity from any currently-assumed session of the affected role to confirm the session was force-rotated.",
        "Capture the originating principal's last 24h of CloudTrail activity into an evidence bundle and hand off to general/ir.html — trust-policy widening is rarely a misclick and the responder should treat the source principal as compromised pending review.",
    ),
    "aws-iam-07-permission-boundary": (
        "Retrieve the affected role's current effective permissions via aws iam simulate-principal-policy; quantify how much the boundary-removal widened the attack surface before deciding on revert vs. quarantine.",
        "Re-attach the canonical boundary via aws iam put-role-permissions-boundary --permissions-boundary <canonical-arn>; if the role's identity policy contains explicit iam:* or kms:PutKeyPolicy grants, treat the role itself as untrustworthy and rotate or delete it.",
        "Track the originating developer's prior 7 days of IAM-modifying calls; if a pattern of policy widening emerges, escalate to general/ir.html as a credential-takeover hypothesis rather than a single-event misclick.",
    ),
    "aws-iam-08-scp-deny-list": (
        "Confirm the deny-destructive SCP is still attached to the organisation root via aws organizations list-policies-for-target --target-id <root>; if missing, re-attach immediately via the version-controlled Terraform stack and force apply.",
        "Quarantine the originating principal: detach all its identity-based policies leaving only an explicit deny-all, then revoke any active sessions via session-policy update; this halts further exploration without removing forensic evidence.",
        "Open an organisation-wide incident per general/ir.html — SCP tampering implies elevated cross-account access and the responder treats the management-account audit log as the authoritative reconstruction source.",
    ),
    "aws-iam-09-access-analyzer": (
        "Open the affected resource in the AWS console and confirm whether the exposure is an intended customer-integration surface; document the business owner and intended consumer before any policy revert.",
        "Disposition the finding: if intended, archive with the change-management ticket ID embedded in the archive note; if unintended, edit the resource policy to remove the offending statement and confirm the finding closes within the analyzer's 30-minute re-evaluation cycle.",
        "For unintended public-exposure findings, follow general/ir.html data-exposure protocol: pull CloudTrail access patterns for the resource over the exposure window and assess data-egress volume before declaring the incident closed.",
    ),
    "aws-iam-10-credential-report": (
        "Confirm the stale user is not a service account pending migration to a role; cross-reference against the IaC workload-inventory tag migration-cohort before disabling anything.",
        "Disable the dormant credential branches: aws iam delete-login-profile for password rows, aws iam update-access-key --status Inactive for key rows; the inactive state preserves forensic linkage while removing usability.",
        "If the audit job itself stopped emitting metrics, treat the gap as the incident: restore the EventBridge schedule, replay the missed runs by manually invoking the Lambda, and report the coverage-gap window to general/ir.html as a control-failure event.",
    ),
}

#: The guide prints a Logs Insights query for six controls.
QUERIES: dict[str, str] = {
    "aws-iam-02-root-access-keys": (
        "fields @timestamp, eventName, userIdentity.arn, sourceIPAddress, requestParameters.userName, errorCode\n"
        '| filter eventName in ["CreateAccessKey","UpdateAccessKey"]\n'
        '| filter userIdentity.type = "Root" or requestParameters.userName like /:root$/\n'
        "| sort @timestamp desc\n"
        "| limit 50"
    ),
    "aws-iam-03-identity-center": (
        "fields @timestamp, eventName, userIdentity.type, userIdentity.userName, recipientAccountId, sourceIPAddress\n"
        '| filter eventName = "ConsoleLogin" and userIdentity.type = "IAMUser"\n'
        "| filter userIdentity.userName not like /^break-glass-/\n"
        "| stats count() as logins by userIdentity.userName, recipientAccountId\n"
        "| sort logins desc"
    ),
    "aws-iam-06-role-assumption": (
        "fields @timestamp, eventName, userIdentity.arn, requestParameters.policyDocument, requestParameters.roleName\n"
        '| filter eventName = "UpdateAssumeRolePolicy"\n'
        '| filter requestParameters.policyDocument like /"Principal":\\s*"\\*"/ or requestParameters.policyDocument like /:root"/\n'
        "| sort @timestamp desc\n"
        "| limit 50"
    ),
    "aws-iam-07-permission-boundary": (
        "fields @timestamp, eventName, userIdentity.arn, requestParameters.roleName, requestParameters.permissionsBoundary\n"
        '| filter eventName in ["CreateRole","PutRolePermissionsBoundary","DeleteRolePermissionsBoundary"]\n'
        '| filter eventName = "DeleteRolePermissionsBoundary"\n'
        'or (eventName = "CreateRole" and isempty(requestParameters.permissionsBoundary))\n'
        "| sort @timestamp desc\n"
        "| limit 100"
    ),
    "aws-iam-08-scp-deny-list": (
        "fields @timestamp, eventName, userIdentity.arn, errorCode, errorMessage, awsRegion\n"
        '| filter errorCode = "AccessDenied" and errorMessage like /service control policy/\n'
        '| filter eventName in ["StopLogging","DeleteTrail","DeleteConfigurationRecorder","ScheduleKeyDeletion","DisableKey"]\n'
        "| stats count() as denies by userIdentity.arn, eventName\n"
        "| sort denies desc"
    ),
    "aws-iam-10-credential-report": (
        "fields @timestamp, @message\n"
        "| filter @logStream like /credential-report-audit/\n"
        "| filter @message like /STALE_USER/\n"
        "| parse @message /STALE_USER user=(?<user>\\S+) days_idle=(?<days>\\d+)/\n"
        "| stats count() as occurrences, max(days) as max_idle by user\n"
        "| sort max_idle desc"
    ),
}

#: The guide gives a compliance table for four controls (the others have none).
FRAMEWORKS = (
    "CIS AWS Foundations v3.0.0",
    "CIS Microsoft Azure Foundations v3.0.0",
    "CIS GCP Foundation v4.0.0",
    "CIS OCI Foundation v2.0.0",
    "NIST SP 800-53 rev5",
    "ISO/IEC 27001:2022",
    "ISO/IEC 27017:2015",
)
COMPLIANCE: dict[str, tuple[ComplianceRef, ...]] = {
    "aws-iam-03-identity-center": tuple(
        ComplianceRef(f, r)
        for f, r in zip(
            FRAMEWORKS,
            (
                "1.21",
                "1.1.4",
                "best-practices",
                "best-practices",
                "AC-2(1); IA-2",
                "A.5.16; A.5.18",
                "n/a",
            ),
            strict=True,
        )
    ),
    "aws-iam-04-iam-user-mfa": tuple(
        ComplianceRef(f, r)
        for f, r in zip(
            FRAMEWORKS,
            ("1.10", "1.1.2", "1.2", "1.7", "IA-2(1)", "A.5.17; A.8.5", "n/a"),
            strict=True,
        )
    ),
    "aws-iam-05-key-rotation": tuple(
        ComplianceRef(f, r)
        for f, r in zip(
            FRAMEWORKS,
            ("1.14", "1.1.6", "1.4", "1.14", "IA-5(1)", "A.5.17; A.8.2", "n/a"),
            strict=True,
        )
    ),
    "aws-iam-10-credential-report": tuple(
        ComplianceRef(f, r)
        for f, r in zip(
            FRAMEWORKS,
            (
                "1.12; 1.13",
                "1.1.8",
                "1.6",
                "best-practices",
                "AC-2(3); AC-2(4)",
                "A.5.16; A.8.2",
                "n/a",
            ),
            strict=True,
        )
    ),
}
