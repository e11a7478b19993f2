"""Credential-hygiene scenarios: aws-iam-05 (key rotation, dormancy), aws-iam-10 (the audit job).

Most aws-iam-05/-10 signals are read from the credential reports and Config evaluations; this
module plants the users and keys whose state produces them (`side_inputs` derives those labels),
the daily key use that keeps the other keys fresh, and the audit Lambda's failures and silence.
"""

from __future__ import annotations

import time
from typing import Any

from cloudtrail_hunt.synth.actors import UA, key_actor, sso_login
from cloudtrail_hunt.synth.identities import DAY, AccessKey, IamUser, add_key, add_user
from cloudtrail_hunt.synth.routine import audit_run
from cloudtrail_hunt.synth.scenarios.base import ATTACKER_IPS, Ctx
from cloudtrail_hunt.synth.trail import Trail

__all__ = ["CONTRACTORS", "plant", "run"]

#: Contractors whose project ended at once: > 10 stale users in one audit run (aws-iam-10 page).
CONTRACTORS = tuple(f"ctr-{n:02d}" for n in range(1, 13))
#: (account index, user, key age at the in-window run in days, daily use?) of planted key users.
KEYED = (
    (1, "svc-legacy-etl", 183, True),  # > 180 days at the run: page; > 90 all along: ticket
    (2, "svc-backup", 94, True),  # crosses 90 days between the last two runs
    (2, "svc-report-uploader", 75, False),  # last used 70 days before the run: recency gap
    (2, "svc-unused-integration", 60, False),  # never used: N/A for > 45 days
)


def plant(ctx: Ctx) -> None:
    """Create the keyed service users, the contractors and the quarterly exporter."""
    org, ids, run_t = ctx.org, ctx.ids, ctx.day(ctx.sched.run_day, 5)
    for index, name, age, _ in KEYED:
        acct = org.accounts[index].id
        user = add_user(org, ids, acct, name, created=run_t - (age + 200) * DAY)
        key = add_key(ids, user, created=run_t - age * DAY)
        if name == "svc-report-uploader":
            key.prior_use = (run_t - 70 * DAY, "eu-west-1", "s3")
    for k, name in enumerate(CONTRACTORS):
        user = add_user(org, ids, ctx.a1.id, name, created=run_t - 300 * DAY)
        key = add_key(ids, user, created=run_t - 80 * DAY)
        # Last used 46 days and a bit before the run: stale at the run, not at the one before.
        key.prior_use = (run_t - 46 * DAY - 7200 - 60 * k, "eu-west-1", "s3")
    quarterly = add_user(org, ids, ctx.a0.id, "svc-quarterly-export", created=run_t - 400 * DAY)
    key = add_key(ids, quarterly, created=run_t - 80 * DAY)
    key.prior_use = (ctx.day(ctx.sched.run_day - 21, 5) - 46 * DAY - 3600, "us-east-1", "ce")
    if ctx.sched.days >= 35:
        reporting = add_user(org, ids, ctx.a2.id, "svc-reporting", created=org.start - 300 * DAY)
        # Created 30 days before the trail: active for > 60 days by its end, never > 90.
        add_key(
            ids,
            reporting,
            created=org.start - 30 * DAY,
            prior_use=(org.start - 3000, "eu-west-1", "s3"),
        )


def _use(ctx: Ctx, user: IamUser, key: AccessKey, t: int, ip: str) -> list[dict[str, Any]]:
    actor = key_actor(
        user,
        key.key_id,
        ip=ip,
        ua=UA["boto3"].replace(" exec-env/AWS_Lambda_python3.12", ""),
        region="eu-west-1",
    )
    return [
        actor.call(
            ctx.trail,
            ctx.ids,
            t,
            "s3.amazonaws.com",
            "ListBuckets",
            read_only=True,
            request={"Host": "s3.eu-west-1.amazonaws.com"},
            request_id="s3",
        ),
        actor.call(
            ctx.trail, ctx.ids, t + 2, "sts.amazonaws.com", "GetCallerIdentity", read_only=True
        ),
    ]


def _find(trail: Trail, event_id: str) -> dict[str, Any]:
    for bucket in trail.extras.values():
        for _, _, rec in bucket:
            if rec["eventID"] == event_id:
                return rec
    raise KeyError(event_id)


def run(ctx: Ctx) -> None:
    """Daily use of the fresh keys, the dormant key, and the audit Lambda's troubles."""
    org, sched, ids = ctx.org, ctx.sched, ctx.ids
    daily = [(org.accounts[i].id, n) for i, n, _, used in KEYED if used]
    daily.append((ctx.a2.id, "svc-ops-automation"))
    for d in range(sched.days):
        for k, (acct, name) in enumerate(daily):
            user = org.user(acct, name)
            _use(
                ctx,
                user,
                user.keys[0],
                ctx.day(d, 2, 5 + 7 * k, ids.rng.randrange(60)),
                f"192.0.2.{80 + k}",
            )
    # The quarterly exporter runs once, two days after the run that found it stale.
    user = org.user(ctx.a0.id, "svc-quarterly-export")
    _use(ctx, user, user.keys[0], ctx.day(sched.run_day - 19, 6, 30), "192.0.2.90")
    stale_run = sched.audit_time(0, sched.run_day - 21)
    ctx.label(
        "stale-user-single-run",
        10,
        "stale-users-two-consecutive-runs",
        None,
        ctx.a0.id,
        user.arn,
        [],
        "Near miss: svc-quarterly-export is stale (46 days idle) in one audit "
        "run only, then used again; the management account has no other stale user.",
        evidence=[
            f"side_inputs/credential-reports/{ctx.a0.id}/"
            f"{time.strftime('%Y-%m-%d', time.gmtime(stale_run))}.csv"
        ],
        first=stale_run,
        last=stale_run + 7 * DAY,
    )

    # aws-iam-05 dormancy: a key used every day for the first days, then silent for 30 days.
    if sched.days >= 35:
        user = org.user(ctx.a2.id, "svc-reporting")
        last: list[dict[str, Any]] = []
        for d in range(sched.days - 30):
            for h in (6, 12, 18):
                last = _use(
                    ctx, user, user.keys[0], ctx.day(d, h, 20, ids.rng.randrange(60)), "192.0.2.95"
                )
        ctx.label(
            "key-dormant-30-day-average-zero",
            5,
            "key-call-volume-dormant",
            "ticket",
            ctx.a2.id,
            user.arn,
            last[-1:],
            "The key was used several times a day, then "
            "not at all for the last 30 days, while active for more than 60 days.",
            last=ctx.day(sched.days - 1, 23, 59, 59),
        )

    # aws-iam-10: the scheduled run fails with Throttling, its retry with ServiceFailure -> ticket.
    acct, day = sched.throttled  # type: ignore[misc]
    account = next(a for a in org.accounts if a.id == acct)
    t = sched.audit_time(account.index, day)
    failed = audit_run(org, ctx.trail, ids, account, t, error=("Throttling", "Rate exceeded"))
    failed += audit_run(
        org,
        ctx.trail,
        ids,
        account,
        t + 94,
        error=(
            "ServiceFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
    )
    audit_run(org, ctx.trail, ids, account, ctx.day(day, 7, 30, 2))  # a manual re-run works
    ctx.label(
        "credential-report-generation-throttled",
        10,
        "credential-report-generation-failing",
        "ticket",
        acct,
        failed[0]["userIdentity"]["arn"],
        failed,
        "The audit Lambda's GenerateCredentialReport fails twice on its schedule.",
    )

    # aws-iam-10: the management account's schedule was disabled the day after a run; by the
    # in-window run day no GenerateCredentialReport has come from the Lambda role for 14 days.
    a0 = ctx.a0.id
    last_run = max(
        (r for r in ctx.trail.reports if r.account == a0 and r.scheduled), key=lambda r: r.t
    )
    t = ctx.day(sched.audit_last + 1, 3, 12, 40)  # type: ignore[operator]
    _, admin = sso_login(
        ctx.trail,
        ids,
        org,
        a0,
        "jo.adams",
        "AdministratorAccess",
        t - 200,
        ip=ATTACKER_IPS[3],
        ua=UA["browser"],
    )
    disable = admin.call(
        ctx.trail,
        ids,
        t,
        "events.amazonaws.com",
        "DisableRule",
        request={"name": "credential-report-audit-schedule", "eventBusName": "default"},
    )
    ctx.label(
        "audit-lambda-missed-over-14-days",
        10,
        "audit-lambda-missed-over-14-days",
        "page",
        a0,
        org.role(a0, "credential-report-audit-role").arn,
        [_find(ctx.trail, last_run.event_id), disable],
        "The last GenerateCredentialReport by the audit role, then the DisableRule that "
        "stopped its schedule; nothing for more than 14 days after.",
        last=last_run.t + 14 * DAY + 3600,
    )
    a1 = ctx.a1.id
    runs = sorted(
        (r for r in ctx.trail.reports if r.account == a1 and r.scheduled), key=lambda r: r.t
    )[-2:]
    ctx.label(
        "audit-lambda-weekly-cadence",
        10,
        "audit-lambda-missed-over-14-days",
        None,
        a1,
        org.role(a1, "credential-report-audit-role").arn,
        [_find(ctx.trail, r.event_id) for r in runs],
        "Near miss: the prod account's audit Lambda keeps its weekly cadence.",
    )
