"""Parses Logs Insights text into the IR; lark errors become QuerySyntaxError with a caret."""

from __future__ import annotations

import difflib
import functools
from importlib.resources import files

from lark import Lark, Token, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import VisitError

from cloudtrail_hunt.errors import QueryError, QuerySyntaxError
from cloudtrail_hunt.query import ir
from cloudtrail_hunt.query.transform import ToIR

#: The commands a query may use, for "did you mean" on a misspelt command.
COMMANDS = (
    "fields", "display", "filter", "where", "filterIndex", "stats", "sort", "limit", "parse",
    "dedup", "unnest",
)  # fmt: skip
#: Queries longer than CloudWatch's own cap are refused before parsing (StartQuery: 10,000).
MAX_QUERY_CHARS = 10_000

#: Terminal names → what a user would call them, for "expected …" hints.
_TERMINALS = {
    "NAME": "a field name", "QUOTED_NAME": "a field name", "STRING": "a string",
    "NUMBER": "a number", "DURATION": "a period such as 5m", "REGEX": "a /regex/",
    "PIPE": "`|`", "COMMA": "`,`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`",
    "AS": "`as`", "BY": "`by`", "INTO": "`into`", "COMPARE": "a comparison",
    "LIKE": "`like`", "IN": "`in`", "STAR": "`*`", "ADD": "`+` or `-`", "MUL": "`/` or `%`",
    "closing quote": "a closing quote", "closing /": "a closing `/`",
}  # fmt: skip


@functools.cache
def _parser() -> Lark:
    grammar = files("cloudtrail_hunt.query").joinpath("grammar.lark").read_text(encoding="utf-8")
    # cache=True: lark keeps the built LALR tables in the temp folder, keyed by the grammar's
    # hash, so a CLI process loads them in ~4 ms instead of building them in ~50 ms.
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, cache=True)


def parse(text: str) -> ir.Query:
    """Parse a Logs Insights query into its IR.

    Raises
    ------
    QuerySyntaxError
        With the line, column and a caret under the offending token.

    Examples
    --------
    >>> parse('filter eventName = "ConsoleLogin" | limit 5').commands[1]
    Limit(count=5, any=False)
    """
    if len(text) > MAX_QUERY_CHARS:
        msg = f"the query is {len(text):,} characters long"
        raise QuerySyntaxError(msg, 1, 1, f"the limit is {MAX_QUERY_CHARS:,}")
    if not text.strip() or all(_is_comment(line) for line in text.splitlines()):
        msg = "the query is empty"
        raise QuerySyntaxError(msg, 1, 1, "expected a command such as `fields`")
    try:
        tree = _parser().parse(text)
        return ToIR(text).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, QueryError):
            _add_context(error.orig_exc, text)
            raise error.orig_exc from None
        raise
    except UnexpectedInput as error:
        raise _syntax_error(error, text) from None


def _is_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _add_context(error: QueryError, text: str) -> None:
    if isinstance(error, QuerySyntaxError) and error.line and error.context is None:
        error.context = caret(text, error.line, error.column or 1)


def caret(text: str, line: int, column: int) -> str:
    """The query line and a caret line under `column` (both 1-based)."""
    lines = text.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1].expandtabs(1)
    return f"{source}\n{' ' * (column - 1)}^"


def _syntax_error(error: UnexpectedInput, text: str) -> QuerySyntaxError:
    line, column = error.line or 1, error.column or 1
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        lines = text.rstrip().splitlines()
        line, column = len(lines), len(lines[-1]) + 1
        reason = "the query ends too early"
        expected: set[str] | frozenset[str] = set(getattr(error, "expected", ()))
    elif isinstance(error, UnexpectedToken):
        if "FIELDS" in error.expected and error.token.type == "NAME":
            return _unknown_command(str(error.token), line, column, text)
        reason, expected = f"unexpected {_describe(error.token)}", error.expected
        if str(error.token) == "/" and "REGEX" in error.expected:
            # The regex terminal could not close, so the lexer fell back to division.
            reason, expected = "unterminated /regex/", {"closing /"}
    else:
        assert isinstance(error, UnexpectedCharacters)
        pos = error.pos_in_stream or 0
        word = _word_at(text, pos)
        allowed = error.allowed or set()
        if "FIELDS" in allowed and word:  # at the start of a command
            return _unknown_command(word, line, column, text)
        reason = f"unexpected {word or text[pos]!r}"
        expected = allowed
        if text[pos] in "\"'":
            reason, expected = "unterminated string", {"closing quote"}
        elif text[pos] == "/":
            reason, expected = "unterminated /regex/", {"closing /"}
    hint = _expected(expected)
    return QuerySyntaxError(reason, line, column, hint, caret(text, line, column))


def _unknown_command(word: str, line: int, column: int, text: str) -> QuerySyntaxError:
    close = difflib.get_close_matches(word.lower(), [c.lower() for c in COMMANDS], n=1)
    hint = f"did you mean {close[0]!r}?" if close else "expected one of " + ", ".join(COMMANDS)
    return QuerySyntaxError(
        f"unknown command {word!r}", line, column, hint, caret(text, line, column)
    )


def _word_at(text: str, pos: int) -> str:
    end = pos
    while end < len(text) and (text[end].isalnum() or text[end] in "_@."):
        end += 1
    return text[pos:end]


def _describe(token: Token) -> str:
    if token.type in {"NAME", "QUOTED_NAME"}:
        return f"field {str(token)!r}"
    return repr(str(token))


def _expected(expected: set[str] | frozenset[str]) -> str | None:
    if {"NAME", "NUMBER", "STRING"} <= set(expected):
        return "expected an expression"
    names = sorted({_TERMINALS.get(t, f"`{t.lower()}`") for t in expected if not t.startswith("_")})
    if not names:
        return None
    if len(names) > 6:
        names = [*names[:6], "…"]
    return "expected " + ", ".join(names)
