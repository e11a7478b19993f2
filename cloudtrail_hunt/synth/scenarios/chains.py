"""A stolen key's credential chain across two accounts, and a look-alike that must not join it.

The chain (what `cloudtrail-hunt trace` follows): an IAM user's access key assumes a role in its
own account, that session assumes a role in another account, and that session chains into a
third role there, each hop doing something. The decoy uses the same roles and session names
from an Identity Center session a day earlier: only the keys in the responses tell them apart.
"""

from __future__ import annotations

from cloudtrail_hunt.synth.actors import UA, Actor, assume_role, key_actor, sso_login
from cloudtrail_hunt.synth.identities import DAY, add_key, add_user
from cloudtrail_hunt.synth.scenarios.base import ATTACKER_IPS, Ctx

__all__ = ["CHAIN_USER", "SESSION", "plant", "run"]

CHAIN_USER = "ci-artifact-uploader"
SESSION = "artifact-sync"
#: (account index, role) of each hop after the key.
HOPS = ((1, "deploy-role"), (2, "OrganizationAccountAccessRole"), (2, "SecurityAuditRole"))
#: What each hop does once it holds its session: (eventSource, eventName).
ACTIONS = (
    (("s3.amazonaws.com", "ListBuckets"), ("sts.amazonaws.com", "GetCallerIdentity")),
    (("s3.amazonaws.com", "ListBuckets"), ("secretsmanager.amazonaws.com", "ListSecrets")),
    (("iam.amazonaws.com", "ListUsers"), ("iam.amazonaws.com", "ListRoles")),
)


def plant(ctx: Ctx) -> None:
    """The CI user whose key is stolen (a long-lived key, used only by the attacker here)."""
    user = add_user(ctx.org, ctx.ids, ctx.a1.id, CHAIN_USER, created=ctx.org.start - 400 * DAY)
    add_key(ctx.ids, user, created=ctx.org.start - 10 * DAY)


def run(ctx: Ctx) -> None:
    """Plant the decoy (hunt day 2) and the chain (hunt day 3)."""
    _decoy(ctx)
    _chain(ctx)


def _hops(ctx: Ctx, first: Actor, t: int, actions: bool) -> list[dict]:
    """Walk HOPS from `first`; returns the AssumeRole records, one per hop."""
    accounts = {1: ctx.a1.id, 2: ctx.a2.id}
    actor, records = first, []
    for k, (account, role) in enumerate(HOPS):
        t += 60
        rec, actor = assume_role(
            ctx.trail, ctx.ids, actor, t, ctx.org.role(accounts[account], role), SESSION
        )
        records.append(rec)
        if actions:
            for j, (source, name) in enumerate(ACTIONS[k]):
                actor.call(ctx.trail, ctx.ids, t + 10 + 5 * j, source, name, read_only=True)
    return records


def _chain(ctx: Ctx) -> None:
    user = ctx.org.user(ctx.a1.id, CHAIN_USER)
    me = key_actor(user, user.keys[0].key_id, ip=ATTACKER_IPS[2], ua=UA["cli"])
    records = _hops(ctx, me, ctx.t(3, 2, 14), actions=True)
    ctx.label(
        "credential-chain-cross-account",
        6,
        "assume-role-by-iam-user",
        "ticket",
        ctx.a1.id,
        user.arn,
        records[:1],
        f"A stolen {CHAIN_USER} key assumes deploy-role, whose session assumes "
        "OrganizationAccountAccessRole in the dev account and chains into SecurityAuditRole "
        "there, each hop listing what it can reach (trace it from the key).",
    )


def _decoy(ctx: Ctx) -> None:
    _, session = sso_login(
        ctx.trail, ctx.ids, ctx.org, ctx.a1.id, "hana.sato", "Developer", ctx.t(2, 9, 30),
        ip=ctx.org.office_ips[1], ua=UA["mac"],
    )  # fmt: skip
    records = _hops(ctx, session, ctx.t(2, 9, 40), actions=False)
    ctx.label(
        "credential-chain-look-alike",
        6,
        "assume-role-by-iam-user",
        None,
        ctx.a1.id,
        session.arn,
        records[:1],
        "An Identity Center session walks the same roles with the same session name a day "
        "before credential-chain-cross-account; a role session is not an IAM user's key, and "
        "a trace of either chain must not reach the other.",
    )
