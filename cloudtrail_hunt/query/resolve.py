"""Field resolution: a Logs Insights field name → a column, a JSON-path extraction, a system field.

Order (reference/logs-insights.md §3, §4, §12): fields the query computed (aliases, `parse`,
`stats` outputs); paths into a `jsonParse` value; system fields; columns of the source frame
(typed CloudTrail columns, promoted JSON leaves); JSON paths into the JSON text columns; any
other path into the record text (`message`), so unknown top-level keys stay queryable.
A name that is none of these but is one typo away from a known field is an error with a
suggestion, because CloudWatch would silently return an empty column for it.
"""

from __future__ import annotations

import difflib

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.errors import QueryFieldError
from cloudtrail_hunt.query import ir
from cloudtrail_hunt.query.values import Kind, Value, json_path

SYSTEM_FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")
#: Top-level CloudTrail fields (record contents reference) that are not typed lake columns.
_OTHER_TOP_LEVEL = (
    "userIdentity", "addendum", "edgeDeviceDetails", "annotation", "eventTime",
)  # fmt: skip
KNOWN_FIELDS: tuple[str, ...] = (
    schema.TOP_LEVEL_STRINGS
    + schema.TOP_LEVEL_BOOLS
    + schema.JSON_FIELDS
    + schema.USER_IDENTITY_STRINGS
    + schema.PROMOTED_STRINGS
    + _OTHER_TOP_LEVEL
)
_ORG = r"/AWSLogs/(o-[a-z0-9]+)/"


class Scope:
    """The fields visible at one point of a query, and how to read each of them."""

    def __init__(self, columns: pl.Schema) -> None:
        self.columns = columns
        self.computed: dict[str, Kind] = {}
        self.after_stats = False

    def define(self, name: str, kind: Kind) -> None:
        """Record a field the query has materialised as a column of the frame."""
        self.computed[name] = kind

    def reset(self, fields: dict[str, Kind]) -> None:
        """After `stats`, only its outputs exist (§5.4)."""
        self.computed = dict(fields)
        self.after_stats = True

    def resolve(self, node: ir.Field) -> Value:
        """The value of a field name at this point of the query."""
        name = node.name
        if name in self.computed:
            return Value(pl.col(name), self.computed[name])
        json_value = self._json_member(name)
        if json_value is not None:
            return json_value
        if self.after_stats:
            msg = "field not produced by `stats`"
            raise QueryFieldError(
                name, node.line, node.column, _closest(name, self.computed), reason=msg
            )
        if name.startswith("@"):
            return self._system(node)
        if name in self.columns:
            return self._column(name)
        return self._json(node)

    def timestamp(self, node: ir.Node) -> Value:
        """`@timestamp`, which `bin`, `earliest`, `latest` and `dedup` read implicitly."""
        return self.resolve(ir.Field("@timestamp", line=node.line, column=node.column))

    def _json_member(self, name: str) -> Value | None:
        segments = name.split(".")
        for cut in range(len(segments) - 1, 0, -1):
            prefix = ".".join(segments[:cut])
            if self.computed.get(prefix) is Kind.JSON:
                path = json_path(segments[cut:])
                return Value(pl.col(prefix).str.json_path_match(path), Kind.STR)
        return None

    def _column(self, name: str) -> Value:
        dtype = self.columns[name]
        column = pl.col(name)
        if dtype == pl.Boolean:
            return Value(column.replace_strict({True: "true", False: "false"}), Kind.STR)
        if isinstance(dtype, pl.Datetime):
            text = schema.event_time_text(column)
            if name == schema.EVENT_TIME and schema.EVENT_TIME_TEXT in self.columns:
                text = pl.coalesce(schema.EVENT_TIME_TEXT, text)  # the record's own spelling
            return Value(text, Kind.STR)
        if dtype.is_numeric():
            return Value(column, Kind.NUM)
        return Value(column.cast(pl.String), Kind.STR)

    def _system(self, node: ir.Field) -> Value:
        name = node.name
        if name in self.columns:  # a frame that carries system fields itself (Lambda logs)
            dtype = self.columns[name]
            kind = Kind.TIME if isinstance(dtype, pl.Datetime) else Kind.STR
            return Value(pl.col(name), kind)
        if name == "@timestamp" and schema.EVENT_TIME in self.columns:
            return Value(pl.col(schema.EVENT_TIME), Kind.TIME)
        if name == "@message" and schema.MESSAGE in self.columns:
            return Value(pl.col(schema.MESSAGE), Kind.STR)
        if name in {"@logStream", "@log"} and schema.SOURCE in self.columns:
            return Value(self._log_name(name), Kind.STR)
        if name in SYSTEM_FIELDS:
            return Value(pl.lit(None, pl.String), Kind.STR)
        close = _closest(name, SYSTEM_FIELDS)
        raise QueryFieldError(name, node.line, node.column, close, reason="unknown system field")

    def _log_name(self, name: str) -> pl.Expr:
        # An S3-delivered trail has no log stream; derive the names CloudTrail gives its
        # CloudWatch delivery: `[<o-org>_]<account>_CloudTrail_<region>` and
        # `<account>:aws-cloudtrail-logs-<o-org or account>` (README "Logs Insights").
        account = self._first_of("account", "recipientAccountId")
        region = self._first_of("region", "awsRegion")
        org = pl.col(schema.SOURCE).str.extract(_ORG, 1)
        if name == "@logStream":
            prefix = pl.when(org.is_not_null()).then(org + "_").otherwise(pl.lit(""))
            return pl.concat_str([prefix, account, pl.lit("_CloudTrail_"), region])
        return pl.concat_str([account, pl.lit(":aws-cloudtrail-logs-"), pl.coalesce(org, account)])

    def _first_of(self, *names: str) -> pl.Expr:
        for name in names:
            if name in self.columns:
                return pl.col(name).cast(pl.String)
        return pl.lit("", pl.String)

    def _json(self, node: ir.Field) -> Value:
        name = node.name
        segments = name.split(".")
        for cut in range(len(segments) - 1, 0, -1):
            prefix = ".".join(segments[:cut])
            if prefix in self.columns and prefix in schema.JSON_FIELDS:
                extract = pl.col(prefix).str.json_path_match(json_path(segments[cut:]))
                return Value(extract, Kind.STR)
        close = _closest(name, KNOWN_FIELDS, cutoff=0.85)
        if close is not None and close != name:
            raise QueryFieldError(name, node.line, node.column, close)
        if schema.MESSAGE not in self.columns:
            return Value(pl.lit(None, pl.String), Kind.STR)
        return Value(pl.col(schema.MESSAGE).str.json_path_match(json_path(segments)), Kind.STR)


def _closest(name: str, candidates: object, cutoff: float = 0.6) -> str | None:
    names = [str(c) for c in candidates]  # type: ignore[attr-defined]
    exact_case = [c for c in names if c.lower() == name.lower()]
    if exact_case:
        return exact_case[0]
    close = difflib.get_close_matches(name, names, n=1, cutoff=cutoff)
    return close[0] if close else None
