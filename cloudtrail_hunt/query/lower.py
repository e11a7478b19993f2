"""Checks on the shape of a query that CloudWatch enforces before running it (§5.4, §5.8, §12)."""

from __future__ import annotations

from collections.abc import Iterator

from cloudtrail_hunt.errors import QueryError, QueryUnsupportedError
from cloudtrail_hunt.query import ir

#: What to say for each command we refuse to emulate.
_UNSUPPORTED_HINTS = {
    "pattern": "it clusters messages with a machine-learned model; group with `stats` instead",
    "diff": "it compares `pattern` output between periods; run two queries with --start/--end",
    "anomaly": "it depends on CloudWatch's anomaly models",
    "source": "choose accounts with --accounts and the time range with --start/--end",
}


def check(query: ir.Query) -> None:
    """Raise on a query CloudWatch would reject, or on a command we do not emulate."""
    commands = query.commands
    for command in commands:
        if isinstance(command, ir.Unsupported):
            name = command.command.lower()
            hint = _UNSUPPORTED_HINTS.get(name, "cloudtrail-hunt does not emulate it")
            raise QueryUnsupportedError(command.command, command.line, command.column, hint)
    stats = [i for i, c in enumerate(commands) if isinstance(c, ir.Stats)]
    if len(stats) > 2:
        third = commands[stats[2]]
        msg = "a query may hold at most two `stats` commands"
        raise QueryError(msg, third.line, third.column)
    if len(stats) == 2:
        for command in commands[: stats[1]]:
            if isinstance(command, ir.Sort | ir.Limit):
                name = type(command).__name__.lower()
                msg = f"`{name}` may only follow the second `stats`"
                raise QueryError(msg, command.line, command.column)
        second = commands[stats[1]]
        assert isinstance(second, ir.Stats)
        for item in (*second.aggregations, *second.by):
            for node in walk(item.expr):
                if isinstance(node, ir.Call) and node.name == "bin":
                    msg = "`bin` cannot be used in the second `stats`"
                    hint = (
                        "carry a time through the first `stats` (`max(@timestamp) as t`) "
                        "and use `datefloor(t, …)`"
                    )
                    raise QueryError(msg, node.line, node.column, hint)
    for i, command in enumerate(commands):
        if isinstance(command, ir.Dedup):
            for later in commands[i + 1 :]:
                if not isinstance(later, ir.Limit):
                    msg = "only `limit` may follow `dedup`"
                    raise QueryError(msg, later.line, later.column)


def walk(node: ir.Expr) -> Iterator[ir.Expr]:
    """Every expression node under `node`, itself first."""
    yield node
    children: tuple[ir.Expr, ...] = ()
    match node:
        case ir.Call(args=args):
            children = args
        case ir.Binary(left=left, right=right):
            children = (left, right)
        case ir.Not(operand=operand) | ir.Negate(operand=operand):
            children = (operand,)
        case ir.Like(operand=operand) | ir.In(operand=operand):
            children = (operand,)
        case ir.Index(value=value):
            children = (value,)
    for child in children:
        yield from walk(child)
