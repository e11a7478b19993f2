"""The typed IR of a Logs Insights query: frozen dataclasses for commands and expressions.

parse text ──► **IR** ──► to_polars (plan) / reference evaluator (tests). No Polars objects here.
Every node carries the 1-based line and column where it starts, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every IR node: where it starts in the query text."""

    line: int = field(default=0, kw_only=True, compare=False, repr=False)
    column: int = field(default=0, kw_only=True, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Field(Node):
    """A field name as written (dotted path, system field or alias)."""

    name: str


@dataclass(frozen=True, slots=True)
class String(Node):
    """A string literal, escapes resolved."""

    value: str


@dataclass(frozen=True, slots=True)
class Number(Node):
    """A numeric literal."""

    value: int | float


@dataclass(frozen=True, slots=True)
class Regex(Node):
    """A `/regex/` literal; `pattern` is the text between the slashes with `\\/` unescaped."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Duration(Node):
    """A period such as `5m`: an amount and a canonical unit (ms, s, m, h, d, w, mo, q, y)."""

    amount: float
    unit: str


@dataclass(frozen=True, slots=True)
class ListLiteral(Node):
    """`[v1, v2, …]` on the right of `in`."""

    items: tuple[String | Number, ...]


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A function or aggregation call; `name` is lower-cased, `star` marks `count(*)`."""

    name: str
    args: tuple[Expr, ...]
    star: bool = False


@dataclass(frozen=True, slots=True)
class Index(Node):
    """`value[i]`: an element of a list built by `jsonParse`."""

    value: Expr
    index: int


@dataclass(frozen=True, slots=True)
class Member(Node):
    """`value.key` or ``value.`dotted.key` ``: a path into a `jsonParse` value (§8.5)."""

    value: Expr
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Negate(Node):
    """Unary minus."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class Not(Node):
    """Boolean `not`."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """`and`, `or`, a comparison (`=` `!=` `<` `<=` `>` `>=`) or arithmetic (`+ - * / % ^`)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Like(Node):
    """`x like "text"` (substring), `x like /re/` or `x =~ /re/` (search); negated: `not like`."""

    operand: Expr
    pattern: String | Regex
    negated: bool = False


@dataclass(frozen=True, slots=True)
class In(Node):
    """`x in [...]`, `x not in [...]`."""

    operand: Expr
    items: ListLiteral
    negated: bool = False


Expr = (
    Field | String | Number | Regex | Duration | ListLiteral | Call | Index | Negate | Not | Binary
) | (Like | In | Member)

COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^"})
BOOLEAN = frozenset({"and", "or"})

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item(Node):
    """An expression with its output name: the alias, else the expression's text (§5.1)."""

    expr: Expr
    alias: str | None
    text: str

    @property
    def name(self) -> str:
        """The column this item produces."""
        return self.alias if self.alias is not None else self.text


@dataclass(frozen=True, slots=True)
class Fields(Node):
    """`fields a, expr as b`: adds computed fields and marks them for display."""

    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Display(Node):
    """`display …`: the exact result columns (the last one wins)."""

    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Filter(Node):
    """`filter`, `where` or `filterIndex` with a condition."""

    condition: Expr


@dataclass(frozen=True, slots=True)
class Stats(Node):
    """`stats agg, … by key, …`."""

    aggregations: tuple[Item, ...]
    by: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class SortKey(Node):
    """One key of `sort`; `descending` is None when the direction was omitted."""

    expr: Expr
    descending: bool | None
    text: str


@dataclass(frozen=True, slots=True)
class Sort(Node):
    """`sort k1 [asc|desc], …`."""

    keys: tuple[SortKey, ...]


@dataclass(frozen=True, slots=True)
class Limit(Node):
    """`limit [any] N`."""

    count: int
    any: bool = False


@dataclass(frozen=True, slots=True)
class Parse(Node):
    """`parse [field] "glob" as a, …` or `parse [field] /regex/ [as a, …]`.

    `regex` is the regex to search with; `names` are the fields it produces, one per group in
    order (named groups for the `/(?<n>…)/` form).
    """

    source: Field
    regex: str
    names: tuple[str, ...]
    glob: str | None = None


@dataclass(frozen=True, slots=True)
class Dedup(Node):
    """`dedup f1, f2`."""

    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class Unnest(Node):
    """`unnest list into alias`."""

    expr: Expr
    alias: str


@dataclass(frozen=True, slots=True)
class Unsupported(Node):
    """A recognised command the compiler refuses to emulate (`pattern`, `diff`, …)."""

    command: str


Command = Fields | Display | Filter | Stats | Sort | Limit | Parse | Dedup | Unnest | Unsupported


@dataclass(frozen=True, slots=True)
class Query(Node):
    """A pipeline of commands and the text it was parsed from."""

    commands: tuple[Command, ...]
    text: str = field(default="", compare=False)
