"""Reusable CloudTrail predicates and extractors as Polars expressions (the rule pack's vocabulary).

Every function returns an expression over lake columns (cloudtrail_hunt.schema names), so a
detection reads like the guide: ``ct.event("ConsoleLogin") & ct.identity("Root") & ~ct.mfa_used()``.
"""

from __future__ import annotations

import polars as pl

#: Error codes CloudTrail records for a call an IAM policy or an SCP denied; JSON-protocol APIs
#: use the `…Exception` spelling (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
ACCESS_DENIED_CODES = (
    "AccessDenied",
    "AccessDeniedException",
    "Client.UnauthorizedOperation",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
)


def event(*names: str) -> pl.Expr:
    """The event is one of `names`."""
    return pl.col("eventName").is_in(list(names)).fill_null(False)


def identity(*types: str) -> pl.Expr:
    """`userIdentity.type` is one of `types` (Root, IAMUser, AssumedRole, …)."""
    return pl.col("userIdentity.type").is_in(list(types)).fill_null(False)


def succeeded() -> pl.Expr:
    """The call succeeded: no `errorCode`, and a ConsoleLogin answered `Success`."""
    ok = pl.col("errorCode").is_null()
    login_failed = (pl.col("eventName") == "ConsoleLogin") & (
        pl.col("responseElements.ConsoleLogin") == "Failure"
    )
    return ok & ~login_failed.fill_null(False)


def mfa_used() -> pl.Expr:
    """`additionalEventData.MFAUsed` says yes (AWS spells it `Yes`, sometimes `YES`)."""
    return (pl.col("additionalEventData.MFAUsed").str.to_lowercase() == "yes").fill_null(False)


def mfa_not_used() -> pl.Expr:
    """`additionalEventData.MFAUsed` says no (absent is not "no": federated sign-ins omit it)."""
    return (pl.col("additionalEventData.MFAUsed").str.to_lowercase() == "no").fill_null(False)


def denied() -> pl.Expr:
    """The call was refused by an IAM policy or an SCP (any access-denied error code)."""
    return pl.col("errorCode").is_in(list(ACCESS_DENIED_CODES)).fill_null(False)


def scp_denied() -> pl.Expr:
    """Denied by a service control policy, by error code family and message."""
    message = pl.col("errorMessage").str.to_lowercase()
    return denied() & message.str.contains("service control policy", literal=True).fill_null(False)


def request(path: str, where: pl.Expr | None = None) -> pl.Expr:
    """A leaf of `requestParameters` as text (a promoted column when there is one).

    `where` limits the JSON parsing to the rows it selects (null elsewhere): parsing every
    event's parameters is the expensive part of a scan, and a signal needs few of them.
    """
    promoted = f"requestParameters.{path}"
    from cloudtrail_hunt import schema

    if promoted in schema.PROMOTED_STRINGS:
        return pl.col(promoted)
    text = pl.col("requestParameters")
    if where is not None:
        text = pl.when(where).then(text)
    return text.str.json_path_match(f"$.{path}")


def user_name() -> pl.Expr:
    """The IAM user name of the caller, or the user a request names."""
    return pl.coalesce(pl.col("userIdentity.userName"), request("userName"))
