"""Guard-rail scenarios: aws-iam-08 (SCP deny-list) and aws-iam-09 (IAM Access Analyzer)."""

from __future__ import annotations

import json
from typing import Any

from cloudtrail_hunt.synth.actors import (
    UA,
    Actor,
    assume_role,
    role_actor,
    service_actor,
    sso_login,
)
from cloudtrail_hunt.synth.records import aws_date
from cloudtrail_hunt.synth.scenarios.base import ATTACKER_IPS, Ctx

__all__ = ["AA_EVENTS", "FENCED", "run"]

AA_EVENTS = "side_inputs/access-analyzer/eventbridge-findings.json"
#: The fenced APIs of the deny-destructive SCP: (eventSource, eventName, IAM action).
FENCED = (
    ("cloudtrail.amazonaws.com", "StopLogging", "cloudtrail:StopLogging"),
    ("cloudtrail.amazonaws.com", "DeleteTrail", "cloudtrail:DeleteTrail"),
    ("kms.amazonaws.com", "ScheduleKeyDeletion", "kms:ScheduleKeyDeletion"),
    ("kms.amazonaws.com", "DisableKey", "kms:DisableKey"),
    ("config.amazonaws.com", "StopConfigurationRecorder", "config:StopConfigurationRecorder"),
    ("config.amazonaws.com", "DeleteConfigurationRecorder", "config:DeleteConfigurationRecorder"),
)


Json = dict[str, Any]


def _target(acct: str, region: str, name: str, key: str) -> tuple[Json, str, Json | None]:
    """requestParameters, resource ARN and (successful) responseElements of a fenced call."""
    if name in ("StopLogging", "DeleteTrail"):
        arn = f"arn:aws:cloudtrail:{region}:{acct}:trail/account-local-trail"
        return {"name": arn}, arn, None
    if name in ("ScheduleKeyDeletion", "DisableKey"):
        arn = f"arn:aws:kms:{region}:{acct}:key/{key}"
        if name == "DisableKey":
            return {"keyId": key}, arn, None
        return (
            {"keyId": arn, "pendingWindowInDays": 7},
            arn,
            {"keyId": arn, "keyState": "PendingDeletion", "pendingWindowInDays": 7},
        )
    arn = f"arn:aws:config:{region}:{acct}:configuration-recorder/default"
    return {"configurationRecorderName": "default"}, arn, None


def _fenced(ctx: Ctx, actor: Actor, t: int, name: str, *, denied: bool) -> Json:
    source, action = next((s, a) for s, n, a in FENCED if n == name)
    region = "eu-west-1"
    request, arn, response = _target(actor.account, region, name, ctx.ids.uuid())
    if response is not None and "keyState" in response:
        response["deletionDate"] = aws_date(t + 7 * 86400)
    error = None
    if denied:
        error = (
            "AccessDenied",
            f"User: {actor.arn} is not authorized to perform: {action} on "
            f"resource: {arn} with an explicit deny in a service control policy: "
            f"{ctx.org.scp_arn('deny-destructive')}",
        )
    return actor.call(
        ctx.trail,
        ctx.ids,
        t,
        source,
        name,
        region=region,
        request=request,
        response=None if denied else response,
        error=error,
        resources=[{"accountId": actor.account, "type": "AWS::KMS::Key", "ARN": arn}]
        if source == "kms.amazonaws.com"
        else None,
    )


def _stolen(ctx: Ctx, acct: str, role: str, t: int, ip: str) -> Actor:
    """A workload role session whose credentials the attacker replays from outside."""
    return role_actor(
        ctx.ids, ctx.org.role(acct, role), f"i-0{ctx.ids.hex(16)}", t - 900, ip=ip, ua=UA["cli"]
    )


def run(ctx: Ctx) -> None:
    """Plant the SCP and Access Analyzer scenarios."""
    _scp(ctx)
    _regions(ctx)
    _analyzer(ctx)


def _scp(ctx: Ctx) -> None:
    org, trail, ids = ctx.org, ctx.trail, ctx.ids
    a0 = ctx.a0.id
    # aws-iam-08: one principal walks five distinct fenced APIs in 17 minutes -> page.
    actor = _stolen(ctx, ctx.member(0).id, "app-runtime-role", ctx.t(0, 22, 10), ATTACKER_IPS[1])
    walk = [
        _fenced(ctx, actor, ctx.t(0, 22, 10, 4) + 250 * k, name, denied=True)
        for k, name in enumerate(
            (
                "StopLogging",
                "DeleteTrail",
                "ScheduleKeyDeletion",
                "DisableKey",
                "StopConfigurationRecorder",
            )
        )
    ]
    ctx.label(
        "scp-denial-walk-5-distinct",
        8,
        "scp-denials-5-distinct-30min",
        "page",
        actor.account,
        actor.arn,
        walk,
        "Five SCP denials on five distinct fenced APIs "
        "within 17 minutes from one stolen role session.",
    )
    ctx.label(
        "scp-denials-logged-walk-5",
        8,
        "scp-denial-fenced-api",
        "informational",
        actor.account,
        actor.arn,
        walk,
        "Each denial of the five-API walk is itself an SCP denial of a fenced API.",
    )
    # Near miss: four distinct fenced APIs within 30 minutes.
    actor = _stolen(ctx, ctx.member(1).id, "ecs-task-role", ctx.t(0, 11, 5), ATTACKER_IPS[2])
    walk = [
        _fenced(ctx, actor, ctx.t(0, 11, 5, 30) + 290 * k, name, denied=True)
        for k, name in enumerate(
            ("StopLogging", "DeleteTrail", "DisableKey", "StopConfigurationRecorder")
        )
    ]
    ctx.label(
        "scp-denial-walk-4-distinct",
        8,
        "scp-denials-5-distinct-30min",
        None,
        actor.account,
        actor.arn,
        walk,
        "Near miss: only four distinct fenced APIs denied within 30 minutes.",
    )
    ctx.label(
        "scp-denials-logged-walk-4",
        8,
        "scp-denial-fenced-api",
        "informational",
        actor.account,
        actor.arn,
        walk,
        "Each denial of the four-API walk is still an SCP denial of a fenced API.",
    )

    # aws-iam-08: the deny-destructive SCP is detached from the root, then fenced calls succeed.
    t = ctx.t(1, 19, 58)
    _, admin = sso_login(
        trail,
        ids,
        org,
        a0,
        "jo.adams",
        "AdministratorAccess",
        t,
        ip=ATTACKER_IPS[3],
        ua=UA["browser"],
    )
    policy = org.scps["deny-destructive"]
    rec = admin.call(
        trail,
        ids,
        t + 130,
        "organizations.amazonaws.com",
        "DetachPolicy",
        request={"policyId": policy, "targetId": org.root_id},
    )
    ctx.label(
        "scp-detach-deny-destructive",
        8,
        "scp-deny-destructive-tampering",
        "page",
        a0,
        admin.arn,
        [rec],
        "DetachPolicy removes deny-destructive from the organisation root.",
    )
    for k, (name, day, hh) in enumerate(
        (
            ("StopLogging", 1, 20),
            ("DeleteTrail", 2, 1),
            ("ScheduleKeyDeletion", 2, 9),
            ("DisableKey", 3, 2),
            ("StopConfigurationRecorder", 3, 2),
        )
    ):
        acct = ctx.member(k).id
        actor = _stolen(ctx, acct, "app-runtime-role", ctx.t(day, hh, 30), ATTACKER_IPS[1])
        rec = _fenced(ctx, actor, ctx.t(day, hh, 31 + k, 17), name, denied=False)
        ctx.label(
            f"fenced-api-success-{name.lower()}",
            8,
            "fenced-api-success-member-account",
            "page",
            acct,
            actor.arn,
            [rec],
            f"{name} succeeds in a member account once the SCP is detached.",
        )
    # Near miss: the management account is not bound by SCPs; its admin disables a key.
    t = ctx.t(3, 11, 0, 20)
    _, mgmt = sso_login(
        trail,
        ids,
        org,
        a0,
        "alice.martin",
        "AdministratorAccess",
        t - 200,
        ip=org.office_ips[1],
        ua=UA["browser"],
    )
    rec = _fenced(ctx, mgmt, t, "DisableKey", denied=False)
    ctx.label(
        "fenced-api-success-management-account",
        8,
        "fenced-api-success-member-account",
        None,
        a0,
        mgmt.arn,
        [rec],
        "Near miss: DisableKey by the management account.",
    )
    # aws-iam-08: the SCP's content is weakened, and SCPs are disabled on the root -> page.
    weakened = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyDestructiveAudit",
                    "Effect": "Deny",
                    "Action": ["cloudtrail:DeleteTrail"],
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )
    t = ctx.t(3, 20, 10, 5)
    rec = admin.call(
        trail,
        ids,
        t,
        "organizations.amazonaws.com",
        "UpdatePolicy",
        request={"policyId": policy, "content": weakened},
        response={
            "policy": {
                "policySummary": {
                    "id": policy,
                    "arn": org.scp_arn("deny-destructive"),
                    "name": "deny-destructive",
                    "type": "SERVICE_CONTROL_POLICY",
                    "awsManaged": False,
                },
                "content": weakened,
            }
        },
    )
    ctx.label(
        "scp-update-deny-destructive",
        8,
        "scp-deny-destructive-tampering",
        "page",
        a0,
        admin.arn,
        [rec],
        "UpdatePolicy rewrites deny-destructive to fence almost nothing.",
    )
    t = ctx.t(4, 21, 0, 33)
    rec = admin.call(
        trail,
        ids,
        t,
        "organizations.amazonaws.com",
        "DisablePolicyType",
        request={"rootId": org.root_id, "policyType": "SERVICE_CONTROL_POLICY"},
        response={
            "root": {
                "id": org.root_id,
                "name": "Root",
                "arn": f"arn:aws:organizations::{a0}:root/{org.org_id}/{org.root_id}",
                "policyTypes": [],
            }
        },
    )
    ctx.label(
        "scp-disable-policy-type",
        8,
        "scp-deny-destructive-tampering",
        "page",
        a0,
        admin.arn,
        [rec],
        "DisablePolicyType switches SCPs off at the root, deny-destructive included.",
    )
    t = ctx.t(1, 15, 12, 0)
    rec = mgmt.call(
        trail,
        ids,
        t,
        "organizations.amazonaws.com",
        "UpdatePolicy",
        request={"policyId": org.scps["tagging-policy"], "description": "Cost-centre tags v3"},
    )
    ctx.label(
        "scp-update-other-policy",
        8,
        "scp-deny-destructive-tampering",
        None,
        a0,
        mgmt.arn,
        [rec],
        "Near miss: UpdatePolicy on the tagging policy, not on deny-destructive.",
    )


def _regions(ctx: Ctx) -> None:
    trail, ids = ctx.trail, ctx.ids
    # aws-iam-08: resource creation in regions outside eu-west-1, eu-central-1, us-east-1.
    acct = ctx.member(0).id
    actor = _stolen(ctx, acct, "app-runtime-role", ctx.t(0, 16, 0), ATTACKER_IPS[1])
    rec = actor.call(
        trail,
        ids,
        ctx.t(0, 16, 0, 44),
        "ec2.amazonaws.com",
        "RunInstances",
        region="ap-southeast-1",
        request={
            "instancesSet": {
                "items": [{"imageId": "ami-0c802847a7dd848c0", "minCount": 1, "maxCount": 12}]
            },
            "instanceType": "c5.4xlarge",
            "blockDeviceMapping": {},
            "monitoring": {"enabled": False},
            "disableApiTermination": False,
            "clientToken": ids.uuid(),
        },
        error=(
            "Client.UnauthorizedOperation",
            f"You are not authorized to perform this operation. "
            f"User: {actor.arn} is not authorized to perform: ec2:RunInstances on resource: "
            f"arn:aws:ec2:ap-southeast-1:{acct}:instance/* with an explicit deny in a service "
            f"control policy: {ctx.org.scp_arn('deny-destructive')}",
        ),
    )
    ctx.label(
        "disallowed-region-run-instances",
        8,
        "request-outside-allowed-regions",
        "ticket",
        acct,
        actor.arn,
        [rec],
        "RunInstances for 12 c5.4xlarge in ap-southeast-1.",
    )
    acct = ctx.member(1).id
    actor = _stolen(ctx, acct, "app-runtime-role", ctx.t(2, 2, 30), ATTACKER_IPS[1])
    bucket = f"acme-sync-{ids.hex(8)}"
    rec = actor.call(
        trail,
        ids,
        ctx.t(2, 2, 30, 9),
        "s3.amazonaws.com",
        "CreateBucket",
        region="sa-east-1",
        request_id="s3",
        request={
            "bucketName": bucket,
            "Host": f"{bucket}.s3.sa-east-1.amazonaws.com",
            "CreateBucketConfiguration": {
                "LocationConstraint": "sa-east-1",
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            },
        },
        resources=[{"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
    )
    ctx.label(
        "disallowed-region-create-bucket",
        8,
        "request-outside-allowed-regions",
        "ticket",
        acct,
        actor.arn,
        [rec],
        "CreateBucket with LocationConstraint sa-east-1.",
    )
    # Near miss: AWS Config's service-linked activity in a region people may not use.
    a1 = ctx.a1.id
    rec, _ = assume_role(
        trail,
        ids,
        service_actor(a1, "config.amazonaws.com"),
        ctx.t(1, 2, 44),
        ctx.org.role(a1, "AWSServiceRoleForConfig"),
        "AWSConfig-Describe",
        region=ctx.extra_region,
    )
    ctx.label(
        "aws-service-in-disallowed-region",
        8,
        "request-outside-allowed-regions",
        None,
        a1,
        "config.amazonaws.com",
        [rec],
        f"Near miss: AWS Config (an AWS service) works in {ctx.extra_region}.",
    )


def _analyzer(ctx: Ctx) -> None:
    org, trail, ids = ctx.org, ctx.trail, ctx.ids
    a1, a2 = ctx.a1.id, ctx.a2.id
    cases: tuple[tuple[Any, ...], ...] = (
        (
            "access-analyzer-public-bucket",
            a1,
            ctx.t(1, 8, 40, 12),
            "bucket",
            {"AWS": "*"},
            {},
            True,
            "analyzer-finding-public",
            "page",
            'A bucket policy grants s3:GetObject to "Principal": "*".',
        ),
        (
            "access-analyzer-cross-account-unknown",
            a2,
            ctx.t(2, 13, 30, 40),
            "key",
            {"AWS": org.externals[2]},
            {},
            False,
            "analyzer-finding-cross-account",
            "page",
            "A key policy grants kms:Decrypt to an account outside the org and the partner list.",
        ),
        (
            "access-analyzer-cross-account-partner",
            a1,
            ctx.t(0, 10, 10, 5),
            "key",
            {"AWS": org.partners[1]},
            {},
            False,
            "analyzer-finding-cross-account",
            None,
            "Near miss: the key is shared with an allow-listed partner account.",
        ),
    )
    found = {}
    for scenario, acct, t, kind, principal, cond, public, signal, tier, note in cases:
        region = "eu-west-1"
        _, dev = sso_login(
            trail,
            ids,
            org,
            acct,
            "lena.fischer",
            "Developer",
            t - 400,
            ip=org.office_ips[2],
            ua=UA["mac"],
        )
        grantee = principal["AWS"]
        grantee = grantee if grantee == "*" else f"arn:aws:iam::{grantee}:root"
        if kind == "bucket":
            name = f"acme-exports-{acct}-{region}"
            resource, rtype, action = f"arn:aws:s3:::{name}", "AWS::S3::Bucket", ["s3:GetObject"]
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": {"AWS": grantee},
                        "Action": "s3:GetObject",
                        "Resource": f"{resource}/*",
                    }
                ],
            }
            rec = dev.call(
                trail,
                ids,
                t,
                "s3.amazonaws.com",
                "PutBucketPolicy",
                region=region,
                request_id="s3",
                request={
                    "bucketName": name,
                    "Host": f"{name}.s3.{region}.amazonaws.com",
                    "policy": "",
                    "bucketPolicy": policy,
                },
                resources=[{"accountId": acct, "type": rtype, "ARN": resource}],
            )
        else:
            key = ids.uuid()
            resource, rtype, action = (
                f"arn:aws:kms:{region}:{acct}:key/{key}",
                "AWS::KMS::Key",
                ["kms:Decrypt", "kms:GenerateDataKey"],
            )
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Enable IAM User Permissions",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "AllowUse",
                        "Effect": "Allow",
                        "Principal": {"AWS": grantee},
                        "Action": action,
                        "Resource": "*",
                    },
                ],
            }
            rec = dev.call(
                trail,
                ids,
                t,
                "kms.amazonaws.com",
                "PutKeyPolicy",
                region=region,
                version="1.08",
                request={
                    "keyId": key,
                    "policyName": "default",
                    "policy": json.dumps(policy, indent=2),
                    "bypassPolicyLockoutSafetyCheck": False,
                },
                resources=[{"accountId": acct, "type": rtype, "ARN": resource}],
            )
        finding: Json = {
            "id": ids.uuid(),
            "account": acct,
            "region": region,
            "resource": resource,
            "resourceType": rtype,
            "principal": principal,
            "action": action,
            "condition": cond,
            "isPublic": public,
            "createdAt": t + 540 + 31,
            "status": [(t + 540 + 31, "ACTIVE")],
            "ticket": None,
        }
        ctx.findings.append(finding)
        found[scenario] = finding
        ctx.label(
            scenario,
            9,
            signal,
            tier,
            acct,
            dev.arn,
            [rec],
            f"{note} Access Analyzer raises finding {finding['id']}.",
            evidence=[AA_EVENTS, f"side_inputs/access-analyzer/list-findings-{acct}-{region}.json"],
            last=finding["createdAt"],
        )
    # aws-iam-09: the attacker archives the public finding without a ticket -> ticket; the
    # security team archives the partner finding with its change ticket (near miss).
    for scenario, key, t, person, ps, ticket, tier in (
        (
            "access-analyzer-archive-without-ticket",
            "access-analyzer-public-bucket",
            ctx.t(3, 23, 5, 1),
            "jo.adams",
            "AdministratorAccess",
            None,
            "ticket",
        ),
        (
            "access-analyzer-archive-with-ticket",
            "access-analyzer-cross-account-partner",
            ctx.t(2, 9, 30, 0),
            "chen.wei",
            "SecurityAudit",
            "CHG0042117",
            None,
        ),
    ):
        finding = found[key]
        acct, region = finding["account"], finding["region"]
        ip = ATTACKER_IPS[2] if tier else org.office_ips[2]
        _, who = sso_login(trail, ids, org, acct, person, ps, t - 300, ip=ip, ua=UA["browser"])
        analyzer = f"arn:aws:access-analyzer:{region}:{acct}:analyzer/account-analyzer"
        request: dict[str, object] = {
            "analyzerArn": analyzer,
            "ids": [finding["id"]],
            "status": "ARCHIVED",
        }
        if ticket:
            request["clientToken"] = f"{ticket}-{ids.hex(8)}"
        rec = who.call(
            trail,
            ids,
            t,
            "access-analyzer.amazonaws.com",
            "UpdateFindings",
            region=region,
            version="1.08",
            request=request,
        )
        finding["status"].append((t, "ARCHIVED"))
        finding["ticket"] = ticket
        ctx.label(
            scenario,
            9,
            "analyzer-archive-without-ticket",
            tier,
            acct,
            who.arn,
            [rec],
            f"UpdateFindings ARCHIVED on finding {finding['id']} "
            + (
                f"referencing change ticket {ticket} (near miss)."
                if ticket
                else "with no change ticket in the ledger."
            ),
            evidence=[AA_EVENTS, "side_inputs/access-analyzer/change-ledger.json"],
        )
