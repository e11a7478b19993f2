"""aws-iam-05-key-rotation: long-lived access keys past rotation, dormant, or non-compliant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import reports
from cloudtrail_hunt.detect.model import (
    Computed,
    ControlType,
    Detection,
    HuntContext,
    Severity,
    Tier,
)
from detections._guide import COMPLIANCE, RESPONSES

ID = "aws-iam-05-key-rotation"
_DORMANT, _ACTIVE = timedelta(days=30), timedelta(days=60)


# Long-term IAM user keys start `AKIA`; `ASIA` keys are short-lived STS session keys
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html).
_LONG_TERM_KEY = pl.col("userIdentity.accessKeyId").str.starts_with("AKIA").fill_null(False)
_RETIRING = ct.event("DeleteAccessKey", "UpdateAccessKey")


def _key_calls(ctx: HuntContext) -> pl.LazyFrame:
    key = pl.col("userIdentity.accessKeyId")
    columns = ctx.events.collect_schema().names()
    index = pl.col(schema.SOURCE_INDEX) if schema.SOURCE_INDEX in columns else pl.lit(None)
    return ctx.events.filter(_LONG_TERM_KEY).select(
        key=key,
        principal=pl.col("userIdentity.arn"),
        account=pl.coalesce("recipientAccountId", "userIdentity.accountId"),
        time=pl.col(schema.EVENT_TIME),
        event_id=pl.col("eventID"),
        source=pl.col(schema.SOURCE) if schema.SOURCE in columns else pl.lit(None, pl.String),
        index=index.cast(pl.Int64),
    )


def dormant_keys(ctx: HuntContext) -> list[dict[str, Any]]:
    """Keys silent for 30 days (30-day moving average zero) while active for more than 60 days.

    The finding fires when the moving average reaches zero: 30 days after the key's last call in
    the trail, if the trail reaches that far. "Active" is the latest credential report between
    the last call and then (the slot whose last-used date is that call); the age is that slot's
    last_rotated, or, with no report, at least the time since the key's first call in the trail.
    A key deactivated or deleted in the trail after its last call is not dormant but retired.
    """
    last = ctx.latest_event()
    if last is None:
        return []
    horizon = min(ctx.end, last)
    calls = _key_calls(ctx)
    keys = (
        calls.group_by("key")
        # Each key's last call (no global sort: the row at the latest time per key).
        .agg(
            pl.all().exclude("key").get(pl.col("time").arg_max()),
            first_call=pl.col("time").min(),
            calls=pl.len(),
        )
        .with_columns(fired=pl.col("time") + _DORMANT)
        .filter(pl.col("fired") <= horizon)
        .collect(engine="streaming")
    )
    retired = (
        ctx.events.filter(
            ct.succeeded()
            & (
                ct.event("DeleteAccessKey")
                | (ct.event("UpdateAccessKey") & (ct.request("status") == "Inactive"))
            )
        )
        .select(key=ct.request("accessKeyId"), retired=pl.col(schema.EVENT_TIME))
        .collect()
    )
    after = keys.join(retired, on="key").filter(pl.col("retired") >= pl.col("time"))
    keys = keys.join(after.select("key"), on="key", how="anti")
    loaded = reports.load(ctx)
    if loaded is not None and not loaded.reports.is_empty():
        keys = _with_report(keys, loaded.reports)
    else:
        keys = keys.with_columns(
            reported=pl.lit(False), rotated=pl.lit(None, pl.Datetime("us", "UTC"))
        )
    age = pl.col("fired") - pl.coalesce("rotated", "first_call")
    keys = keys.filter(pl.col("reported").not_() | pl.col("rotated").is_not_null())
    out = []
    for k in keys.filter(age > _ACTIVE).sort("fired").iter_rows(named=True):
        out.append(
            {
                "tier": Tier.TICKET,
                "account": k["account"],
                "principal": k["principal"],
                "first_seen": k["fired"],
                "last_seen": horizon,
                "evidence": [
                    {"event_id": k["event_id"], "source": k["source"], "index": k["index"]}
                ],
                "threshold": "no call for 30 days (30-day moving average 0), key active > 60 days",
                "baseline": f"{k['calls']} calls by key {k['key']} before it went silent",
            }
        )
    return out


def _with_report(keys: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """Join each key to its slot in the latest report after its last call (null if none)."""
    runs = frame.select("account", "path", "generated_at").unique()
    latest = (
        keys.select("key", "account", "time", "fired")
        .join(runs, on="account")
        .filter(pl.col("generated_at").is_between(pl.col("time"), pl.col("fired")))
        .sort("generated_at")
        .group_by("key")
        .agg(pl.col("path").last())
    )
    # The slot is the active key whose last-used date is the key's last call (minute precision).
    slots = reports.key_slots(frame).select("path", principal="arn", used="used", rotated="rotated")
    same = ((pl.col("used") - pl.col("time")).abs() <= timedelta(minutes=1)).fill_null(False)
    return (
        keys.join(latest, on="key", how="left")
        .join(slots, on=["path", "principal"], how="left")
        .with_columns(reported=pl.col("path").is_not_null(), rotated=pl.when(same).then("rotated"))
        .sort("rotated", nulls_last=True)
        .unique("key", keep="first")
    )


DETECTION = Detection(
    id=ID,
    title="Rotate remaining long-lived IAM access keys at most every 90 days",
    control_type=ControlType.DETECTIVE,
    severity=Severity.MEDIUM,
    compliance=COMPLIANCE[ID],
    signals=(
        Computed(
            name="config-access-keys-rotated-non-compliant",
            description="AWS Config ACCESS_KEYS_ROTATED evaluates an IAM user NON_COMPLIANT.",
            tiers=(Tier.TICKET,),
            evaluate=reports.config_non_compliant,
        ),
        Computed(
            name="credential-report-key-over-90-days",
            description="An active key last rotated more than 90 days before the report.",
            tiers=(Tier.TICKET,),
            evaluate=reports.key_over_90_days,
        ),
        Computed(
            name="key-age-over-180-days",
            description="An active key older than 180 days (double the policy threshold).",
            # Guide: "Key age > 180 days (double the policy threshold) — escalate to page".
            tiers=(Tier.PAGE,),
            evaluate=reports.key_over_180_days,
        ),
        Computed(
            name="key-last-used-gap",
            description="An active key rotated over 30 days ago and unused for over 30 days.",
            tiers=(Tier.TICKET,),
            evaluate=reports.key_last_used_gap,
        ),
        Computed(
            name="key-call-volume-dormant",
            description="A key silent for 30 days while active for more than 60 days.",
            # Guide: "a key whose 30-day moving-average call volume drops to zero while still
            # active for > 60 days — strong dormancy signal independent of the rotation clock."
            tiers=(Tier.TICKET,),
            evaluate=dormant_keys,
            gate=_LONG_TERM_KEY | _RETIRING,
            columns=(
                *("userIdentity.accessKeyId", "userIdentity.arn", "requestParameters"),
                *("recipientAccountId", "userIdentity.accountId"),
                *("eventName", "errorCode", "responseElements.ConsoleLogin"),
            ),
        ),
    ),
    guide_query=None,  # the guide names a Config-delivery query but does not print it
    response=RESPONSES[ID],
    references=(
        "hardening guide, aws-iam-05-key-rotation",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html#rotating_access_keys_console",
        "https://docs.aws.amazon.com/config/latest/developerguide/access-keys-rotated.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html",
    ),
    baseline="per access key: call volume over the prior 30 days (the dormancy moving average)",
)
