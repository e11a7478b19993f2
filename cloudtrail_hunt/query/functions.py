"""The Logs Insights scalar functions (reference/logs-insights.md §8): name, arity, builder.

Names are case-insensitive; the table is keyed by the lower-cased name. Aggregations live in
aggregates.py. Each builder gets the compile context and the call node, and returns a Value.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote

import polars as pl

from cloudtrail_hunt.errors import QueryError, QueryUnsupportedError
from cloudtrail_hunt.query import ir
from cloudtrail_hunt.query.values import (
    TEXT,
    Kind,
    Value,
    as_bool,
    as_num,
    as_str,
    as_time,
    json_path,
)

if TYPE_CHECKING:
    from cloudtrail_hunt.query.resolve import Scope


class Context(Protocol):
    """What a builder may use from the compiler."""

    scope: Scope
    now: float

    def value(self, node: ir.Expr) -> Value: ...

    def check_regex(self, pattern: str, node: ir.Node) -> str: ...

    def warn(self, message: str, node: ir.Node) -> None: ...


Builder = Callable[[Context, ir.Call], Value]


@dataclass(frozen=True, slots=True)
class Function:
    """One function: how many arguments it takes and how to build it."""

    name: str
    min_args: int
    max_args: int | None
    build: Builder


FUNCTIONS: dict[str, Function] = {}
#: Documented functions we do not emulate, and why (they fail clearly rather than guess).
UNSUPPORTED_FUNCTIONS = {
    "parsedate": "Java date patterns are not translated; compare `toMillis(@timestamp)` instead",
    "querystarttime": "the query window is a parameter here; use --start/--end",
    "queryendtime": "the query window is a parameter here; use --start/--end",
    "querytimerange": "the query window is a parameter here; use --start/--end",
}


def function(*names: str, args: int | tuple[int, int | None]) -> Callable[[Builder], Builder]:
    """Register a builder under one or more names (the first is the documented spelling)."""
    low, high = (args, args) if isinstance(args, int) else args

    def register(build: Builder) -> Builder:
        for name in names:
            FUNCTIONS[name.lower()] = Function(names[0], low, high, build)
        return build

    return register


def _str(ctx: Context, node: ir.Call, i: int) -> pl.Expr:
    return as_str(ctx.value(node.args[i]))


def _num(ctx: Context, node: ir.Call, i: int) -> pl.Expr:
    return as_num(ctx.value(node.args[i]))


def _literal(node: ir.Call, i: int, what: type) -> ir.Expr:
    arg = node.args[i]
    if not isinstance(arg, what):
        msg = f"argument {i + 1} of `{node.name}` must be a {what.__name__.lower()} literal"
        raise QueryError(msg, arg.line, arg.column)
    return arg


# --- string functions ------------------------------------------------------------------------


@function("strlen", args=1)
def _strlen(ctx: Context, node: ir.Call) -> Value:
    return Value(_str(ctx, node, 0).str.len_chars(), Kind.NUM)


@function("toupper", args=1)
def _toupper(ctx: Context, node: ir.Call) -> Value:
    return Value(_str(ctx, node, 0).str.to_uppercase(), Kind.STR)


@function("tolower", args=1)
def _tolower(ctx: Context, node: ir.Call) -> Value:
    return Value(_str(ctx, node, 0).str.to_lowercase(), Kind.STR)


def _trimmer(side: str) -> Builder:
    def build(ctx: Context, node: ir.Call) -> Value:
        text = _str(ctx, node, 0)
        # With a second argument only those characters are stripped, no whitespace (§8.1).
        chars = _str(ctx, node, 1) if len(node.args) > 1 else None
        method = {"both": text.str.strip_chars, "start": text.str.strip_chars_start}.get(
            side, text.str.strip_chars_end
        )
        return Value(method(chars), Kind.STR)

    return build


function("trim", args=(1, 2))(_trimmer("both"))
function("ltrim", args=(1, 2))(_trimmer("start"))
function("rtrim", args=(1, 2))(_trimmer("end"))


@function("substr", args=(2, 3))
def _substr(ctx: Context, node: ir.Call) -> Value:
    start = _num(ctx, node, 1).cast(pl.Int64)
    length = _num(ctx, node, 2).cast(pl.Int64) if len(node.args) > 2 else None
    return Value(_str(ctx, node, 0).str.slice(start, length), Kind.STR)


@function("replace", args=3)
def _replace(ctx: Context, node: ir.Call) -> Value:
    text, search, repl = (_str(ctx, node, i) for i in range(3))
    return Value(text.str.replace_all(search, repl, literal=True), Kind.STR)


@function("strcontains", args=(2, 3))
def _strcontains(ctx: Context, node: ir.Call) -> Value:
    text, sub = _str(ctx, node, 0), _str(ctx, node, 1)
    if len(node.args) > 2 and _is_true(node.args[2]):
        text, sub = text.str.to_lowercase(), sub.str.to_lowercase()
    return Value(text.str.contains(sub, literal=True).fill_null(False), Kind.BOOL)


def _is_true(node: ir.Expr) -> bool:
    if isinstance(node, ir.Field):
        return node.name.lower() == "true"
    if isinstance(node, ir.String):
        return node.value.lower() == "true"
    return isinstance(node, ir.Number) and node.value != 0


@function("concat", args=(1, None))
def _concat(ctx: Context, node: ir.Call) -> Value:
    parts = [_str(ctx, node, i) for i in range(len(node.args))]
    # A string function on a missing field gives a missing value (§7).
    return Value(pl.concat_str(parts, ignore_nulls=False), Kind.STR)


@function("isempty", args=1)
def _isempty(ctx: Context, node: ir.Call) -> Value:
    text = _str(ctx, node, 0)
    return Value((text.is_null() | (text == "")).fill_null(True), Kind.BOOL)


@function("isblank", args=1)
def _isblank(ctx: Context, node: ir.Call) -> Value:
    text = _str(ctx, node, 0)
    return Value((text.is_null() | (text.str.strip_chars() == "")).fill_null(True), Kind.BOOL)


@function("regexReplace", args=3)
def _regex_replace(ctx: Context, node: ir.Call) -> Value:
    pattern = ctx.check_regex(_pattern_text(node, 1), node.args[1])
    repl = _literal(node, 2, ir.String)
    assert isinstance(repl, ir.String)
    # RE2 writes group references as \1; Polars (Rust regex) as ${1}.
    replacement = re.sub(r"\\(\d)", r"${\1}", repl.value)
    return Value(_str(ctx, node, 0).str.replace_all(pattern, replacement), Kind.STR)


def _pattern_text(node: ir.Call, i: int) -> str:
    arg = node.args[i]
    if isinstance(arg, ir.Regex | ir.String):
        return arg.pattern if isinstance(arg, ir.Regex) else arg.value
    msg = f"argument {i + 1} of `{node.name}` must be a /regex/ or a string"
    raise QueryError(msg, arg.line, arg.column)


@function("startsWith", args=2)
def _starts_with(ctx: Context, node: ir.Call) -> Value:
    test = _str(ctx, node, 0).str.starts_with(_str(ctx, node, 1))
    return Value(test.fill_null(False), Kind.BOOL)


@function("endsWith", args=2)
def _ends_with(ctx: Context, node: ir.Call) -> Value:
    test = _str(ctx, node, 0).str.ends_with(_str(ctx, node, 1))
    return Value(test.fill_null(False), Kind.BOOL)


# --- numeric functions -----------------------------------------------------------------------


def _unary_number(method: Callable[[pl.Expr], pl.Expr]) -> Builder:
    def build(ctx: Context, node: ir.Call) -> Value:
        return Value(method(_num(ctx, node, 0)), Kind.NUM)

    return build


function("abs", args=1)(_unary_number(pl.Expr.abs))
function("ceil", args=1)(_unary_number(pl.Expr.ceil))
function("floor", args=1)(_unary_number(pl.Expr.floor))
function("sqrt", args=1)(_unary_number(pl.Expr.sqrt))
function("log", args=1)(_unary_number(lambda e: e.log(math.e)))
function("toNumber", "toDouble", args=1)(_unary_number(lambda e: e))
function("toInt", "toLong", args=1)(_unary_number(lambda e: e.cast(pl.Int64, strict=False)))


@function("round", args=(1, 2))
def _round(ctx: Context, node: ir.Call) -> Value:
    digits = 0
    if len(node.args) > 1:
        literal = _literal(node, 1, ir.Number)
        assert isinstance(literal, ir.Number)
        digits = int(literal.value)
    return Value(_num(ctx, node, 0).round(digits), Kind.NUM)


def _extreme(largest: bool) -> Builder:
    def build(ctx: Context, node: ir.Call) -> Value:
        numbers = [_num(ctx, node, i) for i in range(len(node.args))]
        pick = pl.max_horizontal(numbers) if largest else pl.min_horizontal(numbers)
        # A numeric function of a missing field is missing (§7), not the other arguments'.
        return Value(
            pl.when(pl.all_horizontal(n.is_not_null() for n in numbers)).then(pick), Kind.NUM
        )

    return build


function("greatest", args=(1, None))(_extreme(largest=True))
function("least", args=(1, None))(_extreme(largest=False))


@function("isNumeric", args=1)
def _is_numeric(ctx: Context, node: ir.Call) -> Value:
    return Value(_num(ctx, node, 0).is_not_null(), Kind.BOOL)


# --- date and time ---------------------------------------------------------------------------

#: Largest count CloudWatch accepts per unit; more is silently capped (§9.3).
_CAPS = {"ms": 1000, "s": 60, "m": 60, "h": 24}
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def period(ctx: Context, node: ir.Expr, *, cap: bool) -> str:
    """A Polars duration string for a period literal, applying CloudWatch's unit caps for `bin`."""
    if not isinstance(node, ir.Duration):
        msg = "expected a period such as `5m` or `1h`"
        raise QueryError(msg, node.line, node.column)
    amount, unit = node.amount, node.unit
    if cap and unit in _CAPS and amount > _CAPS[unit]:
        ctx.warn(
            f"`{amount:g}{unit}` is capped to `{_CAPS[unit]}{unit}` as CloudWatch does; "
            "use a larger unit",
            node,
        )
        amount = _CAPS[unit]
    if amount <= 0:
        msg = "a period must be positive"
        raise QueryError(msg, node.line, node.column)
    if amount != int(amount):
        if unit not in _UNIT_MS:
            msg = f"a fractional period of unit `{unit}` is not supported"
            raise QueryError(msg, node.line, node.column)
        return f"{round(amount * _UNIT_MS[unit])}ms"
    return f"{int(amount)}{unit}"


@function("bin", args=1)
def _bin(ctx: Context, node: ir.Call) -> Value:
    every = period(ctx, node.args[0], cap=True)
    return Value(as_time(ctx.scope.timestamp(node)).dt.truncate(every), Kind.TIME)


@function("datefloor", args=2)
def _datefloor(ctx: Context, node: ir.Call) -> Value:
    every = period(ctx, node.args[1], cap=False)
    return Value(as_time(ctx.value(node.args[0])).dt.truncate(every), Kind.TIME)


@function("dateceil", args=2)
def _dateceil(ctx: Context, node: ir.Call) -> Value:
    every = period(ctx, node.args[1], cap=False)
    time = as_time(ctx.value(node.args[0]))
    floor = time.dt.truncate(every)
    # An instant already on a boundary stays there (§8.3, an inferred choice).
    ceil = pl.when(floor == time).then(floor).otherwise(floor.dt.offset_by(every))
    return Value(ceil, Kind.TIME)


@function("fromMillis", args=1)
def _from_millis(ctx: Context, node: ir.Call) -> Value:
    return Value(as_time(Value(_num(ctx, node, 0), Kind.NUM)), Kind.TIME)


@function("toMillis", args=1)
def _to_millis(ctx: Context, node: ir.Call) -> Value:
    return Value(as_time(ctx.value(node.args[0])).dt.epoch("ms"), Kind.NUM)


@function("now", args=0)
def _now(ctx: Context, node: ir.Call) -> Value:
    return Value(pl.lit(int(ctx.now)), Kind.NUM)  # epoch seconds, as documented


# --- general ---------------------------------------------------------------------------------


@function("ispresent", args=1)
def _ispresent(ctx: Context, node: ir.Call) -> Value:
    return Value(ctx.value(node.args[0]).expr.is_not_null(), Kind.BOOL)


@function("coalesce", args=(1, None))
def _coalesce(ctx: Context, node: ir.Call) -> Value:
    values = [ctx.value(arg) for arg in node.args]
    kinds = {v.kind for v in values}
    if len(kinds) == 1:
        return Value(pl.coalesce([v.expr for v in values]), values[0].kind)
    return Value(pl.coalesce([as_str(v) for v in values]), Kind.STR)


@function("if", args=3)
def _if(ctx: Context, node: ir.Call) -> Value:
    test = as_bool(ctx.value(node.args[0]))
    then, otherwise = ctx.value(node.args[1]), ctx.value(node.args[2])
    if then.kind == otherwise.kind:
        return Value(pl.when(test).then(then.expr).otherwise(otherwise.expr), then.kind)
    return Value(pl.when(test).then(as_str(then)).otherwise(as_str(otherwise)), Kind.STR)


@function("unmask", args=1)
def _unmask(ctx: Context, node: ir.Call) -> Value:
    # The lake holds CloudTrail as delivered, never masked: unmask is the identity (§5.10).
    return ctx.value(node.args[0])


# --- JSON ------------------------------------------------------------------------------------


@function("jsonParse", args=1)
def _json_parse(ctx: Context, node: ir.Call) -> Value:
    text = _str(ctx, node, 0)
    is_json = text.str.strip_chars_start().str.contains(r"^[\[{]")
    return Value(pl.when(is_json).then(text), Kind.JSON)


@function("jsonStringify", args=1)
def _json_stringify(ctx: Context, node: ir.Call) -> Value:
    return Value(json_text(ctx.value(node.args[0])), Kind.STR)


@function("jsonArraySize", args=1)
def _json_array_size(ctx: Context, node: ir.Call) -> Value:
    text = json_text(ctx.value(node.args[0]))
    size = text.str.json_decode(pl.List(pl.String)).list.len()
    return Value(pl.when(text.str.starts_with("[")).then(size), Kind.NUM)


def json_text(value: Value) -> pl.Expr:
    """The JSON text of a value, maps and lists included (as_str makes those null)."""
    return value.expr if value.kind in TEXT else as_str(value)


def json_member(value: Value, segments: list[str]) -> Value:
    """`value.a.b` or `value[0]` on a `jsonParse` result: the leaf as text."""
    return Value(json_text(value).str.json_path_match(json_path(segments)), Kind.STR)


# --- IP addresses ----------------------------------------------------------------------------


def _ip_test(test: Callable[[str], bool]) -> Callable[[pl.Series], pl.Series]:
    def apply(series: pl.Series) -> pl.Series:
        # IP columns repeat a few thousand values at most: evaluate each once.
        distinct = series.drop_nulls().unique()
        mapping = {text: test(text) for text in distinct.to_list()}
        return series.replace_strict(mapping, default=False, return_dtype=pl.Boolean)

    return apply


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _ip_builder(test: Callable[[str], bool]) -> Builder:
    def build(ctx: Context, node: ir.Call) -> Value:
        mapped = _str(ctx, node, 0).map_batches(_ip_test(test), return_dtype=pl.Boolean)
        return Value(mapped.fill_null(False), Kind.BOOL)

    return build


function("isValidIp", args=1)(_ip_builder(lambda t: _parse_ip(t) is not None))
function("isValidIpV4", args=1)(
    _ip_builder(lambda t: isinstance(_parse_ip(t), ipaddress.IPv4Address))
)
function("isValidIpV6", args=1)(
    _ip_builder(lambda t: isinstance(_parse_ip(t), ipaddress.IPv6Address))
)


def _private(text: str) -> bool:
    ip = _parse_ip(text)
    rfc1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    return isinstance(ip, ipaddress.IPv4Address) and any(
        ip in ipaddress.ip_network(n) for n in rfc1918
    )


function("isPrivateIP", args=1)(_ip_builder(_private))
function("isPublicIP", args=1)(
    _ip_builder(lambda t: (ip := _parse_ip(t)) is not None and ip.is_global)
)


def _subnet(version: int | None) -> Builder:
    def build(ctx: Context, node: ir.Call) -> Value:
        cidr_node = node.args[1]
        if not isinstance(cidr_node, ir.String):
            msg = f"`{node.name}` with a subnet that is not a string literal"
            raise QueryUnsupportedError(msg, cidr_node.line, cidr_node.column)
        try:
            network = ipaddress.ip_network(cidr_node.value.strip(), strict=False)
        except ValueError:
            msg = f"{cidr_node.value!r} is not a CIDR subnet"
            raise QueryError(msg, cidr_node.line, cidr_node.column) from None

        def inside(text: str) -> bool:
            ip = _parse_ip(text)
            right_version = version is None or (ip is not None and ip.version == version)
            return ip is not None and right_version and ip in network

        return _ip_builder(inside)(ctx, node)

    return build


function("isIpInSubnet", args=2)(_subnet(None))
function("isIpv4InSubnet", args=2)(_subnet(4))
function("isIpv6InSubnet", args=2)(_subnet(6))


def _ip_number(text: str) -> int | None:
    ip = _parse_ip(text)
    return int(ip) if isinstance(ip, ipaddress.IPv4Address) else None


@function("ipv4ToNumber", args=1)
def _ipv4_to_number(ctx: Context, node: ir.Call) -> Value:
    return Value(_text_map(_str(ctx, node, 0), _ip_number, pl.Int64), Kind.NUM)


function("isReservedIP", args=1)(
    _ip_builder(lambda t: (ip := _parse_ip(t)) is not None and not ip.is_global)
)


# --- more string functions (newer CloudWatch docs) ---------------------------------------------


def _text_map(
    expr: pl.Expr, fn: Callable[[str], object], dtype: type[pl.DataType] | pl.DataType
) -> pl.Expr:
    """Apply a Python function to each distinct non-null value (for what Polars lacks)."""

    def apply(series: pl.Series) -> pl.Series:
        mapping = {}
        for text in series.drop_nulls().unique().to_list():
            try:
                mapping[text] = fn(text)
            except (ValueError, UnicodeError):
                mapping[text] = None
        return series.replace_strict(mapping, default=None, return_dtype=dtype)

    return expr.map_batches(apply, return_dtype=dtype)


@function("split", args=2)
def _split(ctx: Context, node: ir.Call) -> Value:
    delimiter = _literal(node, 1, ir.String)
    assert isinstance(delimiter, ir.String)
    parts = _text_map(
        _str(ctx, node, 0),
        lambda t: json.dumps(t.split(delimiter.value), separators=(",", ":")),
        pl.String,
    )
    return Value(parts, Kind.JSON)


@function("urlencode", args=1)
def _urlencode(ctx: Context, node: ir.Call) -> Value:
    return Value(_text_map(_str(ctx, node, 0), lambda t: quote(t, safe=""), pl.String), Kind.STR)


@function("urldecode", args=1)
def _urldecode(ctx: Context, node: ir.Call) -> Value:
    return Value(_text_map(_str(ctx, node, 0), unquote, pl.String), Kind.STR)


@function("base64encode", args=1)
def _base64encode(ctx: Context, node: ir.Call) -> Value:
    return Value(_str(ctx, node, 0).str.encode("base64"), Kind.STR)


@function("base64decode", args=1)
def _base64decode(ctx: Context, node: ir.Call) -> Value:
    decode = lambda t: base64.b64decode(t, validate=True).decode("utf-8")  # noqa: E731
    return Value(_text_map(_str(ctx, node, 0), decode, pl.String), Kind.STR)


@function("hexToAscii", args=1)
def _hex_to_ascii(ctx: Context, node: ir.Call) -> Value:
    decode = lambda t: bytes.fromhex(t.removeprefix("0x")).decode("ascii")  # noqa: E731
    return Value(_text_map(_str(ctx, node, 0), decode, pl.String), Kind.STR)


@function("hexToDec", args=1)
def _hex_to_dec(ctx: Context, node: ir.Call) -> Value:
    return Value(_text_map(_str(ctx, node, 0), lambda t: int(t, 16), pl.Int64), Kind.NUM)


@function("decToHex", args=1)
def _dec_to_hex(ctx: Context, node: ir.Call) -> Value:
    number = _num(ctx, node, 0).cast(pl.Int64, strict=False).cast(pl.String)
    return Value(_text_map(number, lambda t: format(int(t), "x"), pl.String), Kind.STR)


@function("messageSize", args=1)
def _message_size(ctx: Context, node: ir.Call) -> Value:
    return Value(_str(ctx, node, 0).str.len_bytes(), Kind.NUM)


@function("case", args=(2, 21))
def _case(ctx: Context, node: ir.Call) -> Value:
    # case(cond1, value1, …, [default]); at most 10 branches (§8.4).
    pairs = [(node.args[i], node.args[i + 1]) for i in range(0, len(node.args) - 1, 2)]
    default = ctx.value(node.args[-1]) if len(node.args) % 2 else None
    if len(pairs) > 10:
        msg = "`case` takes at most 10 branches"
        raise QueryError(msg, node.line, node.column)
    values = [ctx.value(v) for _, v in pairs] + ([default] if default is not None else [])
    same = len({v.kind for v in values}) == 1
    pick = (lambda v: v.expr) if same else as_str
    chain: Any = pl.when(as_bool(ctx.value(pairs[0][0]))).then(pick(values[0]))
    for (cond, _), value in zip(pairs[1:], values[1 : len(pairs)], strict=True):
        chain = chain.when(as_bool(ctx.value(cond))).then(pick(value))
    result = chain.otherwise(pick(default) if default is not None else None)
    return Value(result, values[0].kind if same else Kind.STR)


@function("jsonArrayContains", args=2)
def _json_array_contains(ctx: Context, node: ir.Call) -> Value:
    wanted = node.args[1]
    if not isinstance(wanted, ir.String | ir.Number):
        msg = "argument 2 of `jsonArrayContains` must be a string or number literal"
        raise QueryError(msg, wanted.line, wanted.column)
    target = wanted.value

    def contains(text: str) -> bool:
        parsed = json.loads(text)
        return isinstance(parsed, list) and target in parsed  # case-sensitive, exact

    found = _text_map(json_text(ctx.value(node.args[0])), contains, pl.Boolean)
    return Value(found.fill_null(False), Kind.BOOL)


@function("formatDate", "strftime", args=(2, 3))
def _format_date(ctx: Context, node: ir.Call) -> Value:
    pattern = _literal(node, 1, ir.String)
    assert isinstance(pattern, ir.String)
    time = as_time(ctx.value(node.args[0]))
    if len(node.args) > 2:  # an IANA time zone, e.g. "Europe/Paris"
        zone = _literal(node, 2, ir.String)
        assert isinstance(zone, ir.String)
        if zone.value not in _zones():
            msg = f"unknown time zone {zone.value!r}"
            raise QueryError(msg, zone.line, zone.column)
        time = time.dt.convert_time_zone(zone.value)
    return Value(time.dt.strftime(pattern.value), Kind.STR)


def _zones() -> set[str]:
    import zoneinfo

    return zoneinfo.available_timezones() | {"UTC"}


@function("haversine", args=4)
def _haversine(ctx: Context, node: ir.Call) -> Value:
    lat1, lon1, lat2, lon2 = (_num(ctx, node, i).radians() for i in range(4))
    a = ((lat2 - lat1) / 2).sin().pow(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2).sin().pow(
        2
    )
    return Value(2 * 6371.0 * a.sqrt().arcsin(), Kind.NUM)  # kilometres
