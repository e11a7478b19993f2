"""Role scenarios: aws-iam-06 (role assumption, trust policies) and aws-iam-07 (boundaries)."""

from __future__ import annotations

import json
from typing import Any

from cloudtrail_hunt.synth.actors import (
    UA,
    Actor,
    assume_role,
    key_actor,
    role_actor,
    service_actor,
    sso_login,
    web_identity_login,
)
from cloudtrail_hunt.synth.identities import DAY, Role, add_key, add_user
from cloudtrail_hunt.synth.records import iso
from cloudtrail_hunt.synth.routine import ci_create_role
from cloudtrail_hunt.synth.scenarios.base import ATTACKER_IPS, Ctx

__all__ = ["IAC_ROLES", "plant", "run"]

#: Roles provisioned through the Terraform stacks (the EKS Pod Identity allow-list).
IAC_ROLES = (
    "app-runtime-role",
    "orders-api-lambda-role",
    "ecs-task-role",
    "ci-deploy",
    "deploy-role",
    "data-export-role",
)
FANOUT_PER_DAY = 60


def plant(ctx: Ctx) -> None:
    """A legacy deployer IAM user whose key still assumes a role (aws-iam-06)."""
    user = add_user(
        ctx.org, ctx.ids, ctx.a1.id, "legacy-deployer", created=ctx.org.start - 500 * DAY
    )
    add_key(ctx.ids, user, created=ctx.org.start - 12 * DAY)


def _dev(ctx: Ctx, account: str, person: str, t: int) -> Actor:
    _, sess = sso_login(
        ctx.trail,
        ctx.ids,
        ctx.org,
        account,
        person,
        "Developer",
        t - 300,
        ip=ctx.org.office_ips[2],
        ua=UA["mac"],
    )
    return sess


def _update_trust(
    ctx: Ctx, actor: Actor, role: str, t: int, doc: dict[str, object]
) -> dict[str, Any]:
    # The attacker's CLI sends the policy from a file: pretty-printed, as in real captures.
    return actor.call(
        ctx.trail,
        ctx.ids,
        t,
        "iam.amazonaws.com",
        "UpdateAssumeRolePolicy",
        request={"policyDocument": json.dumps(doc, indent=2), "roleName": role},
    )


def _doc(principal: object, condition: dict[str, object] | None = None) -> dict[str, object]:
    stmt: dict[str, object] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if condition:
        stmt["Condition"] = condition
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
            stmt,
        ],
    }


def run(ctx: Ctx) -> None:
    """Plant the role scenarios; each block cites the guide line it exercises."""
    _assumption(ctx)
    _trust(ctx)
    _fanout(ctx)
    _eks(ctx)
    _boundaries(ctx)


def _assumption(ctx: Ctx) -> None:
    org, trail, ids, a1 = ctx.org, ctx.trail, ctx.ids, ctx.a1.id
    # aws-iam-06: a long-lived IAM-user key is the on-ramp to a role session -> ticket.
    user = org.user(a1, "legacy-deployer")
    me = key_actor(user, user.keys[0].key_id, ip="192.0.2.45", ua=UA["cli"])
    recs = []
    for k in range(3):
        t = ctx.t(k, 13, k, 7 * k)
        rec, sess = assume_role(trail, ids, me, t, org.role(a1, "deploy-role"), "jenkins-deploy")
        sess.call(
            trail,
            ids,
            t + 20,
            "cloudformation.amazonaws.com",
            "DescribeStacks",
            region="eu-west-1",
            read_only=True,
        )
        recs.append(rec)
    ctx.label(
        "iam-user-assume-role",
        6,
        "assume-role-by-iam-user",
        "ticket",
        a1,
        user.arn,
        recs,
        "The legacy-deployer IAM user's access key calls sts:AssumeRole from Jenkins.",
    )
    # Near misses: GitHub Actions via web identity, and an AWS service assuming its role.
    rec, _ = web_identity_login(
        trail,
        ids,
        org.role(a1, "ci-deploy"),
        ctx.t(1, 10, 12, 5),
        repo="acme/platform-infra",
        ip="20.57.71.203",
    )
    ctx.label(
        "web-identity-assume-role",
        6,
        "assume-role-by-iam-user",
        None,
        a1,
        rec["userIdentity"]["userName"],
        [rec],
        "Near miss: AssumeRoleWithWebIdentity from GitHub Actions is the desirable shape.",
    )
    rec, _ = assume_role(
        trail,
        ids,
        service_actor(a1, "lambda.amazonaws.com"),
        ctx.t(1, 10, 30),
        org.role(a1, "orders-api-lambda-role"),
        "orders-api",
    )
    ctx.label(
        "service-assume-role",
        6,
        "assume-role-by-iam-user",
        None,
        a1,
        "lambda.amazonaws.com",
        [rec],
        "Near miss: an AWSService AssumeRole (invokedBy lambda.amazonaws.com).",
    )


def _trust(ctx: Ctx) -> None:
    org, trail, ids = ctx.org, ctx.trail, ctx.ids
    a1, a2 = ctx.a1.id, ctx.a2.id
    ext, partner = org.externals, org.partners
    cases: list[tuple[Any, ...]] = [
        # (scenario, account, role, when, principal, condition, signal, tier, note)
        (
            "trust-policy-wildcard-principal",
            a1,
            "data-export-role",
            ctx.t(1, 21, 10, 4),
            {"AWS": "*"},
            None,
            "trust-policy-principal-wildcard",
            "page",
            'Trust policy widened to "Principal": {"AWS": "*"}.',
        ),
        (
            "trust-policy-wildcard-in-array",
            a2,
            "deploy-role",
            ctx.t(2, 21, 15, 44),
            {"AWS": [f"arn:aws:iam::{a2}:role/app-runtime-role", "*"]},
            None,
            "trust-policy-principal-wildcard",
            "page",
            'Trust policy widened with "*" hidden in an array of principals.',
        ),
        (
            "trust-policy-external-account-root",
            a1,
            "deploy-role",
            ctx.t(3, 3, 20, 9),
            {"AWS": f"arn:aws:iam::{ext[0]}:root"},
            None,
            "trust-policy-external-account",
            "page",
            "Trust granted to the root of an account outside the org and the partner list, with no "
            "sts:ExternalId condition.",
        ),
        (
            "trust-policy-external-bare-account-id",
            a2,
            "data-export-role",
            ctx.t(3, 3, 30, 51),
            {"AWS": ext[1]},
            None,
            "trust-policy-external-account",
            "page",
            "Trust granted to a bare 12-digit account id outside the org and the partner list.",
        ),
        (
            "trust-policy-partner-account",
            a1,
            "data-export-role",
            ctx.t(1, 10, 30, 2),
            {"AWS": f"arn:aws:iam::{partner[0]}:root"},
            {"StringEquals": {"sts:ExternalId": "acme-partner-7f3c"}},
            "trust-policy-external-account",
            None,
            "Near miss: the account is on the partner allow-list and an ExternalId is required.",
        ),
        (
            "trust-policy-org-member-account",
            a2,
            "deploy-role",
            ctx.t(2, 11, 0, 30),
            {"AWS": f"arn:aws:iam::{ctx.a0.id}:role/security-scanner-role"},
            None,
            "trust-policy-external-account",
            None,
            "Near miss: trust to a role of the organisation's own management account.",
        ),
    ]
    for scenario, acct, role, t, principal, cond, signal, tier, note in cases:
        if tier:
            _, actor = sso_login(
                trail,
                ids,
                org,
                acct,
                "jo.adams",
                "AdministratorAccess",
                t - 240,
                ip=ATTACKER_IPS[2],
                ua=UA["browser"],
            )
            actor.ua = UA["cli"]
        else:
            actor = role_actor(
                ids,
                org.role(acct, "ci-deploy"),
                "GitHubActions",
                t - 30,
                ip="4.227.133.9",
                ua=UA["terraform"],
            )
        rec = _update_trust(ctx, actor, role, t, _doc(principal, cond))
        ctx.label(scenario, 6, signal, tier, acct, actor.arn, [rec], note)


def _fanout(ctx: Ctx) -> None:
    """aws-iam-06 behavioural variance: every hunt day, 60 distinct role sessions (none seen in
    the baseline) try to assume data-export-role - far above 3x the baseline assumer count."""
    org, trail, ids, sched = ctx.org, ctx.trail, ctx.ids, ctx.sched
    acct = ctx.member(-1).id
    target = org.role(acct, "data-export-role")
    recs = []
    for d in range(sched.days - sched.hunt):
        for k in range(FANOUT_PER_DAY):
            t = ctx.t(d, 0) + ids.rng.randrange(DAY)
            src = Role(acct, f"batch-worker-{d:02d}{k:02d}", ids.unique_id("AROA"))
            actor = role_actor(
                ids, src, f"i-0{ids.hex(16)}", t - 300, ip=ATTACKER_IPS[k % 4], ua=UA["go"]
            )
            denied = None
            if ids.rng.random() < 0.7:
                denied = (
                    "AccessDenied",
                    f"User: {actor.arn} is not authorized to perform: "
                    f"sts:AssumeRole on resource: {target.arn}",
                )
            rec, _ = assume_role(trail, ids, actor, t, target, f"enum-{k:02d}", error=denied)
            recs.append(rec)
    recs.sort(key=lambda r: r["eventTime"])
    ctx.label(
        "role-assumer-fan-out",
        6,
        "distinct-role-assumers-3x-baseline",
        "ticket",
        acct,
        target.arn,
        recs,
        f"{FANOUT_PER_DAY} new distinct role sessions a day try to assume "
        "one role throughout the hunt window.",
    )
    first = ctx.t(0, 0)
    shared = ids.uuid()
    for state, when in (("Start", first + 3600), ("End", first + 4 * DAY)):
        stats: dict[str, object] = {
            "baseline": {"average": 0.0104},
            "insight": {"average": 2.75},
            "baselineDuration": 11459,
        }
        if state == "End":
            stats["insightDuration"] = 4 * 1440
        ctx.insights.append(
            {
                "eventVersion": "1.08",
                "eventTime": iso(when),
                "awsRegion": "us-east-1",
                "eventID": ids.uuid(),
                "eventType": "AwsCloudTrailInsight",
                "recipientAccountId": acct,
                "sharedEventID": shared,
                "insightDetails": {
                    "state": state,
                    "eventSource": "sts.amazonaws.com",
                    "eventName": "AssumeRole",
                    "insightType": "ApiCallRateInsight",
                    "insightContext": {
                        "statistics": stats,
                        "attributions": [
                            {
                                "attribute": "userAgent",
                                "insight": [{"value": UA["go"], "average": 2.75}],
                                "baseline": [{"value": "lambda.amazonaws.com", "average": 0.0104}],
                            },
                            {
                                "attribute": "errorCode",
                                "insight": [{"value": "AccessDenied", "average": 1.93}],
                                "baseline": [{"value": "null", "average": 0.0104}],
                            },
                        ],
                    },
                },
                "eventCategory": "Insight",
            }
        )


def _eks(ctx: Ctx) -> None:
    """aws-iam-06 EKS Pod Identity drift: a binding to a role outside the Terraform stack."""
    org, trail, ids = ctx.org, ctx.trail, ctx.ids
    for acct, who, role, sa, t, tier in (
        (ctx.a2.id, "dev", "debug-admin-role", "debug-sa", ctx.t(2, 16, 0, 3), "ticket"),
        (ctx.a1.id, "ci", "app-runtime-role", "orders-api", ctx.t(1, 11, 5, 40), None),
    ):
        if who == "dev":
            actor = _dev(ctx, acct, "gus.moreau", t)
        else:
            actor = role_actor(
                ids,
                org.role(acct, "ci-deploy"),
                "GitHubActions",
                t - 20,
                ip="172.183.51.87",
                ua=UA["terraform"],
            )
        assoc = {
            "clusterName": "prod-eks",
            "namespace": "payments",
            "serviceAccount": sa,
            "roleArn": f"arn:aws:iam::{acct}:role/{role}",
            "associationArn": f"arn:aws:eks:eu-west-1:{acct}:podidentityassociation/prod-eks/"
            f"a-{ids.b32(17).lower()}",
            "associationId": f"a-{ids.b32(17).lower()}",
            "tags": {},
            "createdAt": iso(t),
            "modifiedAt": iso(t),
        }
        create = actor.call(
            trail,
            ids,
            t,
            "eks.amazonaws.com",
            "CreatePodIdentityAssociation",
            region="eu-west-1",
            version="1.08",
            request={
                k: assoc[k] for k in ("clusterName", "namespace", "serviceAccount", "roleArn")
            },
            response={"association": assoc},
        )
        scanner = role_actor(
            ids,
            org.role(acct, "SecurityAuditRole"),
            "security-scanner",
            t + 3000,
            ip=org.workload_ips[0],
            ua=UA["boto3"],
        )
        describe = scanner.call(
            trail,
            ids,
            t + 3600,
            "eks.amazonaws.com",
            "DescribePodIdentityAssociation",
            region="eu-west-1",
            version="1.08",
            read_only=True,
            request={"clusterName": "prod-eks", "associationId": assoc["associationId"]},
            response={"association": assoc},
        )
        ctx.label(
            "eks-pod-identity-unmanaged-role" if tier else "eks-pod-identity-managed-role",
            6,
            "eks-pod-identity-drift",
            tier,
            acct,
            f"arn:aws:iam::{acct}:role/{role}",
            [create, describe],
            f"Pod Identity binds service account {sa} to {role}, which "
            + (
                "is not in the Terraform-managed role list."
                if tier
                else "Terraform manages (near miss)."
            ),
        )


def _boundaries(ctx: Ctx) -> None:
    org, trail, ids = ctx.org, ctx.trail, ctx.ids
    a1, a2 = ctx.a1.id, ctx.a2.id
    # aws-iam-07: CreateRole without permissionsBoundary by delegated developers. 3 in 40 minutes
    # fires; 2 in 41 minutes and 3 spread over 2h12m (65+ minutes apart) stay below the rule.
    for scenario, person, times, tier, note in (
        (
            "create-role-without-boundary-3-in-1h",
            "dana.kim",
            [ctx.t(2, 10, 0, 5), ctx.t(2, 10, 17, 33), ctx.t(2, 10, 38, 2)],
            "ticket",
            "Three roles without a boundary in 38 minutes by one developer.",
        ),
        (
            "create-role-without-boundary-2-in-1h",
            "eli.cohen",
            [ctx.t(2, 14, 0, 40), ctx.t(2, 14, 41, 9)],
            None,
            "Near miss: only two unbounded roles within the hour.",
        ),
        (
            "create-role-without-boundary-3-over-2h",
            "finn.olsen",
            [ctx.t(3, 9, 0, 12), ctx.t(3, 10, 5, 30), ctx.t(3, 11, 12, 45)],
            None,
            "Near miss: three unbounded roles, but never three within one hour.",
        ),
    ):
        dev = _dev(ctx, a2, person, times[0])
        recs = [
            ci_create_role(
                trail,
                ids,
                dev,
                org,
                a2,
                t,
                f"{person.split('.')[0]}-{ids.hex(4)}-role",
                boundary=None,
            )
            for t in times
        ]
        ctx.label(scenario, 7, "create-role-without-boundary-burst", tier, a2, dev.arn, recs, note)

    # aws-iam-07: boundary removed from a delegated role -> page.
    t = ctx.t(3, 14, 20, 8)
    dev = _dev(ctx, a2, "gus.moreau", t)
    rec = dev.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "DeleteRolePermissionsBoundary",
        request={"roleName": "app-runtime-role"},
    )
    ctx.label(
        "delete-role-permissions-boundary",
        7,
        "delete-role-permissions-boundary",
        "page",
        a2,
        dev.arn,
        [rec],
        "The canonical boundary is stripped from app-runtime-role.",
    )

    # aws-iam-07: a boundary ARN that is not on the published list -> page; the canonical one
    # (re-applied by CI) is the near miss.
    t = ctx.t(1, 17, 30, 26)
    dev = _dev(ctx, a1, "hana.sato", t)
    rec = dev.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "PutRolePermissionsBoundary",
        request={
            "roleName": "orders-api-lambda-role",
            "permissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess",
        },
    )
    ctx.label(
        "put-role-permissions-boundary-non-canonical",
        7,
        "non-canonical-permissions-boundary",
        "page",
        a1,
        dev.arn,
        [rec],
        "PutRolePermissionsBoundary swaps in the AWS-managed PowerUserAccess policy.",
    )
    t = ctx.t(2, 11, 44, 0)
    ci = role_actor(
        ids,
        org.role(a1, "ci-deploy"),
        "GitHubActions",
        t - 20,
        ip="4.227.133.9",
        ua=UA["terraform"],
    )
    rec = ci.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "PutRolePermissionsBoundary",
        request={"roleName": "orders-api-lambda-role", "permissionsBoundary": org.boundary_arn(a1)},
    )
    ctx.label(
        "put-role-permissions-boundary-canonical",
        7,
        "non-canonical-permissions-boundary",
        None,
        a1,
        ci.arn,
        [rec],
        "Near miss: CI re-applies the canonical boundary ARN.",
    )
