"""Root-user scenarios: aws-iam-01 (root MFA) and aws-iam-02 (root access keys)."""

from __future__ import annotations

from cloudtrail_hunt.synth.actors import UA, key_actor, role_actor, root_console, sso_login
from cloudtrail_hunt.synth.identities import DAY, AccessKey, Timeline
from cloudtrail_hunt.synth.records import aws_date
from cloudtrail_hunt.synth.scenarios.base import ATTACKER_IPS, Ctx
from cloudtrail_hunt.synth.trail import ReportRun

__all__ = ["plant", "run"]


def plant(ctx: Ctx) -> None:
    """The management root still holds an old, deactivated second key (reactivated later)."""
    root = ctx.org.roots[ctx.a0.id]
    old = AccessKey(
        ctx.ids.key_id("AKIA"),
        ctx.org.start - 700 * DAY,
        Timeline(False),
        prior_use=(ctx.org.start - 420 * DAY, "us-east-1", "s3"),
    )
    old.active.set(old.created, True)
    old.active.set(ctx.org.start - 400 * DAY, False)
    root.keys.append(old)


def _scp_denied(who: str, action: str, resource: str, policy_arn: str) -> tuple[str, str]:
    return (
        "AccessDenied",
        f"User: {who} is not authorized to perform: {action} on resource: "
        f"{resource} with an explicit deny in a service control policy: {policy_arn}",
    )


def ad_hoc_report(ctx: Ctx, account: str, t: int) -> None:
    """A responder pulls the credential report immediately (the guide's initial response)."""
    _, sess = sso_login(
        ctx.trail,
        ctx.ids,
        ctx.org,
        account,
        "chen.wei",
        "SecurityAudit",
        t - 60,
        ip=ctx.org.office_ips[2],
        ua=UA["browser"],
    )
    gen = sess.call(
        ctx.trail,
        ctx.ids,
        t,
        "iam.amazonaws.com",
        "GenerateCredentialReport",
        response={
            "state": "STARTED",
            "description": "No report exists. Starting a new report generation task",
        },
    )
    sess.call(ctx.trail, ctx.ids, t + 9, "iam.amazonaws.com", "GetCredentialReport", read_only=True)
    ctx.trail.reports.append(ReportRun(account, t + 9, False, sess.arn, gen["eventID"]))


def run(ctx: Ctx) -> None:
    """Plant the root scenarios; see each block for the guide line it exercises."""
    org, trail, ids = ctx.org, ctx.trail, ctx.ids
    a0, a1, a2 = ctx.a0.id, ctx.a1.id, ctx.a2.id
    browser = UA["browser"]

    # aws-iam-01: root ConsoleLogin with MFAUsed "No" in a member account -> page.
    t = ctx.t(1, 2, 31, 14)
    login, sess = root_console(trail, ids, a1, t, ip=ATTACKER_IPS[0], ua=browser, mfa=False)
    ctx.label(
        "root-console-login-without-mfa",
        1,
        "root-console-login-mfa-no",
        "page",
        a1,
        f"arn:aws:iam::{a1}:root",
        [login],
        "Root signs in to a member account with a password only, from an unknown address.",
    )
    # aws-iam-02: the same session tries CreateAccessKey; the root-key SCP denies it
    # -> informational.
    denied = sess.call(
        trail,
        ids,
        t + 290,
        "iam.amazonaws.com",
        "CreateAccessKey",
        error=_scp_denied(
            f"arn:aws:iam::{a1}:root",
            "iam:CreateAccessKey",
            f"arn:aws:iam::{a1}:root",
            org.scp_arn("deny-root-create-access-key"),
        ),
    )
    ctx.label(
        "root-create-access-key-denied-by-scp",
        2,
        "root-create-access-key-scp-denied",
        "informational",
        a1,
        f"arn:aws:iam::{a1}:root",
        [denied],
        "Root's CreateAccessKey in a member account fails with AccessDenied from the SCP.",
    )

    # aws-iam-02: root of the management account (not bound by SCPs) creates a key -> page.
    t = ctx.t(1, 2, 20, 3)
    login, sess = root_console(trail, ids, a0, t, ip=ATTACKER_IPS[1], ua=browser, mfa=True)
    ctx.label(
        "root-console-login-with-mfa",
        1,
        "root-console-login-mfa-no",
        None,
        a0,
        f"arn:aws:iam::{a0}:root",
        [login],
        "Near miss: a root console sign-in that used MFA (MFAUsed Yes) must not page.",
    )
    root = org.roots[a0]
    key = AccessKey(ids.key_id("AKIA"), t + 430, Timeline(False))
    key.active.set(key.created, True)
    root.keys.append(key)  # report slots follow creation order: this becomes access_key_2
    created = sess.call(
        trail,
        ids,
        key.created,
        "iam.amazonaws.com",
        "CreateAccessKey",
        request=None,
        response={
            "accessKey": {
                "accessKeyId": key.key_id,
                "status": "Active",
                "createDate": aws_date(key.created),
            }
        },
    )
    ctx.label(
        "root-create-access-key",
        2,
        "root-create-access-key",
        "page",
        a0,
        f"arn:aws:iam::{a0}:root",
        [created],
        "The management account's root user creates an access key for itself (no userName "
        "in requestParameters).",
    )
    attacker = key_actor(root, key.key_id, ip=ATTACKER_IPS[1], ua=UA["cli"])
    for k, (src, name) in enumerate(
        (
            ("sts.amazonaws.com", "GetCallerIdentity"),
            ("iam.amazonaws.com", "ListUsers"),
            ("organizations.amazonaws.com", "ListAccounts"),
        )
    ):
        attacker.call(trail, ids, key.created + 400 + 37 * k, src, name, read_only=True)
    # Responders pull the report that morning and the next: the key shows up on the root row.
    ad_hoc_report(ctx, a0, ctx.t(1, 9, 15, 0))

    # aws-iam-02: the old, inactive second root key is switched back on -> page.
    t = ctx.t(2, 3, 0, 41)
    _, sess = root_console(trail, ids, a0, t, ip=ATTACKER_IPS[1], ua=browser, mfa=True)
    old = root.keys[0]
    old.active.set(t + 260, True)
    update = sess.call(
        trail,
        ids,
        t + 260,
        "iam.amazonaws.com",
        "UpdateAccessKey",
        request={"accessKeyId": old.key_id, "status": "Active"},
    )
    ctx.label(
        "root-reactivate-access-key",
        2,
        "root-update-access-key",
        "page",
        a0,
        f"arn:aws:iam::{a0}:root",
        [update],
        "Root reactivates its dormant second access key with UpdateAccessKey.",
    )
    ad_hoc_report(ctx, a0, ctx.t(2, 11, 0, 0))

    # aws-iam-01: root (signed in with MFA, as the SCP demands) removes its own MFA -> page.
    t = ctx.t(2, 4, 10, 5)
    login, sess = root_console(trail, ids, a2, t, ip=ATTACKER_IPS[2], ua=browser, mfa=True)
    ctx.label(
        "root-console-login-with-mfa-member",
        1,
        "root-console-login-mfa-no",
        None,
        a2,
        f"arn:aws:iam::{a2}:root",
        [login],
        "Near miss: root signs in with MFA (the precursor of the MFA removal below).",
    )
    serial = f"arn:aws:iam::{a2}:mfa/root-account-mfa-device"
    deact = sess.call(
        trail,
        ids,
        t + 250,
        "iam.amazonaws.com",
        "DeactivateMFADevice",
        request={"userName": "AWS ROOT USER", "serialNumber": serial},
    )
    delete = sess.call(
        trail,
        ids,
        t + 262,
        "iam.amazonaws.com",
        "DeleteVirtualMFADevice",
        request={"serialNumber": serial},
    )
    org.roots[a2].mfa.set(t + 250, False)
    ctx.label(
        "root-deactivate-mfa-device",
        1,
        "root-deactivate-mfa",
        "page",
        a2,
        f"arn:aws:iam::{a2}:root",
        [deact, delete],
        "Root deactivates its own MFA device in a member account, then deletes it.",
    )

    # Near miss for aws-iam-02: the approved key-rotation automation creates a key for a
    # service user (not root) - on the allow-list of automation principals.
    t = ctx.t(2, 12, 0, 9)
    rotator = role_actor(
        ids,
        org.role(a2, "iam-key-rotator-role"),
        "iam-key-rotator",
        t - 3,
        ip=org.workload_ips[3],
        ua=UA["boto3"],
    )
    exporter = org.user(a2, "svc-metrics-exporter")
    new = AccessKey(ids.key_id("AKIA"), t, Timeline(False))
    new.active.set(t, True)
    exporter.keys.append(new)
    rec = rotator.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "CreateAccessKey",
        request={"userName": exporter.name},
        response={
            "accessKey": {
                "userName": exporter.name,
                "accessKeyId": new.key_id,
                "status": "Active",
                "createDate": aws_date(t),
            }
        },
    )
    ctx.label(
        "automation-create-access-key",
        2,
        "automation-allow-list",
        None,
        a2,
        rotator.arn,
        [rec],
        "Near miss: CreateAccessKey by the approved key-rotation Lambda for a service "
        "user, not by root.",
    )
