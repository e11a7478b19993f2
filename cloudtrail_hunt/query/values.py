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
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


def as_str(value: Value) -> pl.Expr:
    """The text of a value: numbers without decoration, booleans 1/0, instants ISO-8601.

    A map or list from `jsonParse` has no text: string functions and comparisons treat it as
    missing (§7).
    """
    match value.kind:
        case Kind.STR:
            return value.expr
        case Kind.JSON:
            structured = value.expr.str.strip_chars_start().str.contains(r"^[\[{]")
            return pl.when(~structured.fill_null(False)).then(value.expr)
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
            # Only decimal numbers: Float64 parsing also accepts `inf`, `nan` and `Infinity`,
            # which are words in a log, not numbers.
            text = value.expr.str.strip_chars()
            numeric = text.str.contains(_NUMBER)
            return pl.when(numeric).then(text.cast(pl.Float64, strict=False))
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
    # Digit runs compare by length first, then value (§5.5): prefix each run with its length,
    # so `a1` < `a2` < `a01` and `app9` < `app10`.
    if text is None:
        return None
    # Runs are separated by NUL, which sorts before every character, so a run that is a prefix
    # of the other sorts first (`x5` before `x!`: "x" < "x!").
    runs = re.findall(r"\d+|\D+", text)
    return "\x00".join(f"{len(r):04d}{r}" if r[0].isdigit() else r for r in runs)


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
        is_elementwise=True,  # so group_by and sort_by can apply it to the whole column
    )
    # Numbers compare by value alone: `5` and `+5` tie, and the next sort key decides.
    natural = pl.when(number.is_null()).then(natural)
    return (
        [missing, number.is_not_null(), number, natural],
        [False, descending, descending, descending],
    )
