"""The `stats` aggregation functions (§8.7 of reference/logs-insights.md) as Polars aggregations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl

from cloudtrail_hunt.errors import QueryError
from cloudtrail_hunt.query import ir
from cloudtrail_hunt.query.values import TEXT, Kind, Value, as_num, sort_keys

if TYPE_CHECKING:
    from cloudtrail_hunt.query.functions import Context

Aggregate = Callable[["Context", ir.Call], Value]
AGGREGATES: dict[str, tuple[int, int, Aggregate]] = {}
#: Lower-cased name → the documented spelling, for messages.
SPELLING: dict[str, str] = {}


def aggregate(*names: str, args: int | tuple[int, int]) -> Callable[[Aggregate], Aggregate]:
    """Register an aggregation under its lower-cased names."""
    low, high = (args, args) if isinstance(args, int) else args

    def register(build: Aggregate) -> Aggregate:
        for name in names:
            AGGREGATES[name.lower()] = (low, high, build)
            SPELLING[name.lower()] = name
        return build

    return register


@aggregate("count", args=(0, 1))
def _count(ctx: Context, node: ir.Call) -> Value:
    if node.star or not node.args:
        return Value(pl.len(), Kind.NUM)
    # count(f) counts the records where f exists (§7).
    return Value(ctx.value(node.args[0]).expr.count(), Kind.NUM)


@aggregate("count_distinct", args=1)
def _count_distinct(ctx: Context, node: ir.Call) -> Value:
    # Exact, where CloudWatch approximates above ~10k distinct values (documented divergence).
    return Value(ctx.value(node.args[0]).expr.drop_nulls().n_unique(), Kind.NUM)


def _numeric(method: Callable[[pl.Expr], pl.Expr]) -> Aggregate:
    def build(ctx: Context, node: ir.Call) -> Value:
        return Value(method(as_num(ctx.value(node.args[0]))), Kind.NUM)

    return build


aggregate("sum", args=1)(_numeric(pl.Expr.sum))
aggregate("avg", args=1)(_numeric(pl.Expr.mean))
aggregate("median", args=1)(_numeric(pl.Expr.median))
# Population standard deviation (§15.6, an inferred choice).
aggregate("stddev", args=1)(_numeric(lambda e: e.std(ddof=0)))


@aggregate("pct", args=2)
def _pct(ctx: Context, node: ir.Call) -> Value:
    share = node.args[1]
    if not isinstance(share, ir.Number) or not 0 <= share.value <= 100:
        msg = "`pct` takes a percentile from 0 to 100"
        raise QueryError(msg, share.line, share.column)
    number = as_num(ctx.value(node.args[0]))
    return Value(number.quantile(share.value / 100, interpolation="nearest"), Kind.NUM)


def _extreme(largest: bool) -> Aggregate:
    def build(ctx: Context, node: ir.Call) -> Value:
        value = ctx.value(node.args[0])
        if value.kind not in TEXT:
            return Value(value.expr.max() if largest else value.expr.min(), value.kind)
        # Natural order (§5.5), the order `sort` uses; missing values sort last either way.
        keys, descending = sort_keys(value, descending=largest)
        return Value(value.expr.sort_by(keys, descending=descending).first(), value.kind)

    return build


aggregate("max", "sortsLast", args=1)(_extreme(largest=True))
aggregate("min", "sortsFirst", args=1)(_extreme(largest=False))


def _by_time(last: bool) -> Aggregate:
    def build(ctx: Context, node: ir.Call) -> Value:
        value = ctx.value(node.args[0])
        time = ctx.scope.timestamp(node).expr
        present = value.expr.is_not_null()
        ordered = value.expr.filter(present).sort_by(time.filter(present))
        return Value(ordered.last() if last else ordered.first(), value.kind)

    return build


aggregate("earliest", args=1)(_by_time(last=False))
aggregate("latest", args=1)(_by_time(last=True))
