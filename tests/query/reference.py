"""A row-by-row reference evaluator of the query IR, in plain Python (no Polars).

It reads the original CloudTrail record dicts, not the lake, and follows
reference/logs-insights.md directly, so the compiler can be tested against it (STYLE.md §9):

- fields are the flattened JSON leaves (§3): dotted paths, numeric segments index arrays, JSON
  null or a missing key is missing (None); JSON booleans read as "true"/"false", JSON numbers as
  their JSON text; `eventTime` keeps its original spelling; `@timestamp` is `eventTime` as an
  instant; `@message` is the record as compact JSON (§14), non-ASCII kept as UTF-8 like the
  raw delivered text (§14's `json.dumps` default would escape it);
- values are strings with a numeric reading (§12); literals, arithmetic and aggregations are
  numbers; predicates are Python booleans (displayed 1/0, §10.4);
- comparisons per §6.1 and §7: a missing operand makes `=`, `<`…, `like`, `in` false and `!=`,
  `not like`, `not in` true; a number on either side compares numerically; two texts compare
  with `=` as strings and with `<`… as numbers when both read as numbers, else by code point;
- commands: filter, fields, display, stats (count, count_distinct, sum, avg, min, max; a second
  `stats` over the first), sort (natural order §5.5, missing last in both directions, default
  `desc`), limit, dedup (§5.8); after `stats` an output column may be named by its text
  (`sort bin(1h)`, §5.4);
- functions: the string, numeric and presence functions in FUNCTIONS, `bin`/`datefloor` for
  ms…d periods with `bin`'s unit caps (§9.3), `toMillis`, `fromMillis`;
- regexes run on Python `re` (`(?<n>…)` → `(?P<n>…)`); Python's `$` also matches before a final
  newline, so generated values carry no newlines.

Undocumented choices, listed so a reader can challenge them: the sum of no values is 0 and their
average is missing (as the compiler does); `x / 0` is missing here while the compiler yields
±inf/NaN, so the generator divides by non-zero constants only; `%` is not covered.

Kept small on purpose. Anything it does not cover raises NotImplementedError; the query
generator avoids those constructs. Where the document leaves a choice open, the choice is the
one the document recommends and is marked here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import Any

from cloudtrail_hunt.query import ir

#: A value during evaluation: missing, text, number, boolean or instant.
Val = None | str | int | float | bool | datetime

#: A numeric reading: ASCII digits with an optional sign, fraction and exponent (§5.5 "consists
#: only of digits/number characters"); no `inf`, `NaN`, `0x1F`, `1_000` or non-ASCII digits.
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


# ---------------------------------------------------------------------------------------------
# Value model
# ---------------------------------------------------------------------------------------------


def number(value: Val) -> float | None:
    """The numeric reading of a value: digits with an optional sign, fraction and exponent."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime):
            return value.timestamp() * 1000
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()  # surrounding whitespace is undocumented; tolerated like the compiler
    return float(text) if _NUMBER.fullmatch(text) else None


def text(value: Val) -> str | None:
    """The display text of a value: whole numbers without a fraction, booleans 1/0."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def truth(value: Val) -> bool:
    """A value used as a condition: missing is false (§7)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    msg = f"a {type(value).__name__} used as a condition"
    raise NotImplementedError(msg)


# ---------------------------------------------------------------------------------------------
# Field lookup on the original JSON
# ---------------------------------------------------------------------------------------------


def lookup(record: Mapping[str, Any], name: str) -> Val:
    """A field of a CloudTrail record by its Logs Insights name (§3, §4)."""
    if name == "@timestamp":
        return datetime.fromisoformat(record["eventTime"]).astimezone(UTC)
    if name == "@message":
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    if name.startswith("@"):
        raise NotImplementedError(name)
    node: Any = record
    for segment in name.split("."):
        if isinstance(node, dict):
            node = node.get(segment)
        elif isinstance(node, list) and segment.isdigit():
            index = int(segment)
            node = node[index] if index < len(node) else None
        else:
            return None
        if node is None:
            return None
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, str):
        return node
    if isinstance(node, int | float):
        return json.dumps(node)
    msg = f"{name} is not a leaf"  # objects and arrays (§15.11)
    raise NotImplementedError(msg)


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One record in flight: the original record (None after `stats`) and computed fields."""

    record: Mapping[str, Any] | None
    env: dict[str, Val]

    def get(self, name: str) -> Val:
        if name in self.env:
            return self.env[name]
        if self.record is None:
            msg = f"{name} after stats"
            raise NotImplementedError(msg)
        return lookup(self.record, name)


def _compare(op: str, a: Val, b: Val) -> bool:
    """A positive comparison (§6.1); False when either side is missing (§7)."""
    if a is None or b is None:
        return False
    if isinstance(a, datetime) and isinstance(b, datetime):
        return {"=": a == b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if isinstance(a, datetime) != isinstance(b, datetime) and (
        isinstance(a, str) or isinstance(b, str)
    ):
        msg = "an instant compared with a text"
        raise NotImplementedError(msg)
    left: Any
    right: Any
    if not (isinstance(a, str) and isinstance(b, str)):
        left, right = number(a), number(b)
        if left is None or right is None:
            return False
    elif op == "=":
        left, right = a, b
    else:
        left, right = number(a), number(b)
        if left is None or right is None:
            left, right = a, b
    return {
        "=": left == right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def _arith(op: str, a: Val, b: Val) -> float | None:
    x, y = number(a), number(b)
    if x is None or y is None:
        return None
    match op:
        case "+":
            return x + y
        case "-":
            return x - y
        case "*":
            return x * y
        case "/":
            return x / y if y else None
        case _:
            raise NotImplementedError(op)


def python_regex(pattern: str) -> re.Pattern[str]:
    """A Logs Insights regex in Python `re` spelling (named groups are `(?P<n>…)`)."""
    return re.compile(
        pattern.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    )


def evaluate(expr: ir.Expr, row: Row) -> Val:
    """The value of an expression on one row."""
    match expr:
        case ir.Field(name=name):
            return row.get(name)
        case ir.String(value=value):
            return value
        case ir.Number(value=value):
            return value
        case ir.Not(operand=operand):
            return not truth(evaluate(operand, row))
        case ir.Negate(operand=operand):
            value = number(evaluate(operand, row))
            return None if value is None else -value
        case ir.Binary(op=op, left=left, right=right):
            op = op.lower()
            if op == "and":
                return truth(evaluate(left, row)) and truth(evaluate(right, row))
            if op == "or":
                return truth(evaluate(left, row)) or truth(evaluate(right, row))
            a, b = evaluate(left, row), evaluate(right, row)
            if op == "!=":
                return not _compare("=", a, b)
            if op in ir.COMPARISONS:
                return _compare(op, a, b)
            return _arith(op, a, b)
        case ir.Like(operand=operand, pattern=pattern, negated=negated):
            value = text(evaluate(operand, row))
            if value is None:
                found = False
            elif isinstance(pattern, ir.Regex):
                found = python_regex(pattern.pattern).search(value) is not None
            else:
                found = pattern.value in value
            return found != negated
        case ir.In(operand=operand, items=items, negated=negated):
            value = evaluate(operand, row)
            found = value is not None and any(
                text(value) == item.value
                if isinstance(item, ir.String)
                else _compare("=", number(value), item.value)
                for item in items.items
            )
            return found != negated
        case ir.Call(name="bin", args=(ir.Duration() as period,)):
            return _floor(row.get("@timestamp"), period, cap=True)
        case ir.Call(name="datefloor", args=(operand, ir.Duration() as period)):
            return _floor(evaluate(operand, row), period, cap=False)
        case ir.Call(name=name, args=args):
            if name not in FUNCTIONS:
                msg = f"function {name}"
                raise NotImplementedError(msg)
            return FUNCTIONS[name](*(evaluate(a, row) for a in args))
    raise NotImplementedError(type(expr).__name__)


#: Milliseconds per period unit, and the largest count `bin` honours per unit (§9.3).
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_CAPS = {"ms": 1000, "s": 60, "m": 60, "h": 24}


def _floor(value: Val, period: ir.Duration, *, cap: bool) -> datetime | None:
    """The start of the epoch-aligned UTC bucket holding `value` (§8.3, §9)."""
    if value is None:
        return None
    if not isinstance(value, datetime) or period.unit not in _UNIT_MS:
        msg = "floor of a non-instant or by a calendar unit"
        raise NotImplementedError(msg)
    amount = (
        min(period.amount, _CAPS[period.unit]) if cap and period.unit in _CAPS else period.amount
    )
    width = int(amount * _UNIT_MS[period.unit])
    millis = int(value.timestamp() * 1000)
    return datetime.fromtimestamp((millis - millis % width) / 1000, tz=UTC)


def _strict(fn: Callable[..., Val]) -> Callable[..., Val]:
    """Missing in, missing out (§7: string and numeric functions on a missing field)."""
    return lambda *args: None if any(a is None for a in args) else fn(*args)


def _num(fn: Callable[..., float]) -> Callable[..., Val]:
    def apply(*args: Val) -> Val:
        numbers = [number(a) for a in args]
        return None if any(n is None for n in numbers) else fn(*numbers)

    return apply


def _trim(chars: str | None, side: str) -> Callable[..., Val]:
    def apply(value: Val, strip: Val = None) -> Val:
        s, c = text(value), text(strip) if strip is not None else None
        assert s is not None
        return {"both": s.strip, "left": s.lstrip, "right": s.rstrip}[side](c)

    return apply


FUNCTIONS: dict[str, Callable[..., Val]] = {
    "strlen": _strict(lambda s: len(text(s))),
    "toupper": _strict(lambda s: text(s).upper()),
    "tolower": _strict(lambda s: text(s).lower()),
    "trim": _strict(_trim(None, "both")),
    "ltrim": _strict(_trim(None, "left")),
    "rtrim": _strict(_trim(None, "right")),
    "substr": _strict(
        lambda s, start, length=None: text(s)[int(number(start)) :][
            : None if length is None else int(number(length))
        ]
    ),
    "replace": _strict(lambda s, a, b: text(s).replace(text(a), text(b))),
    "strcontains": lambda s, sub: s is not None and sub is not None and text(sub) in text(s),
    "startswith": lambda s, p: s is not None and p is not None and text(s).startswith(text(p)),
    "endswith": lambda s, p: s is not None and p is not None and text(s).endswith(text(p)),
    "concat": _strict(lambda *parts: "".join(text(p) for p in parts)),
    "isempty": lambda s: s is None or text(s) == "",
    "isblank": lambda s: s is None or text(s).strip() == "",
    "ispresent": lambda s: s is not None,
    "coalesce": lambda *args: next((a for a in args if a is not None), None),
    "abs": _num(abs),
    "floor": _num(math.floor),
    "ceil": _num(math.ceil),
    "greatest": _num(max),
    "least": _num(min),
    "isnumeric": lambda s: number(s) is not None,
    "tomillis": _strict(lambda t: int(t.timestamp() * 1000) if isinstance(t, datetime) else _no()),
    "frommillis": _num(lambda n: datetime.fromtimestamp(n / 1000, tz=UTC)),
}


def _no() -> Val:
    msg = "toMillis of a text"
    raise NotImplementedError(msg)


# ---------------------------------------------------------------------------------------------
# Natural sort (§5.5)
# ---------------------------------------------------------------------------------------------

_RUNS = re.compile(r"[0-9]+|[^0-9]+")


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def natural_cmp(a: Val, b: Val) -> int:
    """Ascending natural order of two present values.

    Every non-numeric value sorts before every numeric one; numbers by value; texts are cut into
    runs of digits and of non-digits, compared run by run: two digit runs by length, then value;
    otherwise by code point.
    """
    na, nb = number(a), number(b)
    if (na is None) != (nb is None):
        return -1 if na is None else 1
    if na is not None and nb is not None:
        return _cmp(na, nb)
    ra, rb = _RUNS.findall(text(a) or ""), _RUNS.findall(text(b) or "")
    for x, y in zip(ra, rb, strict=False):
        if x[0] in "0123456789" and y[0] in "0123456789":
            order = _cmp((len(x), x), (len(y), y))
        else:
            order = _cmp(x, y)
        if order:
            return order
    return _cmp(len(ra), len(rb))


def sort_cmp(a: Val, b: Val, descending: bool) -> int:
    """Order of two values of one sort key: missing last in both directions."""
    if a is None or b is None:
        return (a is None) - (b is None)
    order = natural_cmp(a, b)
    return -order if descending else order


# ---------------------------------------------------------------------------------------------
# Aggregations
# ---------------------------------------------------------------------------------------------


def _aggregate(call: ir.Expr, rows: Sequence[Row]) -> Val:
    if not isinstance(call, ir.Call):
        msg = "arithmetic on aggregations"
        raise NotImplementedError(msg)
    if call.name == "count" and (call.star or not call.args):
        return len(rows)
    if len(call.args) != 1:
        raise NotImplementedError(call.name)
    values = [v for v in (evaluate(call.args[0], r) for r in rows) if v is not None]
    match call.name:
        case "count":
            return len(values)
        case "count_distinct":
            return len({text(v) for v in values})
        case "sum" | "avg":
            numbers = [n for n in map(number, values) if n is not None]
            if not numbers:
                # Undocumented (§7 only says records without the field are ignored): the sum of
                # nothing is 0, the average of nothing is missing, as in SQL-free arithmetic.
                return 0 if call.name == "sum" else None
            total = math.fsum(numbers)
            return total if call.name == "sum" else total / len(numbers)
        case "min" | "max":
            if not values:
                return None
            key = cmp_to_key(natural_cmp)
            return (min if call.name == "min" else max)(values, key=key)
    raise NotImplementedError(call.name)


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    """What a query returns: column names, rows in order, and whether that order is defined."""

    columns: list[str]
    rows: list[dict[str, Val]]
    ordered: bool


def run(records: Sequence[Mapping[str, Any]], query: ir.Query) -> Result:
    """Evaluate `query` over CloudTrail `records`, one row at a time."""
    rows = [Row(r, {}) for r in records]
    shown: dict[str, ir.Expr] = {}
    display: tuple[ir.Item, ...] | None = None
    ordered = sorted_ = False
    for command in query.commands:
        match command:
            case ir.Filter(condition=condition):
                rows = [r for r in rows if truth(evaluate(condition, r))]
            case ir.Fields(items=items):
                for item in items:
                    if item.alias is None and isinstance(item.expr, ir.Field):
                        shown.setdefault(item.name, item.expr)
                        continue
                    for r in rows:
                        r.env[item.name] = evaluate(item.expr, r)
                    shown.setdefault(item.name, ir.Field(item.name))
            case ir.Display(items=items):
                display = items
            case ir.Stats(aggregations=aggregations, by=by):
                groups: dict[tuple[str | None, ...], tuple[list[Val], list[Row]]] = {}
                for r in rows:
                    keys = [evaluate(item.expr, r) for item in by]
                    group = groups.setdefault(tuple(map(text, keys)), (keys, []))
                    group[1].append(r)
                if not by:
                    groups = {(): ([], rows)}
                rows = []
                for keys, members in groups.values():
                    env = {item.name: k for item, k in zip(by, keys, strict=True)}
                    for item in aggregations:
                        env[item.name] = _aggregate(item.expr, members)
                    rows.append(Row(None, env))
                names = [item.name for item in (*by, *aggregations)]
                shown = {name: ir.Field(name) for name in names}
                ordered = sorted_ = False
            case ir.Sort(keys=keys):
                rows, ties = _sort(rows, keys)
                ordered, sorted_ = not ties, True
            case ir.Limit(count=count):
                rows = rows[:count]
            case ir.Dedup(fields=fields):
                if not sorted_:
                    stamp = ir.SortKey(ir.Field("@timestamp"), True, "@timestamp")
                    rows, _ = _sort(rows, (stamp,))
                seen: set[tuple[str | None, ...]] = set()
                kept = []
                for r in rows:
                    key = tuple(text(evaluate(f, r)) for f in fields)
                    if None in key or key not in seen:
                        seen.add(key)
                        kept.append(r)
                rows = kept
            case _:
                raise NotImplementedError(type(command).__name__)
    if display is not None:
        columns = {item.name: item.expr for item in display}
    elif shown:
        columns = shown
    else:
        columns = {"@timestamp": ir.Field("@timestamp"), "@message": ir.Field("@message")}
    texts = {item.name: item.text for item in display or ()}
    out = [
        {name: _column(expr, texts.get(name, name), r) for name, expr in columns.items()}
        for r in rows
    ]
    return Result(list(columns), out, ordered)


def _column(expr: ir.Expr, text: str, row: Row) -> Val:
    """An expression, or after `stats` the output column its text names (`bin(1h)`, §5.4)."""
    if row.record is None and text in row.env:
        return row.env[text]
    return evaluate(expr, row)


def _sort(rows: list[Row], keys: Sequence[ir.SortKey]) -> tuple[list[Row], bool]:
    """Rows in sort order (default direction `desc`, §15.1) and whether two rows tie."""
    valued = [([_column(k.expr, k.text, r) for k in keys], r) for r in rows]

    def compare(a: tuple[list[Val], Row], b: tuple[list[Val], Row]) -> int:
        for key, x, y in zip(keys, a[0], b[0], strict=True):
            order = sort_cmp(x, y, key.descending is not False)
            if order:
                return order
        return 0

    valued.sort(key=cmp_to_key(compare))
    ties = any(compare(x, y) == 0 for x, y in zip(valued, valued[1:], strict=False))
    return [r for _, r in valued], ties
