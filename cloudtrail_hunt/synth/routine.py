"""Routine benign activity, record by record: sign-ins, CI deploys, the audit Lambda, drills."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from cloudtrail_hunt.synth.actors import (
    UA,
    Actor,
    assume_role,
    iam_user_console,
    role_actor,
    service_actor,
    sso_login,
    web_identity_login,
)
from cloudtrail_hunt.synth.identities import AUDIT_FUNCTION, AUDIT_ROLE, PEOPLE, Account, Org
from cloudtrail_hunt.synth.records import Ids, aws_date
from cloudtrail_hunt.synth.scenarios.base import Label, guide_label
from cloudtrail_hunt.synth.schedule import Schedule
from cloudtrail_hunt.synth.trail import ReportRun, Trail

__all__ = ["audit_run", "ci_create_role", "routine", "trust_policy"]

GITHUB_IPS = ("4.227.133.9", "20.57.71.203", "172.183.51.87")
APPS = ("orders", "billing", "search", "inventory", "notify", "reports")


def trust_policy(principal: dict[str, object], condition: dict[str, object] | None = None) -> str:
    """A role trust policy as Terraform sends it (compact JSON with sorted keys)."""
    stmt: dict[str, object] = {
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": principal,
    }
    if condition:
        stmt["Condition"] = condition
    return json.dumps(
        {"Statement": [stmt], "Version": "2012-10-17"}, separators=(",", ":"), sort_keys=True
    )


def routine(
    org: Org, sched: Schedule, trail: Trail, seed: int, extra_region: str, *, noisy: bool = True
) -> list[Label]:
    """All routine activity of every account and day (deterministic per account and day);
    returns the near-miss labels of routine activity that looks like a guide signal. `noisy`
    adds the labelled near-miss automation the tuning calibrations need (a benign-only trail
    has none)."""
    legacy: list[dict[str, Any]] = []
    for a in org.accounts:
        audit = set(sched.audit_days(a.id))
        for d in range(sched.days):
            rng = random.Random(f"{seed}/routine/{a.id}/{d}")
            ids = Ids(rng)
            weekday = time.gmtime(sched.t(d)).tm_wday
            _sso_signins(org, sched, trail, ids, a, d, weekday)
            if not a.management:
                _scanner(org, sched, trail, ids, a, d)
                if weekday < 5 and rng.random() < 0.7:
                    _ci_deploy(org, sched, trail, ids, a, d)
            if d in audit and sched.throttled != (a.id, d):
                audit_run(org, trail, ids, a, sched.audit_time(a.index, d))
            if d % 21 == (3 + 2 * a.index) % 21:
                _drill(org, sched, trail, ids, a, d)
            if d % 7 == a.index % 7:  # Config's weekly periodic snapshot
                _service_region(org, sched, trail, ids, a, d, extra_region)
            if noisy and a is org.accounts[-1] and not a.management and weekday < 5:
                legacy += _legacy_iac(org, sched, trail, seed, a, d)
    if not legacy:
        return []
    return [
        guide_label(
            "legacy-iac-unbounded-role-pairs",
            7,
            "create-role-without-boundary-burst",
            None,
            legacy[0]["recipientAccountId"],
            legacy[0]["userIdentity"]["arn"],
            "Near miss: a legacy Terraform job creates two unbounded roles 20 minutes apart every"
            " weekday (a noisy automation principal for tuning: a count of 2 would ticket daily).",
            records=legacy,
        )
    ]


def _legacy_iac(
    org: Org, sched: Schedule, trail: Trail, seed: int, a: Account, d: int
) -> list[dict[str, Any]]:
    """A noisy automation principal for the tuning calibrations: a legacy Terraform job (a
    deploy-role session) creates two roles without a boundary, 20 minutes apart, each weekday
    night: below aws-iam-07's 3-in-an-hour ticket, above a count of 2."""
    # Its own random stream: the rest of the trail draws exactly what it drew before.
    ids = Ids(random.Random(f"{seed}/legacy-iac/{a.id}/{d}"))
    t = sched.t(d, 2, ids.rng.randrange(10), ids.rng.randrange(60))
    job = role_actor(
        ids, org.role(a.id, "deploy-role"), "legacy-terraform", t - 60,
        ip=org.workload_ips[0], ua=UA["boto3"],
    )  # fmt: skip
    records = []
    for k in range(2):
        name = f"legacy-{APPS[(d + k) % len(APPS)]}-{ids.hex(4)}-role"
        records.append(
            ci_create_role(trail, ids, job, org, a.id, t + k * 1200, name, boundary=None)
        )
    return records


def _sso_signins(
    org: Org, sched: Schedule, trail: Trail, ids: Ids, a: Account, d: int, weekday: int
) -> None:
    rng = ids.rng
    n = rng.randint(2, 4) if weekday < 5 else rng.randint(0, 1)
    for k, (person, ps) in enumerate(sorted(rng.sample(PEOPLE, n))):
        t = sched.t(d, 7 + rng.randrange(10), rng.randrange(60), rng.randrange(60))
        ip = org.office_ips[(k + d) % len(org.office_ips)]
        sso_login(
            trail,
            ids,
            org,
            a.id,
            person,
            ps,
            t,
            ip=ip,
            ua=UA["browser"] if k % 2 == 0 else UA["mac"],
        )


def _scanner(org: Org, sched: Schedule, trail: Trail, ids: Ids, a: Account, d: int) -> None:
    """The management account's security scanner hops into each member account once a day."""
    t = sched.t(d, 1, 0, 30 + a.index)
    scanner = role_actor(
        ids,
        org.role(org.management.id, "security-scanner-role"),
        "security-scanner",
        t - 30,
        ip=org.workload_ips[0],
        ua=UA["boto3"],
    )
    assume_role(trail, ids, scanner, t, org.role(a.id, "SecurityAuditRole"), "security-scanner")


def ci_create_role(
    trail: Trail,
    ids: Ids,
    actor: Actor,
    org: Org,
    account: str,
    t: int,
    name: str,
    *,
    boundary: str | None,
    service: str = "lambda.amazonaws.com",
    trust: str | None = None,
) -> dict[str, Any]:
    """`actor` calls iam:CreateRole, with or without a permissionsBoundary (aws-iam-07)."""
    doc = trust or trust_policy({"Service": service})
    request: dict[str, object] = {
        "roleName": name,
        "assumeRolePolicyDocument": doc,
        "description": f"Workload role for {name}",
    }
    if boundary is not None:
        request["permissionsBoundary"] = boundary
    role_id = ids.unique_id("AROA")
    resp_role: dict[str, object] = {
        "path": "/",
        "roleName": name,
        "roleId": role_id,
        "arn": f"arn:aws:iam::{account}:role/{name}",
        "createDate": aws_date(t),
        "assumeRolePolicyDocument": quote(doc, safe=""),
    }
    if boundary is not None:
        resp_role["permissionsBoundary"] = {
            "permissionsBoundaryType": "Policy",
            "permissionsBoundaryArn": boundary,
        }
    return actor.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "CreateRole",
        request=request,
        response={"role": resp_role},
    )


def _ci_deploy(org: Org, sched: Schedule, trail: Trail, ids: Ids, a: Account, d: int) -> None:
    """GitHub Actions (web identity, not an IAM-user key) applies Terraform with ci-deploy."""
    rng = ids.rng
    t = sched.t(d, 9 + rng.randrange(8), rng.randrange(60), rng.randrange(60))
    ip = GITHUB_IPS[rng.randrange(len(GITHUB_IPS))]
    _, ci = web_identity_login(
        trail, ids, org.role(a.id, "ci-deploy"), t, repo="acme/platform-infra", ip=ip
    )
    t += 3
    boundary = org.boundary_arn(a.id)
    ci.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "GetRole",
        read_only=True,
        request={"roleName": "app-runtime-role"},
    )
    if rng.random() < 0.5:
        name = f"svc-{rng.choice(APPS)}-{ids.hex(4)}-role"
        ci_create_role(trail, ids, ci, org, a.id, t + 2, name, boundary=boundary)
        ci.call(
            trail,
            ids,
            t + 3,
            "iam.amazonaws.com",
            "AttachRolePolicy",
            request={
                "roleName": name,
                "policyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            },
        )
    if rng.random() < 0.3:
        # Re-asserting the canonical boundary on an existing role: the benign shape of aws-iam-07.
        ci.call(
            trail,
            ids,
            t + 5,
            "iam.amazonaws.com",
            "PutRolePermissionsBoundary",
            request={
                "roleName": rng.choice(("app-runtime-role", "orders-api-lambda-role")),
                "permissionsBoundary": boundary,
            },
        )


def audit_run(
    org: Org, trail: Trail, ids: Ids, a: Account, t: int, *, error: tuple[str, str] | None = None
) -> list[dict[str, Any]]:
    """The credential-report audit Lambda: assume its role, Generate then GetCredentialReport."""
    role = org.role(a.id, AUDIT_ROLE)
    _, fn = assume_role(
        trail,
        ids,
        service_actor(a.id, "lambda.amazonaws.com"),
        t - 2,
        role,
        AUDIT_FUNCTION,
        ip=org.workload_ips[2],
        ua=UA["boto3"],
    )
    if error is not None:
        return [
            fn.call(
                trail,
                ids,
                t,
                "iam.amazonaws.com",
                "GenerateCredentialReport",
                error=error,
                read_only=False,
            )
        ]
    gen = fn.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "GenerateCredentialReport",
        response={
            "state": "STARTED",
            "description": "No report exists. Starting a new report generation task",
        },
    )
    get = fn.call(trail, ids, t + 11, "iam.amazonaws.com", "GetCredentialReport", read_only=True)
    trail.reports.append(ReportRun(a.id, t + 11, True, fn.arn, gen["eventID"]))
    return [gen, get]


def _drill(org: Org, sched: Schedule, trail: Trail, ids: Ids, a: Account, d: int) -> None:
    """The quarterly-style break-glass drill: the break-glass user signs in with MFA."""
    t = sched.t(d, 10, 15 + a.index % 30, 12)
    _, sess = iam_user_console(
        trail,
        ids,
        org.user(a.id, "break-glass-admin"),
        t,
        ip=org.office_ips[0],
        ua=UA["browser"],
        mfa=True,
    )
    sess.call(trail, ids, t + 40, "iam.amazonaws.com", "GetAccountSummary", read_only=True)
    sess.call(trail, ids, t + 95, "iam.amazonaws.com", "ListUsers", read_only=True)


def _service_region(
    org: Org, sched: Schedule, trail: Trail, ids: Ids, a: Account, d: int, region: str
) -> None:
    """AWS Config's recorder works in every region, including ones the SCP denies to people."""
    t = sched.t(d, 2, 10 + a.index % 40, ids.rng.randrange(60))
    role = org.role(a.id, "AWSServiceRoleForConfig")
    assume_role(
        trail,
        ids,
        service_actor(a.id, "config.amazonaws.com"),
        t,
        role,
        "AWSConfig-Describe",
        region=region,
    )
    cfg = role_actor(
        ids,
        role,
        "AWSConfig-Describe",
        t,
        ip="config.amazonaws.com",
        ua="config.amazonaws.com",
        invoked_by="config.amazonaws.com",
        region=region,
    )
    for k, name in enumerate(_CONFIG_DESCRIBES):
        cfg.call(trail, ids, t + 2 + k, "ec2.amazonaws.com", name, read_only=True, request={})


_CONFIG_DESCRIBES: Sequence[str] = ("DescribeVpcs", "DescribeSecurityGroups", "DescribeSubnets")
