"""Turn decoded records into a frame of the canonical schema, keeping free-form parts as JSON text.

Third stage of ingest (list → decode → **normalize** → lake). Typed columns are a view of the
record: the record itself is kept whole, as compact JSON, in the `message` column, so the lake is
lossless whatever the record holds. A record whose typed fields do not have their CloudTrail
types (a number where a string belongs, as some fixtures have) is coerced field by field; only a
record with no usable `eventTime` is rejected, because it has no place in a time-partitioned lake.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

import msgspec
import polars as pl
import xxhash

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.ingest.decode import unwrap

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cloudtrail_hunt.ingest.layout import KeyInfo

_Str = str | None
#: A JSON part that is absent or null; `msgspec.Raw | None` cannot express "any JSON value".
_NULL = msgspec.Raw(b"null")

# The record structs hold only strings, Raw slices and each other, so they cannot form cycles:
# `gc=False` keeps the garbage collector from walking the millions of them a batch creates,
# which cost more than the decoding itself (normalize 17 -> 11 µs a record).


class _Attributes(msgspec.Struct, gc=False):
    creationDate: _Str = None
    mfaAuthenticated: _Str = None


class _Issuer(msgspec.Struct, gc=False):
    type: _Str = None
    principalId: _Str = None
    arn: _Str = None
    accountId: _Str = None
    userName: _Str = None


class _SessionContext(msgspec.Struct, gc=False):
    sourceIdentity: _Str = None
    attributes: _Attributes | None = None
    sessionIssuer: _Issuer | None = None


class _UserIdentity(msgspec.Struct, gc=False):
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


class _Record(msgspec.Struct, gc=False):
    eventTime: _Str = None
    # Envelope keys, seen here at no extra cost; such a unit is unwrapped, then decoded again.
    detail: msgspec.Raw = _NULL
    CloudTrailEvent: msgspec.Raw = _NULL
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
#: Nested structs by their annotation text, for coercing a record that failed strict decoding.
_NESTED: dict[str, Any] = {
    "_UserIdentity | None": _UserIdentity,
    "_SessionContext | None": _SessionContext,
    "_Attributes | None": _Attributes,
    "_Issuer | None": _Issuer,
}
_BUILTINS = msgspec.json.Decoder()


def _promoted_decoders() -> dict[str, tuple[tuple[str, ...], msgspec.json.Decoder[Any]]]:
    fields: dict[str, list[str]] = {}
    for name in S.PROMOTED_STRINGS:
        part, field_name = name.split(".", 1)
        fields.setdefault(part, []).append(field_name)
    return {
        part: (
            tuple(names),
            msgspec.json.Decoder(
                msgspec.defstruct(part, [(n, _Str, None) for n in names], gc=False)
            ),
        )
        for part, names in fields.items()
    }


#: The promoted fields of each JSON part, decoded by msgspec: several times cheaper than one
#: `json_path_match` per field, which parses the part again for every field.
_PROMOTED = _promoted_decoders()

#: `eventTime` is ISO-8601 UTC with a `Z` (CloudTrail record contents reference). Exports and
#: fixtures also write offsets, a space for the `T`, 7 fractional digits or no zone at all
#: (panther-analysis tests); those are read as UTC rather than rejected.
_ZONED_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
#: How CloudTrail writes `eventTime` (whole seconds, `Z`): spelled that way, the text is what
#: `schema.event_time_text` rebuilds from the instant, so it need not be kept.
_CLOUDTRAIL_SPELLING = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
#: Records decoded and turned into columns at a time: small enough that the decoded structs
#: stay in cache while each column is gathered (several times faster than one big pass).
_CHUNK_ROWS = 2048
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


def _string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


@functools.cache
def _fields(struct_type: type[msgspec.Struct]) -> tuple[tuple[str, str, str], ...]:
    hints = struct_type.__annotations__
    return tuple(
        (f.name, f.encode_name, str(hints[f.name])) for f in msgspec.structs.fields(struct_type)
    )


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
            nested = _NESTED[hint]
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
        coerced: _Record = _coerce_struct(obj, _Record)
        return coerced
    except msgspec.DecodeError as exc:
        return f"record is not valid JSON: {exc}"
    except UnicodeDecodeError as exc:
        return f"record is not valid UTF-8: {exc}"


def normalize(objects: Iterable[ObjectRecords]) -> Normalized:
    """Build the canonical frame for the records of several objects.

    Returns a frame with the data columns of :func:`cloudtrail_hunt.schema.event_schema`, the
    partition keys, and ``is_insight``; rows keep their input order.
    """
    frames: list[pl.DataFrame] = []
    rejected: list[tuple[str, int, str]] = []
    chunk: list[ObjectRecords] = []
    size = 0
    for obj in objects:
        chunk.append(obj)
        size += len(obj.records)
        if size >= _CHUNK_ROWS:
            _normalize_chunk(chunk, frames, rejected)
            chunk, size = [], 0
    if chunk or not frames:
        _normalize_chunk(chunk, frames, rejected)
    return Normalized(pl.concat(frames, rechunk=False), rejected)


def _normalize_chunk(
    objects: list[ObjectRecords], frames: list[pl.DataFrame], rejected: list[tuple[str, int, str]]
) -> None:
    rows: list[_Record] = []
    messages: list[bytes] = []
    envelopes: list[bytes | None] = []
    sources: list[str] = []
    indexes: list[int] = []
    key_accounts: list[str | None] = []
    key_regions: list[str | None] = []
    for obj in objects:
        kept = _plain_records(obj) or _records_one_by_one(obj, rejected)
        rows += kept[0]
        messages += kept[1]
        envelopes += kept[2]
        indexes += kept[3]
        n = len(kept[0])
        sources += [obj.source] * n
        key_accounts += [obj.info.account] * n
        key_regions += [obj.info.region] * n
    message_column, bad_utf8 = _utf8_column(messages)
    if bad_utf8:
        for i in sorted(bad_utf8, reverse=True):
            rejected.append((sources[i], indexes[i], f"record is not valid UTF-8: {bad_utf8[i]}"))
            for column in (rows, messages, envelopes, sources, indexes, key_accounts, key_regions):
                del column[i]
        message_column, _ = _utf8_column(messages)
    frame = _frame(
        rows, messages, message_column, envelopes, sources, indexes, key_accounts, key_regions
    )
    bad_time = frame.filter(pl.col(S.EVENT_TIME).is_null())
    for source, index, raw_time in bad_time.select(
        S.SOURCE, S.SOURCE_INDEX, "_eventTime"
    ).iter_rows():
        reason = (
            "record has no `eventTime`"
            if raw_time is None
            else f"`eventTime` {raw_time!r} is not an ISO-8601 time"
        )
        rejected.append((source, index, reason))
    frames.append(frame.filter(pl.col(S.EVENT_TIME).is_not_null()).drop("_eventTime"))


_Kept = tuple[list[_Record], list[bytes], list[bytes | None], list[int]]


def _plain_records(obj: ObjectRecords) -> _Kept | None:
    """Decode an object whose records all decode strictly and none is an envelope, or None.

    The common case, taken in C-level passes over the object instead of a test per record.
    """
    messages = list(map(itemgetter(1), obj.records))
    try:
        rows = list(map(_RECORD.decode, messages))
    except (msgspec.DecodeError, UnicodeDecodeError):  # ValidationError is a DecodeError
        return None
    n = len(rows)
    # An absent field holds the default object itself, so `count` matches it by identity.
    if (
        list(map(attrgetter("detail"), rows)).count(_NULL) != n
        or list(map(attrgetter("CloudTrailEvent"), rows)).count(_NULL) != n
    ):
        return None
    return (
        rows,
        messages,
        list(map(itemgetter(2), obj.records)),
        list(map(itemgetter(0), obj.records)),
    )


def _records_one_by_one(obj: ObjectRecords, rejected: list[tuple[str, int, str]]) -> _Kept:
    """Decode record by record: coerce wrong types, unwrap envelopes, reject what cannot be."""
    kept: _Kept = ([], [], [], [])
    for index, message, envelope in obj.records:
        record = _decode_record(message)
        if not isinstance(record, str) and (
            record.detail != _NULL or record.CloudTrailEvent != _NULL
        ):
            unwrapped = unwrap(message)
            if isinstance(unwrapped, tuple):
                message, envelope = unwrapped
                record = _decode_record(message)
            elif unwrapped is not None:
                record = unwrapped
        if isinstance(record, str):
            rejected.append((obj.source, index, record))
            continue
        kept[0].append(record)
        kept[1].append(message)
        kept[2].append(envelope)
        kept[3].append(index)
    return kept


def _utf8_column(messages: list[bytes]) -> tuple[pl.Series, dict[int, str]]:
    """The message column, checked as UTF-8 in one pass; on failure, which records are not."""
    try:
        return pl.Series(S.MESSAGE, messages, dtype=pl.Binary).cast(pl.String), {}
    except pl.exceptions.InvalidOperationError:
        pass
    bad: dict[int, str] = {}
    for i, message in enumerate(messages):
        try:
            message.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[i] = str(exc)
    return pl.Series(S.MESSAGE, [], dtype=pl.String), bad


def _strings(name: str, values: list[Any]) -> pl.Series:
    # pl.Series builds string columns about 5x faster than pa.array on these lists.
    return pl.Series(name, values, dtype=pl.String)


def _frame(
    rows: list[_Record],
    messages: list[bytes],
    message_column: pl.Series,
    envelopes: list[bytes | None],
    sources: list[str],
    indexes: list[int],
    key_accounts: list[str | None],
    key_regions: list[str | None],
) -> pl.DataFrame:
    columns: list[pl.Series] = [
        _strings(
            "_eventTime",
            [r.logstashTimestamp if r.eventTime is None else r.eventTime for r in rows],
        )
    ]
    columns += [_strings(name, list(map(attrgetter(name), rows))) for name in S.TOP_LEVEL_STRINGS]
    columns += [_booleans(name, list(map(attrgetter(name), rows))) for name in S.TOP_LEVEL_BOOLS]
    identity = _identity_columns([r.userIdentity for r in rows])
    columns += [_strings(name, values) for name, values in identity.items()]
    parts = {
        name: [None if (v := getattr(r, name)) == _NULL else bytes(v) for r in rows]
        for name in S.JSON_FIELDS
    }
    # slices of a record already checked as UTF-8
    columns += [pl.Series(name, v, dtype=pl.Binary).cast(pl.String) for name, v in parts.items()]
    promoted: dict[str, pl.Series | pl.Expr] = {}
    for part in _PROMOTED:
        promoted.update(_promoted_columns(part, parts[part]))
    columns += [
        _strings(S.SOURCE, sources),
        pl.Series(S.SOURCE_INDEX, indexes, dtype=pl.UInt32),
        pl.Series(S.DEDUP_KEY, [xxhash.xxh3_128_digest(m) for m in messages], dtype=pl.Binary),
        pl.Series(S.ENVELOPE, envelopes, dtype=pl.Binary).cast(pl.String),
        message_column,
        _strings("_key_account", key_accounts),
        _strings("_key_region", key_regions),
    ]
    frame = pl.DataFrame(columns)
    return (
        frame.with_columns(
            *(promoted[name] for name in S.PROMOTED_STRINGS),
            _parse_event_time(frame["_eventTime"]).alias(S.EVENT_TIME),
            pl.coalesce(
                "recipientAccountId", "_key_account", "userIdentity.accountId", pl.lit("unknown")
            ).alias("account"),
            pl.coalesce("awsRegion", "_key_region", pl.lit("unknown")).alias("region"),
            (pl.col("eventType") == INSIGHT_EVENT_TYPE).fill_null(False).alias("is_insight"),
        )
        .with_columns(
            pl.col(S.EVENT_TIME).dt.date().alias("day"),
            _event_time_text(rows, frame["_eventTime"], pl.col(S.EVENT_TIME)),
        )
        .drop("_key_account", "_key_region")
    )


def _event_time_text(rows: list[_Record], text: pl.Series, instant: pl.Expr) -> pl.Expr:
    """The `eventTime` texts that are not CloudTrail's spelling of their instant, else null."""
    usual = text.str.contains(_CLOUDTRAIL_SPELLING).fill_null(True)
    if usual.all():  # nearly every chunk: no other spelling to keep
        return pl.lit(None, pl.String).alias(S.EVENT_TIME_TEXT)
    # A Logstash `@timestamp` standing in for a missing `eventTime` is not a spelling of it.
    own = pl.Series([r.eventTime is not None for r in rows], dtype=pl.Boolean)
    return (
        pl.when(pl.lit(own) & (pl.lit(text) != S.event_time_text(instant)))
        .then(pl.lit(text))
        .alias(S.EVENT_TIME_TEXT)
    )


def _booleans(name: str, values: list[bool | str | None]) -> pl.Series:
    try:  # JSON booleans, as real trails write them
        return pl.Series(name, values, dtype=pl.Boolean, strict=True)
    except TypeError:  # "true" strings too
        return pl.Series(name, [_boolean(v) for v in values], dtype=pl.Boolean)


def _promoted_columns(part: str, texts: list[bytes | None]) -> dict[str, pl.Series | pl.Expr]:
    """The promoted fields of one JSON part (`requestParameters.roleName`) by column name.

    msgspec reads them when every value is a string or null; otherwise (a number, an object,
    a part that is not an object, an escape msgspec refuses) `json_path_match` does, as it
    always did, since it turns such values into their JSON text.
    """
    names, decoder = _PROMOTED[part]
    empty = decoder.type()  # all fields None: stands in for an absent part
    try:
        objs = [empty if t is None else decoder.decode(t) for t in texts]
    except msgspec.DecodeError:  # includes ValidationError
        return {
            f"{part}.{n}": pl.col(part).str.json_path_match(f"$.{n}").alias(f"{part}.{n}")
            for n in names
        }
    return {f"{part}.{n}": _strings(f"{part}.{n}", list(map(attrgetter(n), objs))) for n in names}


def _parse_event_time(text: pl.Series) -> pl.Series:
    """Parse eventTime; the other spellings are tried only when the canonical one missed."""
    parsed = text.str.to_datetime(_ZONED_FORMATS[0], strict=False, time_unit="us", time_zone="UTC")
    if parsed.null_count() == text.null_count():
        return parsed
    zoned = [
        text.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC")
        for f in _ZONED_FORMATS[1:]
    ]
    naive = [
        text.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for f in _NAIVE_FORMATS
    ]
    return pl.select(pl.coalesce(parsed, *zoned, *naive)).to_series()


def _identity_columns(identities: list[_UserIdentity | None]) -> dict[str, list[str | None]]:
    """Flatten userIdentity level by level into the dotted columns of the schema."""
    out: dict[str, list[Any]] = {}
    _flatten("userIdentity", identities, _UserIdentity, out)
    return {name: out[name] for name in S.USER_IDENTITY_STRINGS}


def _flatten(
    prefix: str, objs: list[Any], struct_type: type[msgspec.Struct], out: dict[str, list[Any]]
) -> None:
    # An absent struct reads as an empty one, so each field is one C-level map, no per-row test.
    empty = struct_type()
    present = [empty if o is None else o for o in objs]
    for name, encode_name, hint in _fields(struct_type):
        values = list(map(attrgetter(name), present))
        if hint in _NESTED:
            _flatten(f"{prefix}.{encode_name}", values, _NESTED[hint], out)
        else:
            out[f"{prefix}.{encode_name}"] = values
