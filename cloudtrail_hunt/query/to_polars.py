"""IR → Polars lazy plan: one handler per IR node; anything without a handler is refused.

Semantics follow reference/logs-insights.md: two-valued predicates where a missing field makes
`=`, `like`, `in` false and `!=`, `not like`, `not in` true (§7); numeric comparison when one
side is a number (§6.1); natural sort (§5.5); `dedup` in the current order, `@timestamp desc`
by default (§5.8).
"""

from __future__ import annotations

import difflib
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from cloudtrail_hunt.errors import QueryError, QuerySyntaxError, QueryUnsupportedError
from cloudtrail_hunt.query import ir
from cloudtrail_hunt.query.aggregates import AGGREGATES, SPELLING
from cloudtrail_hunt.query.functions import (
    FUNCTIONS,
    UNSUPPORTED_FUNCTIONS,
    json_member,
    json_text,
)
from cloudtrail_hunt.query.lower import check
from cloudtrail_hunt.query.resolve import Scope
from cloudtrail_hunt.query.transform import capture_groups
from cloudtrail_hunt.query.values import (
    Kind,
    Value,
    as_bool,
    as_num,
    as_str,
    as_time,
    output,
    sort_keys,
)

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


@dataclass(slots=True)
class Compiled:
    """A compiled query: the lazy plan, its result columns and any warnings."""

    plan: pl.LazyFrame
    columns: list[str]
    warnings: list[str] = field(default_factory=list)


def compile_query(query: ir.Query, frame: pl.LazyFrame, *, now: float | None = None) -> Compiled:
    """Compile a parsed query against a frame of CloudTrail records (the lake schema).

    Raises
    ------
    QueryError
        For constructs CloudWatch rejects, unknown functions or misplaced aggregations.
    QueryFieldError
        For fields that cannot exist at that point of the query.
    QueryUnsupportedError
        For commands and constructs the compiler does not emulate.
    """
    check(query)
    compiler = _Compiler(frame, time.time() if now is None else now)
    for command in query.commands:
        compiler.command(command)
    return compiler.finish()


class _Compiler:
    def __init__(self, frame: pl.LazyFrame, now: float) -> None:
        self.frame = frame
        self.scope = Scope(frame.collect_schema())
        self.now = now
        self.warnings: list[str] = []
        self.shown: dict[str, Value] = {}
        self.display: tuple[ir.Item, ...] | None = None
        self.sorted = False
        self._stats_aliases: dict[str, Value] | None = None
        self._in_aggregate = False

    # -- context for function builders -------------------------------------------------------

    def warn(self, message: str, node: ir.Node) -> None:
        self.warnings.append(f"query line {node.line}, column {node.column}: {message}")

    def check_regex(self, pattern: str, node: ir.Node) -> str:
        _valid_regex(pattern, node.line, node.column)
        return pattern

    # -- commands ----------------------------------------------------------------------------

    @functools.singledispatchmethod
    def command(self, node: ir.Command) -> None:
        raise QueryUnsupportedError(type(node).__name__, node.line, node.column)

    @command.register
    def _fields(self, node: ir.Fields) -> None:
        for item in node.items:
            value = self.value(item.expr)
            if item.alias is None and isinstance(item.expr, ir.Field):
                self.shown.setdefault(item.name, value)
                continue
            self._define(item.name, value)
            self.shown.setdefault(item.name, Value(pl.col(item.name), value.kind))

    def _define(self, name: str, value: Value) -> None:
        self.frame = self.frame.with_columns(value.expr.alias(name))
        self.scope.define(name, value.kind)

    @command.register
    def _display(self, node: ir.Display) -> None:
        self.display = node.items

    @command.register
    def _filter(self, node: ir.Filter) -> None:
        self.frame = self.frame.filter(as_bool(self.value(node.condition)))

    @command.register
    def _stats(self, node: ir.Stats) -> None:
        keys: dict[str, Value] = {}
        for item in node.by:
            value = self.value(item.expr)
            if value.kind is Kind.JSON:
                msg = "`stats … by` cannot group by a map or list from `jsonParse`"
                raise QueryError(msg, item.line, item.column)
            keys[item.name] = value
        # Keys are computed under temporary names: `by toupper(x) as x` must not replace the
        # `x` the aggregations read.
        temporary = {name: f"__by{i}" for i, name in enumerate(keys)}
        self.frame = self.frame.with_columns(
            value.expr.alias(temporary[name]) for name, value in keys.items()
        )
        aggregations: dict[str, Value] = {}
        self._stats_aliases = aggregations
        try:
            for item in node.aggregations:
                aggregations[item.name] = self.value(item.expr)
        finally:
            self._stats_aliases = None
        names = [item.name for item in (*node.by, *node.aggregations)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            msg = f"`stats` names two columns {repeated[0]!r}"
            raise QueryError(msg, node.line, node.column, "give each column its own alias")
        exprs = [v.expr.alias(name) for name, v in aggregations.items()]
        if keys:
            grouped = self.frame.group_by(list(temporary.values())).agg(exprs)
            self.frame = grouped.rename({v: k for k, v in temporary.items()})
        else:
            self.frame = self.frame.select(exprs)
        outputs = {name: v.kind for name, v in keys.items()}
        outputs.update({name: v.kind for name, v in aggregations.items()})
        self.scope.reset(outputs)
        self.shown = {name: Value(pl.col(name), kind) for name, kind in outputs.items()}
        self.sorted = False

    @command.register
    def _sort(self, node: ir.Sort) -> None:
        by: list[pl.Expr] = []
        descending: list[bool] = []
        for key in node.keys:
            if key.descending is None:
                self.warn(f"`sort {key.text}` has no direction; using `desc`", key)
            value = self.value(key.expr)
            if value.kind is Kind.JSON:
                msg = "`sort` cannot order a map or list from `jsonParse`"
                raise QueryError(msg, key.line, key.column)
            keys, flags = sort_keys(value, key.descending is not False)
            by += keys
            descending += flags
        self.frame = self.frame.sort(
            by, descending=descending, nulls_last=True, maintain_order=True
        )
        self.sorted = True

    @command.register
    def _limit(self, node: ir.Limit) -> None:
        self.frame = self.frame.head(node.count)

    @command.register
    def _parse(self, node: ir.Parse) -> None:
        source = as_str(self.value(node.source))
        self.check_regex(node.regex, node)
        groups = source.str.extract_groups(node.regex)
        # extract_groups names a struct field after its group, or its number when unnamed.
        found = capture_groups(node.regex)
        if len(node.names) == len(found):  # every group, in order (`as` names or all named)
            labels = [name or str(i + 1) for i, name in enumerate(found)]
        else:  # the named groups only; unnamed ones just group
            labels = [name for name in found if name is not None]
        for label, name in zip(labels, node.names, strict=True):
            self._define(name, Value(groups.struct.field(label), Kind.STR))
            self.shown.setdefault(name, Value(pl.col(name), Kind.STR))

    @command.register
    def _dedup(self, node: ir.Dedup) -> None:
        if not self.sorted and not self.scope.after_stats:
            # Default order: most recent first (§5.8). After `stats` there is no @timestamp:
            # the rows stay in their order.
            keys, flags = sort_keys(self.scope.timestamp(node), descending=True)
            self.frame = self.frame.sort(keys, descending=flags, maintain_order=True)
        resolved = [self.value(f) for f in node.fields]
        for field_node, value in zip(node.fields, resolved, strict=True):
            if value.kind is Kind.JSON:
                msg = "`dedup` cannot compare maps or lists from `jsonParse`"
                raise QueryError(msg, field_node.line, field_node.column)
        values = [as_str(v).alias(f"__dedup{i}") for i, v in enumerate(resolved)]
        # Records with a missing key are never duplicates (§5.8).
        keep = pl.struct(values).is_first_distinct() | pl.any_horizontal(
            v.is_null() for v in values
        )
        self.frame = (
            self.frame.with_columns(keep.alias("__keep")).filter(pl.col("__keep")).drop("__keep")
        )

    @command.register
    def _unnest(self, node: ir.Unnest) -> None:
        value = self.value(node.expr)
        elements = json_text(value).map_batches(_json_elements, return_dtype=pl.List(pl.String))
        # Records whose list is empty or missing produce no rows (§5.9, an inferred choice).
        self.frame = (
            self.frame.with_columns(elements.alias(node.alias))
            .explode(node.alias)
            .filter(pl.col(node.alias).is_not_null())
        )
        self.scope.define(node.alias, Kind.JSON)
        self.shown.setdefault(node.alias, Value(pl.col(node.alias), Kind.JSON))

    def finish(self) -> Compiled:
        if self.display is not None:
            columns = {item.name: self.value(item.expr) for item in self.display}
        elif self.shown:
            columns = dict(self.shown)
        else:
            stamp = ir.Field("@timestamp")
            columns = {"@timestamp": self.scope.timestamp(stamp)}
            columns["@message"] = self.value(ir.Field("@message"))
        plan = self.frame.select([output(v).alias(name) for name, v in columns.items()])
        return Compiled(plan, list(columns), self.warnings)

    # -- expressions -------------------------------------------------------------------------

    @functools.singledispatchmethod
    def value(self, node: ir.Expr) -> Value:
        raise QueryUnsupportedError(type(node).__name__, node.line, node.column)

    @value.register
    def _field(self, node: ir.Field) -> Value:
        aliases = self._stats_aliases
        if aliases is not None and not self._in_aggregate:
            if node.name in aliases:
                return aliases[node.name]
            msg = f"`{node.name}` is used outside an aggregation function in `stats`"
            hint = f"aggregate it, e.g. `count_distinct({node.name})`, or group by it with `by`"
            raise QueryError(msg, node.line, node.column, hint)
        return self.scope.resolve(node)

    @value.register
    def _string(self, node: ir.String) -> Value:
        return Value(pl.lit(node.value, pl.String), Kind.STR)

    @value.register
    def _number(self, node: ir.Number) -> Value:
        dtype = pl.Int64 if isinstance(node.value, int) else pl.Float64
        return Value(pl.lit(node.value, dtype), Kind.NUM)

    @value.register
    def _regex(self, node: ir.Regex) -> Value:
        msg = "a /regex/ is only allowed after `like`, `=~` and in functions that take one"
        raise QueryError(msg, node.line, node.column)

    @value.register
    def _duration(self, node: ir.Duration) -> Value:
        msg = "a period is only allowed in `bin`, `datefloor` and `dateceil`"
        raise QueryError(msg, node.line, node.column)

    @value.register
    def _list(self, node: ir.ListLiteral) -> Value:
        msg = "a list is only allowed after `in`"
        raise QueryError(msg, node.line, node.column)

    @value.register
    def _not(self, node: ir.Not) -> Value:
        return Value(~as_bool(self.value(node.operand)), Kind.BOOL)

    @value.register
    def _negate(self, node: ir.Negate) -> Value:
        return Value(-as_num(self.value(node.operand)), Kind.NUM)

    @value.register
    def _member(self, node: ir.Member) -> Value:
        return json_member(self.value(node.value), list(node.path))

    @value.register
    def _index(self, node: ir.Index) -> Value:
        return json_member(self.value(node.value), [str(node.index)])

    @value.register
    def _binary(self, node: ir.Binary) -> Value:
        left, right = self.value(node.left), self.value(node.right)
        op = node.op.lower()
        if op in ir.BOOLEAN:
            a, b = as_bool(left), as_bool(right)
            return Value(a & b if op == "and" else a | b, Kind.BOOL)
        if op in ir.ARITHMETIC:
            return Value(_arithmetic(op, as_num(left), as_num(right)), Kind.NUM)
        if op == "!=":
            return Value(~_compare("=", left, right), Kind.BOOL)
        return Value(_compare(op, left, right), Kind.BOOL)

    @value.register
    def _like(self, node: ir.Like) -> Value:
        text = as_str(self.value(node.operand))
        if isinstance(node.pattern, ir.Regex):
            pattern = self.check_regex(node.pattern.pattern, node.pattern)
            match = text.str.contains(pattern)
        else:
            match = text.str.contains(node.pattern.value, literal=True)
        match = match.fill_null(False)
        return Value(~match if node.negated else match, Kind.BOOL)

    @value.register
    def _in(self, node: ir.In) -> Value:
        value = self.value(node.operand)
        texts = [i.value for i in node.items.items if isinstance(i, ir.String)]
        numbers = [float(i.value) for i in node.items.items if isinstance(i, ir.Number)]
        found = pl.lit(False)
        if texts:
            found = found | as_str(value).is_in(texts)
        if numbers:
            found = found | as_num(value).cast(pl.Float64).is_in(numbers)
        found = found.fill_null(False)
        return Value(~found if node.negated else found, Kind.BOOL)

    @value.register
    def _call(self, node: ir.Call) -> Value:
        if self.scope.after_stats and self._stats_aliases is None:
            # After `stats … by bin(1h)`, `sort bin(1h)` names the key column `bin(1h)`.
            column = _stats_column(node, self.scope.computed)
            if column is not None:
                return Value(pl.col(column), self.scope.computed[column])
        if node.name in AGGREGATES:
            return self._aggregate(node)
        function = FUNCTIONS.get(node.name)
        if node.name in UNSUPPORTED_FUNCTIONS:
            construct = f"{node.name}()"
            hint = UNSUPPORTED_FUNCTIONS[node.name]
            raise QueryUnsupportedError(construct, node.line, node.column, hint)
        if function is None:
            raise _unknown_function(node)
        _check_arity(node, function.name, function.min_args, function.max_args)
        return function.build(self, node)

    def _aggregate(self, node: ir.Call) -> Value:
        if self._stats_aliases is None:
            # After `stats count(*) by x`, `sort count(*)` names the column `count(*)`.
            column = _stats_column(node, self.scope.computed)
            if column is not None:
                return Value(pl.col(column), self.scope.computed[column])
            msg = f"`{node.name}` is an aggregation; it can only be used in `stats`"
            raise QueryError(msg, node.line, node.column)
        if self._in_aggregate:
            msg = f"`{node.name}` cannot be nested inside another aggregation"
            raise QueryError(msg, node.line, node.column)
        low, high, build = AGGREGATES[node.name]
        if not node.star:
            _check_arity(node, node.name, low, high)
        self._in_aggregate = True
        try:
            return build(self, node)
        finally:
            self._in_aggregate = False


def _stats_column(node: ir.Call, columns: dict[str, Kind]) -> str | None:
    """The unaliased `stats` output a call spells, comparing text without spaces or case."""
    wanted = _render(node)
    for name in columns:
        if "".join(name.split()).lower() == wanted:
            return name
    return None


def _render(node: ir.Expr) -> str:
    match node:
        case ir.Call(name=name, star=True):
            return f"{name}(*)"
        case ir.Call(name=name, args=args):
            return f"{name}({','.join(_render(a) for a in args)})"
        case ir.Field(name=name):
            return name.lower()
        case ir.Number(value=value):
            return str(value)
        case ir.Duration(amount=amount, unit=unit):
            return f"{amount:g}{unit}"
        case ir.String(value=value):
            return repr(value).lower()
        case _:
            return "\0"  # never equal to a column name


def _arithmetic(op: str, a: pl.Expr, b: pl.Expr) -> pl.Expr:
    match op:
        case "+":
            return a + b
        case "-":
            return a - b
        case "*":
            return a * b
        case "/":
            return a.cast(pl.Float64) / b
        case "%":
            return a % b
        case _:
            return a.cast(pl.Float64).pow(b)


def _compare(op: str, left: Value, right: Value) -> pl.Expr:
    """A positive comparison, false when either side is missing (§7)."""
    kinds = {left.kind, right.kind}
    if Kind.TIME in kinds:
        a, b = as_time(left), as_time(right)
    elif kinds & {Kind.NUM, Kind.BOOL}:
        a, b = as_num(left), as_num(right)
    elif op == "=":
        a, b = as_str(left), as_str(right)  # a map or list equals nothing (§7)
    else:
        # Two texts: as numbers when both read as numbers (parsed `days` vs "30"), else by
        # code point.
        na, nb = as_num(left), as_num(right)
        both = na.is_not_null() & nb.is_not_null()
        as_numbers = _apply(op, na, nb)
        as_text = _apply(op, as_str(left), as_str(right))
        return pl.when(both).then(as_numbers).otherwise(as_text).fill_null(False)
    return _apply(op, a, b).fill_null(False)


def _apply(op: str, a: pl.Expr, b: pl.Expr) -> pl.Expr:
    match op:
        case "=":
            return a == b
        case "<":
            return a < b
        case "<=":
            return a <= b
        case ">":
            return a > b
        case _:
            return a >= b


def _check_arity(node: ir.Call, name: str, low: int, high: int | None) -> None:
    count = len(node.args)
    if count < low or (high is not None and count > high):
        if high == low:
            expected = f"{low}"
        elif high is None:
            expected = f"at least {low}"
        else:
            expected = f"{low} to {high}"
        msg = f"`{name}` takes {expected} argument{'s' if expected != '1' else ''}, not {count}"
        raise QueryError(msg, node.line, node.column)


def _unknown_function(node: ir.Call) -> QueryError:
    names = sorted({f.name for f in FUNCTIONS.values()} | set(SPELLING.values()))
    close = difflib.get_close_matches(node.name, [n.lower() for n in names], n=1, cutoff=0.6)
    spelled = {n.lower(): n for n in names}
    hint = f"did you mean {spelled[close[0]]!r}?" if close else None
    return QueryError(f"unknown function {node.name!r}", node.line, node.column, hint)


@functools.cache
def _valid_regex(pattern: str, line: int, column: int) -> None:
    try:
        pl.select(pl.lit("").str.contains(pattern)).item()
    except pl.exceptions.ComputeError as error:
        detail = str(error).split("error:")[-1].strip().splitlines()[0]
        msg = f"invalid regex /{pattern}/: {detail}"
        raise QuerySyntaxError(msg, line, column) from None


def _json_elements(series: pl.Series) -> pl.Series:
    out: list[list[str] | None] = []
    for text in series.to_list():
        try:
            parsed: Any = json.loads(text) if text is not None else None
        except ValueError:
            parsed = text
        if parsed is None:
            out.append(None)
            continue
        items = parsed if isinstance(parsed, list) else [parsed]
        out.append([_element_text(item) for item in items])
    return pl.Series(out, dtype=pl.List(pl.String))


def _element_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False)
