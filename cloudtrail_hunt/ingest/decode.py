"""Decode one log object into raw CloudTrail records, reporting every unreadable part by index.

Second stage of ingest (list → **decode** → normalize → lake). It knows the file shapes of
`../shared/corpus/MANIFEST.md`: `{"Records": [...]}` (plain or gzipped, the S3 delivery shape),
bare JSON arrays, NDJSON, `LookupEvents` output (`CloudTrailEvent` holds the record as a string),
EventBridge envelopes (`detail` holds the record) and digest files (kept aside, never events).
It parses nothing it does not need: a record leaves as the compact JSON text of its value, and
the normaliser decodes the typed fields from that text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import msgspec
from isal import isal_zlib  # ISA-L inflate: a drop-in zlib, faster on the hot path of ingest

#: Keys that make a top-level object a digest file, not an event
#: (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html).
_DIGEST_KEYS = frozenset({"digestStartTime", "digestEndTime", "digestS3Object"})
_GZIP_MAGIC = b"\x1f\x8b"
_RECORDS_OPEN = re.compile(r'^\s*\{\s*"Records"\s*:\s*\[')


class _S3Object(msgspec.Struct):
    Records: list[msgspec.Raw]


_S3_OBJECT = msgspec.json.Decoder(_S3Object)
_ANY_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw] | list[msgspec.Raw])
_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_STRING = msgspec.json.Decoder(str)


@dataclass(slots=True)
class DecodedObject:
    """What one object held: records (index, compact JSON, envelope), bad parts, digest."""

    records: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)
    errors: list[tuple[int | None, str]] = field(default_factory=list)
    digest: bytes | None = None

    @property
    def unreadable(self) -> bool:
        """True when nothing at all could be read from the object (an object-level error)."""
        return not self.records and self.digest is None and any(i is None for i, _ in self.errors)


def compact(raw: bytes) -> bytes:
    """Return `raw` JSON with insignificant whitespace removed (strings are left untouched)."""
    return msgspec.json.format(raw, indent=-1)


def gunzip(data: bytes) -> tuple[bytes, str | None]:
    """Inflate every gzip member of `data`; a damaged stream keeps what inflated before it."""
    out: list[bytes] = []
    rest = data
    while rest[:2] == _GZIP_MAGIC:
        inflater = isal_zlib.decompressobj(wbits=31)
        try:
            out.append(inflater.decompress(rest))
            out.append(inflater.flush())
        except isal_zlib.error as exc:  # type: ignore[misc]  # the stub types it loosely
            return b"".join(out), f"damaged gzip stream: {exc}"
        if not inflater.eof:
            return b"".join(out), "truncated gzip stream"
        rest = inflater.unused_data.lstrip(b"\x00")
    return b"".join(out), None


def decode_object(data: bytes) -> DecodedObject:
    """Split one object's bytes into records; never raises for bad content.

    Parameters
    ----------
    data
        The object's bytes as stored (gzipped or not).

    Returns
    -------
    DecodedObject
        Records as ``(index, compact_json, envelope_json_or_None)``; errors as ``(index, reason)``
        where index is None for a problem with the object as a whole.
    """
    out = DecodedObject()
    if data[:2] == _GZIP_MAGIC:
        data, damage = gunzip(data)
        if damage:
            out.errors.append((None, damage))
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        if not out.errors:
            out.errors.append((None, "empty object"))
        return out
    try:  # The S3 delivery shape, by far the most common: two C-level passes.
        # Compacting the whole object once leaves every record slice compact already, which
        # saves a format call per record; the slices are the bytes `compact` would return.
        records = _S3_OBJECT.decode(compact(data)).Records
    except (msgspec.DecodeError, msgspec.ValidationError):
        _decode_general(data, out)
    else:
        for index, raw in enumerate(records):
            record = bytes(raw)
            if record[:1] == b"{":
                out.records.append((index, record, None))
            else:
                out.errors.append((index, "record is not a JSON object"))
    if out.errors and out.errors[0][0] is None and (out.records or out.digest):
        # Salvaged records after a damaged gzip stream: the damage is a record-level loss.
        out.errors[0] = (_next_index(out), out.errors[0][1])
    return out


def _next_index(out: DecodedObject) -> int:
    indexes = [i for i, _, _ in out.records] + [i for i, _ in out.errors if i is not None]
    return max(indexes, default=-1) + 1


class _Counter:
    """Hands out record indexes in file order; bad units take an index too."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def take(self) -> int:
        index = self.value
        self.value += 1
        return index


def _decode_general(data: bytes, out: DecodedObject) -> None:
    counter = _Counter()
    try:
        top = _ANY_TOP.decode(data)
    except msgspec.ValidationError:  # a subclass of DecodeError: valid JSON, wrong shape
        out.errors.append((None, "top-level JSON value is neither an object nor an array"))
        return
    except msgspec.DecodeError as exc:
        if _looks_like_ndjson(data):
            _decode_ndjson(data, counter, out)
        elif _RECORDS_OPEN.match(data[:200].decode("utf-8", "replace")):
            _salvage_records(data, counter, out)
        else:
            out.errors.append((None, f"not JSON: {exc}"))
        return
    if isinstance(top, list):
        for raw in top:
            _add_unit(bytes(raw), counter, out)
    else:
        _add_top_object(top, data, counter, out)


def _looks_like_ndjson(data: bytes) -> bool:
    first_line = data.lstrip().split(b"\n", 1)[0].strip()
    try:
        _OBJECT.decode(first_line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    return True


def _decode_ndjson(data: bytes, counter: _Counter, out: DecodedObject) -> None:
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            top = _OBJECT.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            out.errors.append((counter.take(), f"line is not a JSON object: {exc}"))
            continue
        _add_top_object(top, line, counter, out)


def _add_top_object(
    top: dict[str, msgspec.Raw], raw: bytes, counter: _Counter, out: DecodedObject
) -> None:
    if "Records" in top:
        try:
            records = msgspec.json.decode(top["Records"], type=list[msgspec.Raw])
        except (msgspec.DecodeError, msgspec.ValidationError):
            out.errors.append((counter.take(), "`Records` is not a JSON array"))
            return
        for record in records:
            _add_unit(bytes(record), counter, out)
    elif top.keys() >= _DIGEST_KEYS:
        out.digest = compact(raw)
    else:
        _add_unit(raw, counter, out)


def _add_unit(raw: bytes | msgspec.Raw, counter: _Counter, out: DecodedObject) -> None:
    """Add one record unit, unwrapping the EventBridge and LookupEvents envelopes."""
    index = counter.take()
    try:
        record = compact(raw)
    except msgspec.DecodeError as exc:
        out.errors.append((index, f"record is not valid JSON: {exc}"))
        return
    if record[:1] != b"{":
        out.errors.append((index, "record is not a JSON object"))
        return
    # Envelopes (EventBridge, LookupEvents) are unwrapped by the normaliser, which sees their
    # keys while decoding the typed fields anyway; peeking here would scan every record twice.
    out.records.append((index, record, None))


def unwrap(record: bytes) -> tuple[bytes, bytes] | str | None:
    """Return (record, envelope) for an envelope, an error text for a broken one, else None."""
    obj = _OBJECT.decode(record)
    if "detail" in obj and "detail-type" in obj:  # EventBridge / CloudWatch Events
        inner = bytes(obj.pop("detail"))
        if inner.lstrip()[:1] != b"{":
            return "EventBridge `detail` is not a JSON object"
    elif "CloudTrailEvent" in obj:  # CloudTrail LookupEvents output
        try:
            text = _STRING.decode(obj.pop("CloudTrailEvent"))
            inner = compact(text.encode())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return f"`CloudTrailEvent` is not a JSON record string: {exc}"
        if inner.lstrip()[:1] != b"{":
            return "`CloudTrailEvent` is not a JSON object"
    else:
        return None
    return compact(inner), msgspec.json.encode(obj)


def _salvage_records(data: bytes, counter: _Counter, out: DecodedObject) -> None:
    """Keep the whole records of a truncated or damaged `{"Records": [...]}` object."""
    text = data.decode("utf-8", "surrogateescape")
    match = _RECORDS_OPEN.match(text)
    assert match is not None
    decoder = json.JSONDecoder()
    pos = match.end()
    while True:
        pos = _skip_ws(text, pos)
        if text.startswith("]", pos):
            return
        try:
            _, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            at = len(text[: exc.pos].encode("utf-8", "surrogateescape"))
            reason = f"invalid or truncated JSON at byte {at}: {exc.msg}"
            out.errors.append((counter.take(), reason + "; the rest of the object is unreadable"))
            return
        _add_unit(text[pos:end].encode("utf-8", "surrogateescape"), counter, out)
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos += 1


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
