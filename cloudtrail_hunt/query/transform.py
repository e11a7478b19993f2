"""The lark Transformer: parse tree → IR. The only module that knows the parse tree's shape."""

from __future__ import annotations

import re
from typing import Any, TypedDict

from lark import Token, Transformer, v_args
from lark.tree import Meta

from cloudtrail_hunt.errors import QuerySyntaxError
from cloudtrail_hunt.query import ir

#: Spellings of each period unit (§2.5) → canonical unit.
_UNITS = {
    "ms": "ms", "msec": "ms", "millisecond": "ms",
    "s": "s", "sec": "s", "second": "s",
    "m": "m", "min": "m", "minute": "m",
    "h": "h", "hr": "h", "hour": "h",
    "d": "d", "day": "d",
    "w": "w", "week": "w",
    "mo": "mo", "mon": "mo", "month": "mo",
    "q": "q", "qtr": "q", "quarter": "q",
    "y": "y", "yr": "y", "year": "y",
}  # fmt: skip
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([a-z]+)", re.IGNORECASE)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def unquote(text: str) -> str:
    """Strip the quotes of a string literal and resolve ``\\"``, ``\\'`` and ``\\\\``."""
    body = text[1:-1]
    return _ESCAPE.sub(lambda m: m[1] if m[1] in "\"'\\" else m[0], body)


def regex_body(text: str) -> str:
    """The pattern inside `/…/`, with the escaped slash `\\/` turned back into `/`."""
    return text[1:-1].replace("\\/", "/")


def field_name(token: Token) -> str:
    """A field as written: backticks removed (`` `a-b` `` → ``a-b``, ``@`x` `` → ``@x``)."""
    text = str(token)
    if token.type == "QUOTED_NAME":
        return text.replace("`", "")
    return text


def capture_groups(pattern: str) -> list[str | None]:
    """The capturing groups of a regex in order: their name, or None when unnamed."""
    groups: list[str | None] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            named = re.match(r"\(\?P?<([A-Za-z_]\w*)>", pattern[i:])
            if named:
                groups.append(named[1])
            elif not pattern.startswith("(?", i):
                groups.append(None)
        i += 1
    return groups


def glob_to_regex(glob: str) -> str:
    """Translate a `parse` glob: literal text escaped, inner `*` lazy, a final `*` greedy (§5.7)."""
    parts = glob.split("*")
    out = re.escape(parts[0])
    for n, part in enumerate(parts[1:], start=1):
        last = n == len(parts) - 1
        out += ("(.*)" if last and part == "" else "(.*?)") + re.escape(part)
    return out


class _Pos(TypedDict):
    line: int
    column: int


def _pos(meta: Meta | Token) -> _Pos:
    return {"line": getattr(meta, "line", 0) or 0, "column": getattr(meta, "column", 0) or 0}


@v_args(meta=True)
class ToIR(Transformer[Token, ir.Query]):
    """Builds IR nodes bottom-up; needs the query text to name unaliased items by their text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _slice(self, meta: Meta) -> str:
        return " ".join(self._text[meta.start_pos : meta.end_pos].split())

    # -- pipeline ------------------------------------------------------------------------------

    def start(self, meta: Meta, children: list[Any]) -> ir.Query:
        commands = tuple(c for c in children if not isinstance(c, Token))
        return ir.Query(commands, self._text, **_pos(meta))

    def item(self, meta: Meta, children: list[Any]) -> ir.Item:
        expr = children[0]
        alias = field_name(children[2]) if len(children) > 2 else None
        return ir.Item(expr, alias, self._slice_expr(meta, children), **_pos(meta))

    def _slice_expr(self, meta: Meta, children: list[Any]) -> str:
        if len(children) > 2:  # `expr AS name`: the text up to `as`
            end = children[1].start_pos
            return " ".join(self._text[meta.start_pos : end].split())
        return self._slice(meta)

    def fields(self, meta: Meta, children: list[Any]) -> ir.Fields:
        return ir.Fields(tuple(children[1:]), **_pos(meta))

    def display(self, meta: Meta, children: list[Any]) -> ir.Display:
        return ir.Display(tuple(children[1:]), **_pos(meta))

    def filter(self, meta: Meta, children: list[Any]) -> ir.Filter:
        return ir.Filter(children[1], **_pos(meta))

    def by_clause(self, meta: Meta, children: list[Any]) -> tuple[ir.Item, ...]:
        return tuple(children[1:])

    def stats(self, meta: Meta, children: list[Any]) -> ir.Stats:
        by: tuple[ir.Item, ...] = ()
        aggs = []
        for child in children[1:]:
            if isinstance(child, tuple):
                by = child
            else:
                aggs.append(child)
        return ir.Stats(tuple(aggs), by, **_pos(meta))

    def sort_key(self, meta: Meta, children: list[Any]) -> ir.SortKey:
        descending = None
        if len(children) > 1:
            descending = children[1].type == "DESC"
        return ir.SortKey(children[0], descending, self._slice_first(meta, children), **_pos(meta))

    def _slice_first(self, meta: Meta, children: list[Any]) -> str:
        if len(children) > 1:
            return " ".join(self._text[meta.start_pos : children[1].start_pos].split())
        return self._slice(meta)

    def sort(self, meta: Meta, children: list[Any]) -> ir.Sort:
        return ir.Sort(tuple(children[1:]), **_pos(meta))

    def limit(self, meta: Meta, children: list[Any]) -> ir.Limit:
        number = children[-1]
        if "." in number:
            msg = f"`limit` takes a whole number, not {str(number)!r}"
            raise QuerySyntaxError(msg, number.line, number.column)
        return ir.Limit(int(number), any=len(children) == 3, **_pos(meta))

    def _parse_source(self, children: list[Any], meta: Meta) -> tuple[ir.Field, list[Any]]:
        rest = children[1:]
        if rest and isinstance(rest[0], ir.Field):
            return rest[0], rest[1:]
        return ir.Field("@message", **_pos(meta)), rest

    def parse_glob(self, meta: Meta, children: list[Any]) -> ir.Parse:
        source, rest = self._parse_source(children, meta)
        glob_token, names = rest[0], [field_name(t) for t in rest[2:]]
        glob = unquote(glob_token)
        stars = glob.count("*")
        if stars != len(names):
            msg = f"the glob has {stars} `*` but {len(names)} names follow `as`"
            hint = "give one name per `*`"
            raise QuerySyntaxError(msg, glob_token.line, glob_token.column, hint)
        return ir.Parse(source, glob_to_regex(glob), tuple(names), glob=glob, **_pos(meta))

    def parse_regex(self, meta: Meta, children: list[Any]) -> ir.Parse:
        source, rest = self._parse_source(children, meta)
        token = rest[0]
        pattern = regex_body(token)
        groups = capture_groups(pattern)
        names = [field_name(t) for t in rest[2:]]
        if not names:
            names = [g for g in groups if g is not None]
            if not names:
                msg = "a `parse` regex needs named groups `(?<name>…)` or names after `as`"
                hint = "name the groups, or list the field names after `as`"
                raise QuerySyntaxError(msg, token.line, token.column, hint)
        elif len(names) != len(groups):
            msg = f"the regex has {len(groups)} groups but {len(names)} names follow `as`"
            raise QuerySyntaxError(msg, token.line, token.column, "give one name per group")
        return ir.Parse(source, pattern, tuple(names), **_pos(meta))

    def dedup(self, meta: Meta, children: list[Any]) -> ir.Dedup:
        return ir.Dedup(tuple(children[1:]), **_pos(meta))

    def unnest(self, meta: Meta, children: list[Any]) -> ir.Unnest:
        return ir.Unnest(children[1], field_name(children[3]), **_pos(meta))

    def unsupported(self, meta: Meta, children: list[Any]) -> ir.Unsupported:
        return ir.Unsupported(str(children[0]).split()[0], **_pos(meta))

    # -- expressions ---------------------------------------------------------------------------

    def or_(self, meta: Meta, children: list[Any]) -> ir.Binary:
        return ir.Binary("or", children[0], children[2], **_pos(meta))

    def and_(self, meta: Meta, children: list[Any]) -> ir.Binary:
        return ir.Binary("and", children[0], children[2], **_pos(meta))

    def not_(self, meta: Meta, children: list[Any]) -> ir.Not:
        return ir.Not(children[1], **_pos(meta))

    def compare(self, meta: Meta, children: list[Any]) -> ir.Binary:
        return ir.Binary(str(children[1]), children[0], children[2], **_pos(meta))

    def arith(self, meta: Meta, children: list[Any]) -> ir.Binary:
        return ir.Binary(str(children[1]), children[0], children[2], **_pos(meta))

    def like(self, meta: Meta, children: list[Any]) -> ir.Like:
        return ir.Like(children[0], children[2], **_pos(meta))

    def not_like(self, meta: Meta, children: list[Any]) -> ir.Like:
        return ir.Like(children[0], children[3], negated=True, **_pos(meta))

    def in_(self, meta: Meta, children: list[Any]) -> ir.In:
        return ir.In(children[0], children[2], **_pos(meta))

    def not_in(self, meta: Meta, children: list[Any]) -> ir.In:
        return ir.In(children[0], children[3], negated=True, **_pos(meta))

    def negate(self, meta: Meta, children: list[Any]) -> ir.Expr:
        sign, operand = children
        if sign == "+":
            return operand  # type: ignore[no-any-return]
        if isinstance(operand, ir.Number):
            return ir.Number(-operand.value, **_pos(meta))
        return ir.Negate(operand, **_pos(meta))

    def negative(self, meta: Meta, children: list[Any]) -> ir.Number:
        value = self.number(meta, [children[1]]).value
        return ir.Number(-value if children[0] == "-" else value, **_pos(meta))

    def call(self, meta: Meta, children: list[Any]) -> ir.Call:
        args = tuple(c for c in children[1:] if c is not None)
        return ir.Call(str(children[0]).lower(), args, **_pos(meta))

    def call_star(self, meta: Meta, children: list[Any]) -> ir.Call:
        return ir.Call(str(children[0]).lower(), (), star=True, **_pos(meta))

    def member(self, meta: Meta, children: list[Any]) -> ir.Member:
        token = children[1]
        path = (field_name(token),) if token.type == "QUOTED_NAME" else tuple(token.split("."))
        return ir.Member(children[0], path, **_pos(meta))

    def index(self, meta: Meta, children: list[Any]) -> ir.Index:
        return ir.Index(children[0], int(children[1]), **_pos(meta))

    def value_list(self, meta: Meta, children: list[Any]) -> ir.ListLiteral:
        return ir.ListLiteral(tuple(c for c in children if c is not None), **_pos(meta))

    def field(self, meta: Meta, children: list[Any]) -> ir.Field:
        return ir.Field(field_name(children[0]), **_pos(meta))

    def string(self, meta: Meta, children: list[Any]) -> ir.String:
        return ir.String(unquote(children[0]), **_pos(children[0]))

    def regex(self, meta: Meta, children: list[Any]) -> ir.Regex:
        return ir.Regex(regex_body(children[0]), **_pos(children[0]))

    def number(self, meta: Meta, children: list[Any]) -> ir.Number:
        text = str(children[0])
        value = float(text) if "." in text else int(text)
        return ir.Number(value, **_pos(children[0]))

    def duration(self, meta: Meta, children: list[Any]) -> ir.Duration:
        token = children[0]
        match = _DURATION.fullmatch(str(token))
        assert match is not None  # the DURATION terminal has this shape
        unit = match[2].lower()
        unit = _UNITS.get(unit) or _UNITS[unit.removesuffix("s")]
        return ir.Duration(float(match[1]), unit, **_pos(token))
