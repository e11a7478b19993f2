"""The canonical event schema: CloudTrail field paths, physical columns, dtypes and partition keys.

Everything downstream (lake, query compiler, detections) names columns through this module.
Columns that mirror a CloudTrail field keep CloudTrail's spelling, dotted for nested fields
(`userIdentity.sessionContext.sessionIssuer.arn`), so a Logs Insights field name is a column name.
"""

from __future__ import annotations

import polars as pl

#: Bump when the stored columns change; part of every ingest batch's id.
SCHEMA_VERSION = 2  # 2: `event_time_text`

#: The columns after the data columns: account and region (strings: account ids keep their
#: leading zeros) and `day`, the UTC day of eventTime, the Delta tables' one partition column.
PARTITION_KEYS: tuple[str, ...] = ("account", "region", "day")
HIVE_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String(),
    "region": pl.String(),
    "day": pl.Date(),
}

#: Top-level CloudTrail string fields promoted to typed columns.
TOP_LEVEL_STRINGS: tuple[str, ...] = (
    "eventVersion",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "eventCategory",
    "sessionCredentialFromConsole",
)
#: Top-level CloudTrail booleans (`readOnly` is a JSON boolean in real trails, a string in
#: some captures).
TOP_LEVEL_BOOLS: tuple[str, ...] = ("readOnly", "managementEvent")

#: Variable-shape parts, stored as compact JSON text and read with JSON-path extraction.
JSON_FIELDS: tuple[str, ...] = (
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "resources",
    "tlsDetails",
    "insightDetails",
)

#: userIdentity sub-fields with a stable scalar type (CloudTrail userIdentity element reference:
#: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
USER_IDENTITY_STRINGS: tuple[str, ...] = (
    "userIdentity.type",
    "userIdentity.principalId",
    "userIdentity.arn",
    "userIdentity.accountId",
    "userIdentity.accessKeyId",
    "userIdentity.userName",
    "userIdentity.invokedBy",
    "userIdentity.identityProvider",
    "userIdentity.credentialId",
    "userIdentity.sessionContext.sourceIdentity",
    "userIdentity.sessionContext.attributes.creationDate",
    "userIdentity.sessionContext.attributes.mfaAuthenticated",
    "userIdentity.sessionContext.sessionIssuer.type",
    "userIdentity.sessionContext.sessionIssuer.principalId",
    "userIdentity.sessionContext.sessionIssuer.arn",
    "userIdentity.sessionContext.sessionIssuer.accountId",
    "userIdentity.sessionContext.sessionIssuer.userName",
)

#: Hot fields inside the JSON parts that the guide's hunts filter on, promoted to typed columns
#: so a hunt reads a small string column instead of parsing JSON on every row
#: (reference/performance.md: "Promoting the hot JSON fields ... removes most of that cost").
#: Only string values are promoted; any other JSON type leaves the column null (the JSON
#: column and `message` still hold it).
PROMOTED_STRINGS: tuple[str, ...] = (
    "additionalEventData.MFAUsed",
    "responseElements.ConsoleLogin",
    "requestParameters.userName",
    "requestParameters.roleName",
    "requestParameters.policyDocument",
    "requestParameters.permissionsBoundary",
    "requestParameters.policyArn",
    "requestParameters.region",
)

#: Provenance and lake bookkeeping.
SOURCE = "source"  # URI of the object the record came from
SOURCE_INDEX = "source_index"  # position of the record in that object (0-based)
DEDUP_KEY = "dedup_key"  # 16-byte XXH3-128 of the compact record JSON; see README "Deduplication"
BATCH = "ingest_batch"  # the ingest batch that wrote the row
MESSAGE = "message"  # the record as compact JSON: the lossless copy, and Logs Insights' @message
ENVELOPE = "envelope"  # wrapper around the record (EventBridge, LookupEvents) minus the record
EVENT_TIME = "eventTime"
#: The record's `eventTime` text where it is not :func:`event_time_text` of the parsed instant
#: (an offset, a short fraction, a space for the `T`), else null: Logs Insights returns
#: original strings unchanged, and CloudTrail's own spelling is rebuilt from the instant.
EVENT_TIME_TEXT = "event_time_text"

STRING_COLUMNS: tuple[str, ...] = (
    TOP_LEVEL_STRINGS + USER_IDENTITY_STRINGS + PROMOTED_STRINGS + JSON_FIELDS
)


def event_schema() -> pl.Schema:
    """Return the schema of the data columns stored in each event file (no partition keys)."""
    columns: dict[str, pl.DataType] = {EVENT_TIME: pl.Datetime("us", "UTC")}
    columns.update(dict.fromkeys(TOP_LEVEL_STRINGS, pl.String()))
    columns.update(dict.fromkeys(TOP_LEVEL_BOOLS, pl.Boolean()))
    columns.update(dict.fromkeys(USER_IDENTITY_STRINGS, pl.String()))
    columns.update(dict.fromkeys(PROMOTED_STRINGS, pl.String()))
    columns.update(dict.fromkeys(JSON_FIELDS, pl.String()))
    columns[SOURCE] = pl.String()
    columns[SOURCE_INDEX] = pl.UInt32()
    columns[DEDUP_KEY] = pl.Binary()
    columns[BATCH] = pl.String()
    columns[ENVELOPE] = pl.String()
    columns[MESSAGE] = pl.String()
    columns[EVENT_TIME_TEXT] = pl.String()
    return pl.Schema(columns)


def event_time_text(instant: pl.Expr) -> pl.Expr:
    """Spell a UTC instant as CloudTrail spells `eventTime`: whole seconds and a `Z`.

    A fraction is kept at the precision it needs (milliseconds or microseconds).
    """
    micros = instant.dt.microsecond()
    return (
        pl.when(micros == 0)
        .then(instant.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .when(micros % 1000 == 0)
        .then(instant.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
        .otherwise(instant.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    )


def lake_schema() -> pl.Schema:
    """Return the schema a scan of the lake yields: data columns plus the partition keys."""
    schema = dict(event_schema())
    schema.update(HIVE_SCHEMA)
    return pl.Schema(schema)
