"""The value model of compiled queries: a Polars expression plus the kind of value it holds.

Logs Insights values are strings with a numeric reading where they look like numbers (§12 of
reference/logs-insights.md). Fields stay strings (kind STR); literals, arithmetic and
aggregations are numbers (NUM); predicates are two-valued booleans (BOOL, displayed 1/0);
`@timestamp`, `bin()` and date functions are instants (TIME); `jsonParse` yields JSON text (JSON)
that dotted access walks into.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import polars as pl


class Kind(enum.Enum):
    """What a compiled expression holds."""

    STR = "string"
    NUM = "number"
    BOOL = "boolean"
    TIME = "timestamp"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Value:
    """A compiled expression and its kind."""

    expr: pl.Expr
    kind: Kind


TEXT = frozenset({Kind.STR, Kind.JSON})
#: How CloudTrail spells `eventTime`; `eventTime` is stored as a datetime and shown this way.
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def as_str(value: Value) -> pl.Expr:
    """The text of a value: numbers without decoration, booleans 1/0, instants ISO-8601."""
    match value.kind:
        case Kind.STR | Kind.JSON:
            return value.expr
        case Kind.NUM:
            # 3.0 prints as "3", as Logs Insights shows whole numbers.
            whole = value.expr.cast(pl.Float64).round(0) == value.expr.cast(pl.Float64)
            return (
                pl.when(whole & value.expr.is_finite())
                .then(value.expr.cast(pl.Int64, strict=False).cast(pl.String))
                .otherwise(value.expr.cast(pl.String))
            )
        case Kind.BOOL:
            return value.expr.cast(pl.Int8).cast(pl.String)
        case Kind.TIME:
            return value.expr.dt.strftime("%Y-%m-%d %H:%M:%S%.3f")


def as_num(value: Value) -> pl.Expr:
    """The numeric reading of a value (null where the text is not a number)."""
    match value.kind:
        case Kind.STR | Kind.JSON:
            return value.expr.str.strip_chars().cast(pl.Float64, strict=False)
        case Kind.NUM:
            return value.expr
        case Kind.BOOL:
            return value.expr.cast(pl.Int64)
        case Kind.TIME:
            return value.expr.dt.epoch("ms")


def as_bool(value: Value) -> pl.Expr:
    """A two-valued condition: missing is false (§7), numbers are true when non-zero."""
    match value.kind:
        case Kind.BOOL:
            return value.expr
        case Kind.NUM:
            return (value.expr != 0).fill_null(False)
        case Kind.TIME:
            return value.expr.is_not_null()
        case Kind.STR | Kind.JSON:
            return (value.expr.is_not_null() & (value.expr != "")).fill_null(False)


def as_time(value: Value) -> pl.Expr:
    """An instant: epoch milliseconds for numbers, ISO-8601 parsing for text."""
    match value.kind:
        case Kind.TIME:
            return value.expr
        case Kind.NUM | Kind.BOOL:
            return pl.from_epoch(value.expr.cast(pl.Int64), time_unit="ms").dt.replace_time_zone(
                "UTC"
            )
        case Kind.STR | Kind.JSON:
            return value.expr.str.to_datetime(
                time_unit="us", time_zone="UTC", strict=False, ambiguous="null"
            )


def output(value: Value) -> pl.Expr:
    """The expression as it appears in a result table (booleans 1/0, instants in ms)."""
    match value.kind:
        case Kind.BOOL:
            return value.expr.cast(pl.Int8)
        case Kind.TIME:
            return value.expr.dt.cast_time_unit("ms")
        case _:
            return value.expr


def json_path(segments: list[str]) -> str:
    """A JSONPath for flattened-name segments: `resources.0.ARN` → `$[0].ARN`-style steps."""
    path = "$"
    for segment in segments:
        if segment.isdigit():
            path += f"[{int(segment)}]"
        elif _IDENTIFIER.fullmatch(segment):
            path += f".{segment}"
        else:
            path += "['" + segment.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return path


def _natural_text(text: str | None) -> str | None:
    # Digit runs compare by length, then value (§5.5): left-pad them to one width.
    if text is None:
        return None
    return re.sub(r"\d+", lambda m: m[0].rjust(40, "0"), text)


def sort_keys(value: Value, descending: bool) -> tuple[list[pl.Expr], list[bool]]:
    """Keys and directions that order `value` the way Logs Insights sorts (§5.5).

    Non-numeric text sorts before numbers, numbers by value, text by code point with digit
    runs compared as numbers; missing values go last in both directions.
    """
    missing = value.expr.is_null()
    if value.kind not in TEXT:
        return [missing, value.expr], [False, descending]
    number = as_num(value)
    natural = value.expr.map_batches(
        lambda s: pl.Series([_natural_text(x) for x in s.to_list()], dtype=pl.String),
        return_dtype=pl.String,
    )
    return (
        [missing, number.is_not_null(), number, natural],
        [False, descending, descending, descending],
    )
