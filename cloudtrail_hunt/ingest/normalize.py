"""Turn decoded records into a frame of the canonical schema, keeping free-form parts as JSON text.

Third stage of ingest (list → decode → **normalize** → lake). Typed columns are a view of the
record: the record itself is kept whole, as compact JSON, in the `message` column, so the lake is
lossless whatever the record holds. A record whose typed fields do not have their CloudTrail
types (a number where a string belongs, as some fixtures have) is coerced field by field; only a
record with no usable `eventTime` is rejected, because it has no place in a time-partitioned lake.
"""

from __future__ import annotations

import array
import functools
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec
import polars as pl
import pyarrow as pa
import xxhash

from cloudtrail_hunt import schema as S

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cloudtrail_hunt.ingest.layout import KeyInfo

_Str = str | None
#: A JSON part that is absent or null; `msgspec.Raw | None` cannot express "any JSON value".
_NULL = msgspec.Raw(b"null")


class _Attributes(msgspec.Struct):
    creationDate: _Str = None
    mfaAuthenticated: _Str = None


class _Issuer(msgspec.Struct):
    type: _Str = None
    principalId: _Str = None
    arn: _Str = None
    accountId: _Str = None
    userName: _Str = None


class _SessionContext(msgspec.Struct):
    sourceIdentity: _Str = None
    attributes: _Attributes | None = None
    sessionIssuer: _Issuer | None = None


class _UserIdentity(msgspec.Struct):
    type: _Str = None
    principalId: _Str = None
    arn: _Str = None
    accountId: _Str = None
    accessKeyId: _Str = None
    userName: _Str = None
    invokedBy: _Str = None
    identityProvider: _Str = None
    credentialId: _Str = None
    sessionContext: _SessionContext | None = None


class _RequestParameters(msgspec.Struct):
    userName: _Str = None
    roleName: _Str = None
    policyDocument: _Str = None
    permissionsBoundary: _Str = None
    policyArn: _Str = None
    region: _Str = None


class _AdditionalEventData(msgspec.Struct):
    MFAUsed: _Str = None


class _ResponseElements(msgspec.Struct):
    ConsoleLogin: _Str = None


class _Record(msgspec.Struct):
    eventTime: _Str = None
    # Logstash exports (OTRF Security-Datasets) move `eventTime` into `@timestamp`.
    logstashTimestamp: _Str = msgspec.field(default=None, name="@timestamp")
    eventVersion: _Str = None
    eventSource: _Str = None
    eventName: _Str = None
    awsRegion: _Str = None
    sourceIPAddress: _Str = None
    userAgent: _Str = None
    errorCode: _Str = None
    errorMessage: _Str = None
    requestID: _Str = None
    eventID: _Str = None
    eventType: _Str = None
    apiVersion: _Str = None
    recipientAccountId: _Str = None
    sharedEventID: _Str = None
    vpcEndpointId: _Str = None
    eventCategory: _Str = None
    sessionCredentialFromConsole: _Str = None
    # Real trails write JSON booleans; some captures write "true" (cribl-packs sample).
    readOnly: bool | str | None = None
    managementEvent: bool | str | None = None
    userIdentity: _UserIdentity | None = None
    requestParameters: msgspec.Raw = _NULL
    responseElements: msgspec.Raw = _NULL
    additionalEventData: msgspec.Raw = _NULL
    serviceEventDetails: msgspec.Raw = _NULL
    resources: msgspec.Raw = _NULL
    tlsDetails: msgspec.Raw = _NULL
    insightDetails: msgspec.Raw = _NULL


_RECORD = msgspec.json.Decoder(_Record)
_REQUEST = msgspec.json.Decoder(_RequestParameters | None)
_ADDITIONAL = msgspec.json.Decoder(_AdditionalEventData | None)
_RESPONSE = msgspec.json.Decoder(_ResponseElements | None)
_BUILTINS = msgspec.json.Decoder()

#: `eventTime` is ISO-8601 UTC with a `Z` (CloudTrail record contents reference). Exports and
#: fixtures also write offsets, a space for the `T`, 7 fractional digits or no zone at all
#: (panther-analysis tests); those are read as UTC rather than rejected.
_ZONED_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
_MAX_PARTITION_VALUE = 64
INSIGHT_EVENT_TYPE = "AwsCloudTrailInsight"


@dataclass(frozen=True, slots=True)
class ObjectRecords:
    """The decoded records of one object, with where they came from."""

    source: str
    info: KeyInfo
    records: list[tuple[int, bytes, bytes | None]]


@dataclass(slots=True)
class Normalized:
    """Rows of the canonical schema plus partition keys, and the records rejected on the way."""

    frame: pl.DataFrame
    rejected: list[tuple[str, int, str]]


def partition_value(value: str) -> str:
    """Make a Hive partition value that cannot leave its directory and decodes back to `value`.

    Percent-encoding every character outside ``[A-Za-z0-9_.~-]`` removes ``/``, NUL and control
    characters; Polars percent-decodes Hive values on read, so filters see the original text.
    ``.`` and ``..`` are encoded too, and over-long values are replaced by a hash.

    Examples
    --------
    >>> partition_value("012345678901"), partition_value("../x"), partition_value("..")
    ('012345678901', '..%2Fx', '%2E%2E')
    """
    if len(value) > _MAX_PARTITION_VALUE:
        return "_long-" + xxhash.xxh3_64_hexdigest(value.encode("utf-8", "surrogatepass"))
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if set(encoded) == {"."} else encoded


def _string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


@functools.cache
def _fields(struct_type: type[msgspec.Struct]) -> tuple[tuple[str, str, str], ...]:
    hints = struct_type.__annotations__
    return tuple((f.name, f.encode_name, str(hints[f.name])) for f in msgspec.structs.fields(struct_type))


def _coerce_struct(obj: Any, struct_type: type[msgspec.Struct]) -> Any:
    """Build `struct_type` from a decoded dict, turning wrongly typed scalars into JSON text."""
    if not isinstance(obj, dict):
        return None
    values: dict[str, Any] = {}
    for name, encode_name, hint in _fields(struct_type):
        if encode_name not in obj:
            continue
        value = obj[encode_name]
        if "Raw" in hint:
            values[name] = msgspec.Raw(msgspec.json.encode(value))
        elif hint.startswith("bool"):
            values[name] = _boolean(value)
        elif hint == "_Str":
            values[name] = _string(value)
        else:
            nested = {
                "_UserIdentity | None": _UserIdentity,
                "_SessionContext | None": _SessionContext,
                "_Attributes | None": _Attributes,
                "_Issuer | None": _Issuer,
            }[hint]
            values[name] = _coerce_struct(value, nested)
    return struct_type(**values)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _decode_record(message: bytes) -> _Record | str:
    """Decode the typed fields of one record, or return why it cannot be a row."""
    try:
        return _RECORD.decode(message)
    except msgspec.ValidationError:
        obj = _BUILTINS.decode(message)
        if not isinstance(obj, dict):
            return "record is not a JSON object"
        return _coerce_struct(obj, _Record)
    except msgspec.DecodeError as exc:
        return f"record is not valid JSON: {exc}"
    except UnicodeDecodeError as exc:
        return f"record is not valid UTF-8: {exc}"


def _promoted(raw: msgspec.Raw, decoder: msgspec.json.Decoder, names: tuple[str, ...]) -> tuple:
    if raw == _NULL:
        return (None,) * len(names)
    try:
        value = decoder.decode(raw)
    except msgspec.ValidationError:
        obj = _BUILTINS.decode(raw)
        return tuple(obj.get(n) if isinstance(obj, dict) and isinstance(obj.get(n), str) else None for n in names)
    if value is None:
        return (None,) * len(names)
    return tuple(getattr(value, n) for n in names)


def normalize(objects: Iterable[ObjectRecords]) -> Normalized:
    """Build the canonical frame for the records of several objects.

    Returns a frame with the data columns of :func:`cloudtrail_hunt.schema.event_schema`, the
    partition keys, and ``is_insight``; rows keep their input order.
    """
    rows: list[_Record] = []
    messages: list[bytes] = []
    envelopes: list[str | None] = []
    sources: list[str] = []
    indexes: list[int] = []
    key_accounts: list[str | None] = []
    key_regions: list[str | None] = []
    rejected: list[tuple[str, int, str]] = []
    for obj in objects:
        for index, message, envelope in obj.records:
            record = _decode_record(message)
            if isinstance(record, str):
                rejected.append((obj.source, index, record))
                continue
            rows.append(record)
            messages.append(message)
            envelopes.append(None if envelope is None else envelope.decode("utf-8", "replace"))
            sources.append(obj.source)
            indexes.append(index)
            key_accounts.append(obj.info.account)
            key_regions.append(obj.info.region)
    bad_utf8 = _invalid_utf8(messages)
    if bad_utf8:
        for i in sorted(bad_utf8, reverse=True):
            rejected.append((sources[i], indexes[i], f"record is not valid UTF-8: {bad_utf8[i]}"))
            for column in (rows, messages, envelopes, sources, indexes, key_accounts, key_regions):
                del column[i]
    frame = _frame(rows, messages, envelopes, sources, indexes, key_accounts, key_regions)
    bad_time = frame.filter(pl.col(S.EVENT_TIME).is_null())
    for source, index, raw_time in bad_time.select(S.SOURCE, S.SOURCE_INDEX, "_eventTime").iter_rows():
        reason = "record has no `eventTime`" if raw_time is None else f"`eventTime` {raw_time!r} is not an ISO-8601 time"
        rejected.append((source, index, reason))
    frame = frame.filter(pl.col(S.EVENT_TIME).is_not_null()).drop("_eventTime")
    return Normalized(frame, rejected)


def _text_array(values: list[bytes] | list[bytes | None], *, validate: bool) -> pa.Array:
    """Build a string column from UTF-8 bytes with one copy (pa.array() copies item by item).

    `validate` checks UTF-8 once for the whole column; slices of validated JSON skip it.
    """
    lengths = [0 if v is None else len(v) for v in values]
    offsets = array.array("q", itertools.accumulate(lengths, initial=0))
    data = b"".join(v for v in values if v is not None)
    validity = None
    if None in values:
        validity = pa.array([v is not None for v in values], pa.bool_()).buffers()[1]
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
    if validate:
        binary = pa.Array.from_buffers(pa.large_binary(), len(values), buffers)
        return binary.cast(pa.large_string())
    return pa.Array.from_buffers(pa.large_string(), len(values), buffers)


def _invalid_utf8(messages: list[bytes]) -> dict[int, str]:
    """Find records that are not UTF-8 (JSON text must be); one Arrow pass when all are valid."""
    try:
        _text_array(messages, validate=True)
    except pa.ArrowInvalid:
        pass
    else:
        return {}
    bad: dict[int, str] = {}
    for i, message in enumerate(messages):
        try:
            message.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[i] = str(exc)
    return bad


def _frame(
    rows: list[_Record],
    messages: list[bytes],
    envelopes: list[str | None],
    sources: list[str],
    indexes: list[int],
    key_accounts: list[str | None],
    key_regions: list[str | None],
) -> pl.DataFrame:
    columns: dict[str, pa.Array] = {}
    columns["_eventTime"] = pa.array(
        [r.logstashTimestamp if r.eventTime is None else r.eventTime for r in rows], pa.string()
    )
    for name in S.TOP_LEVEL_STRINGS:
        columns[name] = pa.array([getattr(r, name) for r in rows], pa.string())
    for name in S.TOP_LEVEL_BOOLS:
        columns[name] = pa.array([_boolean(getattr(r, name)) for r in rows], pa.bool_())
    for name, values in _identity_columns([r.userIdentity for r in rows]).items():
        columns[name] = pa.array(values, pa.string())
    for prefix, attr, decoder in (
        ("requestParameters.", "requestParameters", _REQUEST),
        ("additionalEventData.", "additionalEventData", _ADDITIONAL),
        ("responseElements.", "responseElements", _RESPONSE),
    ):
        names = tuple(p.removeprefix(prefix) for p in S.PROMOTED_STRINGS if p.startswith(prefix))
        values = [_promoted(getattr(r, attr), decoder, names) for r in rows]
        for i, n in enumerate(names):
            columns[prefix + n] = pa.array([v[i] for v in values], pa.string())
    for name in S.JSON_FIELDS:
        columns[name] = _text_array(
            [None if (v := getattr(r, name)) == _NULL else bytes(v) for r in rows], validate=False
        )
    columns[S.SOURCE] = pa.array(sources, pa.string())
    columns[S.SOURCE_INDEX] = pa.array(indexes, pa.uint32())
    columns[S.DEDUP_KEY] = pa.array([xxhash.xxh3_128_digest(m) for m in messages], pa.binary())
    columns[S.ENVELOPE] = pa.array(envelopes, pa.string())
    columns[S.MESSAGE] = _text_array(messages, validate=False)  # validated by _invalid_utf8
    columns["_key_account"] = pa.array(key_accounts, pa.string())
    columns["_key_region"] = pa.array(key_regions, pa.string())
    frame = pl.from_arrow(pa.table(columns))
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        _parse_event_time(pl.col("_eventTime")).alias(S.EVENT_TIME),
        pl.coalesce("recipientAccountId", "_key_account", "userIdentity.accountId", pl.lit("unknown"))
        .alias("account"),
        pl.coalesce("awsRegion", "_key_region", pl.lit("unknown")).alias("region"),
        (pl.col("eventType") == INSIGHT_EVENT_TYPE).fill_null(False).alias("is_insight"),
    ).with_columns(pl.col(S.EVENT_TIME).dt.date().alias("day")).drop("_key_account", "_key_region")


def _parse_event_time(text: pl.Expr) -> pl.Expr:
    zoned = [
        text.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in _ZONED_FORMATS
    ]
    naive = [
        text.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for f in _NAIVE_FORMATS
    ]
    return pl.coalesce(*zoned, *naive)


def _identity_columns(identities: list[_UserIdentity | None]) -> dict[str, list[str | None]]:
    """Flatten userIdentity level by level: one list comprehension per field, no per-row paths."""
    out: dict[str, list[str | None]] = {}
    level: dict[str, list[Any]] = {"userIdentity": identities}
    while level:
        deeper: dict[str, list[Any]] = {}
        for prefix, objs in level.items():
            for name in S.USER_IDENTITY_STRINGS:
                head, _, rest = name.partition(prefix + ".")
                if head or not rest:
                    continue
                attr = rest.split(".", 1)[0]
                path = f"{prefix}.{attr}"
                if path in out or path in deeper:
                    continue
                values = [None if o is None else getattr(o, attr) for o in objs]
                if "." in rest:
                    deeper[path] = values
                else:
                    out[path] = values
        level = deeper
    return {name: out[name] for name in S.USER_IDENTITY_STRINGS}
