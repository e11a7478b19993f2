"""Human-access scenarios: aws-iam-03 (Identity Center) and aws-iam-04 (IAM-user MFA)."""

from __future__ import annotations

from typing import Any

from cloudtrail_hunt.synth.actors import UA, Actor, iam_user_console, key_actor, sso_login
from cloudtrail_hunt.synth.identities import DAY, add_key, add_user
from cloudtrail_hunt.synth.records import aws_date
from cloudtrail_hunt.synth.scenarios.base import ATTACKER_IPS, Ctx

__all__ = ["LEGACY", "plant", "run"]

#: Legacy IAM users of the prod account that get console passwords without MFA (aws-iam-04).
LEGACY = ("legacy-ana", "legacy-ben", "legacy-carl", "legacy-dora", "legacy-emil", "legacy-fay")


def plant(ctx: Ctx) -> None:
    """Users that exist before the trail: a legacy human, break-glass users, legacy accounts."""
    org, ids, s = ctx.org, ctx.ids, ctx.org.start
    a1, a2 = ctx.a1.id, ctx.a2.id
    jdoe = add_user(org, ids, a1, "j.doe", created=s - 900 * DAY, password=True, mfa=True)
    jdoe.prior_login = s - 3 * DAY
    for name in LEGACY:
        add_user(org, ids, a1, name, created=s - 800 * DAY)
    secops = add_user(
        org, ids, a2, "break-glass-secops", created=s - 600 * DAY, password=True, mfa=True
    )
    secops.prior_login = s - 5 * DAY
    for acct, name in ((a1, "break-glass-netops"), (a2, "break-glass-dbadmin")):
        user = add_user(org, ids, acct, name, created=s - 30 * DAY)
        add_key(ids, user, created=s - 10 * DAY)
    ops = add_user(org, ids, a2, "svc-ops-automation", created=s - 300 * DAY, mfa=True)
    add_key(ids, ops, created=s - 30 * DAY, prior_use=(s - 5000, "eu-west-1", "ec2"))


def _admin(
    ctx: Ctx, account: str, t: int, *, person: str = "alice.martin", ip: str | None = None
) -> Actor:
    _, sess = sso_login(
        ctx.trail,
        ctx.ids,
        ctx.org,
        account,
        person,
        "AdministratorAccess",
        t - 120,
        ip=ip or ctx.org.office_ips[1],
        ua=UA["browser"],
    )
    return sess


def _create_user(ctx: Ctx, actor: Actor, account: str, name: str, t: int) -> dict[str, Any]:
    user = add_user(ctx.org, ctx.ids, account, name, created=t)
    return actor.call(
        ctx.trail,
        ctx.ids,
        t,
        "iam.amazonaws.com",
        "CreateUser",
        request={"userName": name},
        response={
            "user": {
                "path": "/",
                "userName": name,
                "userId": user.user_id,
                "arn": user.arn,
                "createDate": aws_date(t),
            }
        },
    )


def _login_profile(ctx: Ctx, actor: Actor, account: str, name: str, t: int) -> dict[str, Any]:
    ctx.org.user(account, name).password.set(t, True)
    ctx.org.user(account, name).password_changed = t
    return actor.call(
        ctx.trail,
        ctx.ids,
        t,
        "iam.amazonaws.com",
        "CreateLoginProfile",
        request={"userName": name, "passwordResetRequired": True},
        response={
            "loginProfile": {
                "userName": name,
                "createDate": aws_date(t),
                "passwordResetRequired": True,
            }
        },
    )


def run(ctx: Ctx) -> None:
    """Plant the human-access scenarios; each block cites the guide line it exercises."""
    org, trail, ids, sched = ctx.org, ctx.trail, ctx.ids, ctx.sched
    a0, a1, a2 = ctx.a0.id, ctx.a1.id, ctx.a2.id
    browser = UA["browser"]

    # aws-iam-03: a non-break-glass IAM user signs in to the console (with MFA, so aws-iam-04 stays
    # quiet). First sign-in pages; the next ones within 24h are suppressed; one after 24h pages.
    jdoe = org.user(a1, "j.doe")
    times = [
        ctx.t(0, 9, 2, 11),
        ctx.t(0, 11, 40, 3),
        ctx.t(0, 15, 10, 47),
        ctx.t(1, 8, 50, 30),
        ctx.t(1, 9, 41, 5),
    ]
    logins = []
    for t in times:
        rec, sess = iam_user_console(
            trail, ids, jdoe, t, ip=org.office_ips[3], ua=browser, mfa=True
        )
        sess.call(
            trail,
            ids,
            t + 31,
            "ec2.amazonaws.com",
            "DescribeInstances",
            region="eu-west-1",
            read_only=True,
            request={"instancesSet": {}, "filterSet": {}},
        )
        logins.append(rec)
    arn = f"arn:aws:iam::{a1}:user/j.doe"
    ctx.label(
        "iam-user-console-login",
        3,
        "iam-user-console-login",
        "page",
        a1,
        arn,
        logins[:1],
        "A legacy IAM user (not break-glass-*) signs in to the console instead of using "
        "Identity Center.",
    )
    ctx.label(
        "iam-user-console-login-repeat-suppressed",
        3,
        "iam-user-console-login",
        None,
        a1,
        arn,
        logins[1:4],
        "Near miss: further sign-ins by the same user within 24h of the first page are suppressed.",
    )
    ctx.label(
        "iam-user-console-login-after-suppression",
        3,
        "iam-user-console-login",
        "page",
        a1,
        arn,
        logins[4:],
        "The same user signs in again more than 24h after the first page: "
        "the suppression window has ended.",
    )

    # Near misses for aws-iam-03 and -04: a break-glass drill with MFA, and an Identity Center
    # (federated) sign-in, whose ConsoleLogin is by an AssumedRole with MFAUsed "No".
    bg_login, _ = iam_user_console(
        trail,
        ids,
        org.user(a0, "break-glass-admin"),
        ctx.t(2, 10, 5),
        ip=org.office_ips[0],
        ua=browser,
        mfa=True,
    )
    for control in (3, 4):
        ctx.label(
            f"break-glass-console-login-with-mfa-{control:02d}",
            control,
            "iam-user-console-login" if control == 3 else "iam-user-console-login-mfa-no",
            None,
            a0,
            f"arn:aws:iam::{a0}:user/break-glass-admin",
            [bg_login],
            "Near miss: the documented break-glass user signs in, with MFA.",
        )
    recs, sso = sso_login(
        trail,
        ids,
        org,
        a1,
        "bruno.silva",
        "ReadOnlyAccess",
        ctx.t(1, 9, 20),
        ip=org.office_ips[0],
        ua=browser,
    )
    for control in (3, 4):
        ctx.label(
            f"sso-federated-console-login-{control:02d}",
            control,
            "iam-user-console-login" if control == 3 else "iam-user-console-login-mfa-no",
            None,
            a1,
            sso.arn,
            recs[1:],
            "Near miss: an Identity Center sign-in (AssumedRole, AWSReservedSSO_ issuer) "
            'with MFAUsed "No" - MFA happened at the identity provider.',
        )

    # aws-iam-03: tampering with Identity Center from the management account.
    admin = _admin(ctx, a0, ctx.t(3, 19, 40), person="jo.adams", ip=ATTACKER_IPS[3])
    ps_arn = (
        f"arn:aws:sso:::permissionSet/{org.sso_instance.rsplit('/', 1)[1]}/"
        + org.permission_sets["SecurityAudit"]
    )
    assignment = {
        "instanceArn": org.sso_instance,
        "targetId": a1,
        "targetType": "AWS_ACCOUNT",
        "permissionSetArn": ps_arn,
        "principalType": "GROUP",
        "principalId": f"{ids.hex(10)}-{ids.uuid()[:27]}",
    }
    t = ctx.t(3, 19, 40, 30)
    rec = admin.call(
        trail,
        ids,
        t,
        "sso.amazonaws.com",
        "DeleteAccountAssignment",
        request=assignment,
        response={
            "accountAssignmentDeletionStatus": {
                "status": "IN_PROGRESS",
                "requestId": ids.uuid(),
                **{k: v for k, v in assignment.items() if k != "instanceArn"},
            }
        },
    )
    ctx.label(
        "sso-delete-account-assignment",
        3,
        "identity-center-config-tampering",
        "page",
        a0,
        admin.arn,
        [rec],
        "The security team's SecurityAudit assignment is deleted from the prod account.",
    )
    rec = admin.call(
        trail,
        ids,
        t + 215,
        "sso.amazonaws.com",
        "DeletePermissionSet",
        request={"instanceArn": org.sso_instance, "permissionSetArn": ps_arn},
    )
    ctx.label(
        "sso-delete-permission-set",
        3,
        "identity-center-config-tampering",
        "page",
        a0,
        admin.arn,
        [rec],
        "The SecurityAudit permission set itself is deleted.",
    )
    admin = _admin(ctx, a0, ctx.t(1, 14, 2))
    rec = admin.call(
        trail,
        ids,
        ctx.t(1, 14, 2, 50),
        "sso.amazonaws.com",
        "CreateAccountAssignment",
        request={**assignment, "targetId": a2},
    )
    ctx.label(
        "sso-create-account-assignment",
        3,
        "identity-center-config-tampering",
        None,
        a0,
        admin.arn,
        [rec],
        "Near miss: a routine new assignment is not tampering.",
    )

    # aws-iam-03: net-new IAM users. An isolated week (digest only) three weeks before, then two
    # consecutive weeks in the prod account (escalation).
    r = sched.run_day
    t = ctx.day(r - 21, 15, 12, 9)
    rec = _create_user(ctx, _admin(ctx, a2, t), a2, "contractor-qa", t)
    ctx.label(
        "net-new-iam-user-isolated-week",
        3,
        "net-new-iam-users",
        "digest",
        a2,
        f"arn:aws:iam::{a2}:user/contractor-qa",
        [rec],
        "One IAM user created outside Identity Center; the weeks around it are empty.",
    )
    made = []
    for day, name in ((r - 7, "vendor-sync"), (r, "vendor-sync-2")):
        t = ctx.day(day, 16, 3, 40)
        made.append(_create_user(ctx, _admin(ctx, a1, t), a1, name, t))
    ctx.label(
        "net-new-iam-users-consecutive-weeks",
        3,
        "net-new-iam-users",
        "ticket",
        a1,
        f"arn:aws:iam::{a1}:user/vendor-sync",
        made,
        "IAM users created in two consecutive weeks: the weekly digest escalates.",
    )
    ctx.label(
        "iam-user-inventory-drift",
        3,
        "iam-user-inventory-drift",
        "digest",
        a1,
        f"arn:aws:iam::{a1}:user/vendor-sync",
        made,
        "The prod account's IAM-user count rises above its baseline (see the credential "
        "reports before and after).",
    )

    # aws-iam-04: an attacker strips break-glass-secops's MFA (the user has a LoginProfile),
    # then signs in with the password alone.
    t = ctx.t(0, 10, 0, 12)
    admin = _admin(ctx, a2, t, ip=ATTACKER_IPS[0])
    serial = f"arn:aws:iam::{a2}:mfa/break-glass-secops"
    deact = admin.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "DeactivateMFADevice",
        request={"userName": "break-glass-secops", "serialNumber": serial},
    )
    delete = admin.call(
        trail,
        ids,
        t + 14,
        "iam.amazonaws.com",
        "DeleteVirtualMFADevice",
        request={"serialNumber": serial},
    )
    org.user(a2, "break-glass-secops").mfa.set(t, False)
    ctx.label(
        "iam-user-mfa-deactivated-with-login-profile",
        4,
        "iam-user-mfa-removed-with-login-profile",
        "ticket",
        a2,
        admin.arn,
        [deact, delete],
        "MFA is removed from break-glass-secops, which still has a console password.",
    )
    login, _ = iam_user_console(
        trail,
        ids,
        org.user(a2, "break-glass-secops"),
        t + 372,
        ip=ATTACKER_IPS[0],
        ua=browser,
        mfa=False,
    )
    ctx.label(
        "iam-user-console-login-without-mfa",
        4,
        "iam-user-console-login-mfa-no",
        "page",
        a2,
        f"arn:aws:iam::{a2}:user/break-glass-secops",
        [login],
        "An IAM user signs in with a password only (break-glass naming, so aws-iam-03 is quiet).",
    )
    # Near miss: MFA removed from a programmatic user that has no LoginProfile.
    t = ctx.t(1, 11, 30, 2)
    admin = _admin(ctx, a2, t)
    rec = admin.call(
        trail,
        ids,
        t,
        "iam.amazonaws.com",
        "DeactivateMFADevice",
        request={
            "userName": "svc-ops-automation",
            "serialNumber": f"arn:aws:iam::{a2}:mfa/svc-ops-automation",
        },
    )
    org.user(a2, "svc-ops-automation").mfa.set(t, False)
    ctx.label(
        "iam-user-mfa-deactivated-no-login-profile",
        4,
        "iam-user-mfa-removed-with-login-profile",
        None,
        a2,
        admin.arn,
        [rec],
        "Near miss: the user has no LoginProfile (password_enabled false in the reports).",
    )

    # aws-iam-04 tuning: EnableMFADevice by the user, then a no-MFA sign-in 2 minutes later
    # (suppressed) or 7.5 minutes later (pages).
    for acct, name, enable_at, gap, tier in (
        (a1, "break-glass-netops", ctx.t(1, 13, 9, 4), 131, None),
        (a2, "break-glass-dbadmin", ctx.t(1, 15, 0, 10), 450, "page"),
    ):
        _login_profile(ctx, _admin(ctx, acct, enable_at - 700), acct, name, enable_at - 700)
        user = org.user(acct, name)
        me = key_actor(user, user.keys[0].key_id, ip=org.office_ips[3], ua=UA["cli"])
        serial = f"arn:aws:iam::{acct}:mfa/{name}"
        me.call(
            trail,
            ids,
            enable_at - 40,
            "iam.amazonaws.com",
            "CreateVirtualMFADevice",
            request={"virtualMFADeviceName": name, "path": "/"},
            response={"virtualMFADevice": {"serialNumber": serial}},
        )
        enable = me.call(
            trail,
            ids,
            enable_at,
            "iam.amazonaws.com",
            "EnableMFADevice",
            request={"userName": name, "serialNumber": serial},
        )
        user.mfa.set(enable_at, True)
        login, _ = iam_user_console(
            trail, ids, user, enable_at + gap, ip=org.office_ips[3], ua=browser, mfa=False
        )
        ctx.label(
            f"enable-mfa-then-login-after-{gap // 60}-min",
            4,
            "enable-mfa-5-minute-suppression",
            tier,
            acct,
            user.arn,
            [login],
            f"ConsoleLogin without MFA {gap / 60:.1f} minutes after the same user's "
            f"EnableMFADevice (eventID {enable['eventID']}).",
        )

    # aws-iam-04 credential-report bands: six legacy users get console passwords without MFA the
    # day before the weekly run (6+ rows = page; break-glass-secops alone makes 1 = ticket).
    t = ctx.t(0, 16, 20, 0)
    admin = _admin(ctx, a1, t, person="jo.adams")
    for k, name in enumerate(LEGACY):
        _login_profile(ctx, admin, a1, name, t + 61 * k)
