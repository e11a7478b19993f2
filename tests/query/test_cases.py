"""Golden query cases: `tests/query/cases/<topic>.yaml`, one test per case, id `<file>::<case>`.

A case file is a mapping with a `cases` list. Each case is a mapping with:

* ``name``: unique in its file;
* ``query``: the Logs Insights text (a ``|`` block scalar for multi-line queries);
* ``records``: partial CloudTrail records for `make_event` (dotted keys set nested fields; a key
  ``-a.b: true`` deletes the field ``a.b`` from the complete record; keys starting with ``@``
  are system fields given with the record, as `records_frame` takes them);
* ``expected``: the result rows, each a mapping column → value in column order; the columns
  must be exactly the keys, in that order. Timestamps are written ``YYYY-MM-DD HH:MM:SS.mmm``
  (UTC), missing cells ``null``, booleans ``1``/``0``, numbers compare numerically (relative
  tolerance 1e-9) and only with numbers, strings only with strings;
* ``columns``: the result columns, for an ``expected: []`` case (optional otherwise);
* ``ordered``: ``false`` compares rows as a multiset (default ``true``);
* ``dtypes``: column → Polars dtype name (``Int8``, ``String``, ``Datetime``…), checked exactly;
* ``error`` and ``match``: the exception class (from `cloudtrail_hunt.errors`) and a regex
  searched in its text, instead of ``expected``;
* ``now``: the query start time in epoch seconds, for `now()`;
* ``xfail``: ``{raises: <ExceptionName or AssertionError>, reason: "..."}`` for a known compiler
  bug; strict, so the case fails once the bug is fixed.

The files use a small YAML subset (PyYAML is not a dependency): block mappings and sequences,
flow ``{}``/``[]``, double-quoted (JSON escapes) and single-quoted scalars, plain scalars
(``null``, ``true``/``false``, integers, decimals, else text), ``|``/``|-`` literal blocks and
``#`` comments. Anything else is an error, never a silent misreading.
"""

from __future__ import annotations

import builtins
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import polars as pl
import pytest

import cloudtrail_hunt
from cloudtrail_hunt import errors
from cloudtrail_hunt.source import records_frame
from tests.conftest import make_event

CASES = Path(__file__).parent / "cases"

# ── A YAML subset reader ─────────────────────────────────────────────────────────────────────

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


class YamlError(ValueError):
    """The case file uses YAML this reader does not understand."""


def _strip_comment(line: str) -> str:
    quote = None
    i = 0
    while i < len(line):
        char = line[i]
        if quote == '"':
            if char == "\\":
                i += 1
            elif char == '"':
                quote = None
        elif quote == "'":
            if char == "'":
                quote = None
        elif char in "\"'" and (i == 0 or line[i - 1] in " \t[{,:-"):
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


def _plain(text: str) -> Any:
    text = text.strip()
    if text in ("", "~", "null"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


class _Flow:
    """Recursive descent over one flow value: ``{a: 1, b: [x, "y"]}``."""

    def __init__(self, text: str, where: str) -> None:
        self.text, self.pos, self.where = text, 0, where

    def fail(self, what: str) -> NoReturn:
        msg = f"{self.where}: {what} at column {self.pos + 1} of {self.text!r}"
        raise YamlError(msg)

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self, stops: str, key: bool = False) -> Any:
        char = self.peek()
        if char == "{":
            return self.mapping()
        if char == "[":
            return self.sequence()
        if char == '"':
            return self.double()
        if char == "'":
            return self.single()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stops:
            after = self.text[self.pos + 1 : self.pos + 2]
            if key and self.text[self.pos] == ":" and after in ("", " "):
                break
            self.pos += 1
        return _plain(self.text[start : self.pos])

    def double(self) -> str:
        start = self.pos
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                try:
                    return str(json.loads(self.text[start : self.pos]))
                except ValueError as error:
                    problem = str(error)
                self.fail(f"bad double-quoted string ({problem})")
        self.fail("unterminated string")

    def single(self) -> str:
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "'":
                if self.text[self.pos : self.pos + 1] == "'":
                    out.append("'")
                    self.pos += 1
                    continue
                return "".join(out)
            out.append(char)
        self.fail("unterminated string")

    def sequence(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        while self.peek() != "]":
            if not self.peek():
                self.fail("expected ']'")
            items.append(self.value(",]"))
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                self.fail("expected ',' or ']'")
        self.pos += 1
        return items

    def mapping(self) -> dict[str, Any]:
        self.pos += 1
        items: dict[str, Any] = {}
        while self.peek() != "}":
            if not self.peek():
                self.fail("expected '}'")
            key = self.value(",}", key=True)
            if self.peek() != ":":
                self.fail("expected ':'")
            self.pos += 1
            if str(key) in items:
                self.fail(f"duplicate key {key!r}")
            items[str(key)] = self.value(",}")
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                self.fail("expected ',' or '}'")
        self.pos += 1
        return items

    def whole(self) -> Any:
        value = self.value("")
        if self.peek():
            self.fail("unexpected text after the value")
        return value


_KEY = re.compile(
    r"""(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'{}\[\],#|>-][^:]*?|-[^\s:][^:]*?)"""
    r"""\s*:(?:\s+(?P<rest>.*))?$"""
)


class _Reader:
    def __init__(self, text: str, where: str) -> None:
        self.raw = text.splitlines()
        self.where = where

    def fail(self, i: int, what: str) -> NoReturn:
        msg = f"{self.where}:{i + 1}: {what}"
        raise YamlError(msg)

    def next_line(self, i: int) -> int:
        while i < len(self.raw) and not _strip_comment(self.raw[i]).strip():
            i += 1
        return i

    def indent(self, i: int) -> int:
        line = self.raw[i]
        if "\t" in line[: len(line) - len(line.lstrip())]:
            self.fail(i, "tab in indentation")
        return len(line) - len(line.lstrip(" "))

    def text(self, i: int) -> str:
        return _strip_comment(self.raw[i]).strip()

    def read(self) -> Any:
        i = self.next_line(0)
        if i == len(self.raw):
            return None
        value, i = self.block(i, self.indent(i))
        i = self.next_line(i)
        if i != len(self.raw):
            self.fail(i, "unexpected indentation")
        return value

    def block(self, i: int, indent: int) -> tuple[Any, int]:
        if self.text(i) == "-" or self.text(i).startswith("- "):
            return self.sequence(i, indent)
        return self.mapping(i, indent)

    def sequence(self, i: int, indent: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while i < len(self.raw) and self.indent(i) == indent and self.text(i)[:2] in ("-", "- "):
            rest = self.text(i)[1:].strip()
            if not rest:
                j = self.next_line(i + 1)
                if j == len(self.raw) or self.indent(j) <= indent:
                    self.fail(i, "empty sequence item")
                value, i = self.block(j, self.indent(j))
            elif _KEY.match(rest) and rest[0] not in "{[\"'":
                # `- key: value` opens a mapping indented past the dash.
                self.raw[i] = " " * (indent + 2) + self.raw[i].lstrip()[1:].lstrip()
                value, i = self.mapping(i, indent + 2)
            else:
                value, i = _Flow(rest, f"{self.where}:{i + 1}").whole(), i + 1
            items.append(value)
            i = self.next_line(i)
        if i < len(self.raw) and self.indent(i) > indent:
            self.fail(i, "unexpected indentation")
        return items, i

    def mapping(self, i: int, indent: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        while i < len(self.raw) and self.indent(i) == indent:
            text = self.text(i)
            if text[:2] in ("-", "- "):
                break
            match = _KEY.match(text)
            if match is None:
                self.fail(i, f"expected `key: value`, got {text!r}")
            key = str(_Flow(match["key"], self.where).whole())
            if key in out:
                self.fail(i, f"duplicate key {key!r}")
            rest = match["rest"]
            if rest in ("|", "|-"):
                out[key], i = self.literal(i, indent, keep_newline=rest == "|")
            elif rest is not None and rest.startswith(("|", ">")):
                self.fail(i, f"unsupported block scalar {rest!r}")
            elif rest:
                out[key], i = _Flow(rest, f"{self.where}:{i + 1}").whole(), i + 1
            else:
                j = self.next_line(i + 1)
                if j < len(self.raw) and (
                    self.indent(j) > indent
                    or (self.indent(j) == indent and self.text(j)[:2] in ("-", "- "))
                ):
                    out[key], i = self.block(j, self.indent(j))
                else:
                    out[key], i = None, i + 1
            i = self.next_line(i)
        if i < len(self.raw) and self.indent(i) > indent:
            self.fail(i, "unexpected indentation")
        return out, i

    def literal(self, i: int, indent: int, *, keep_newline: bool) -> tuple[str, int]:
        lines: list[str] = []
        j = i + 1
        block_indent = None
        while j < len(self.raw):
            line = self.raw[j]
            if line.strip():
                this = len(line) - len(line.lstrip(" "))
                if this <= indent:
                    break
                block_indent = this if block_indent is None else block_indent
                if this < block_indent:
                    self.fail(j, "literal block line indented less than its first line")
                lines.append(line[block_indent:])
            else:
                lines.append("")
            j += 1
        while lines and not lines[-1]:
            lines.pop()
        if not lines:
            self.fail(i, "empty literal block")
        return "\n".join(lines) + ("\n" if keep_newline else ""), j


def load_yaml(text: str, where: str = "<yaml>") -> Any:
    """Read the YAML subset the case files use (see the module docstring)."""
    return _Reader(text, where).read()


# ── Loading the cases ────────────────────────────────────────────────────────────────────────

_KNOWN_KEYS = {
    "name", "description", "query", "records", "expected", "columns", "ordered", "dtypes",
    "error", "match", "now", "xfail",
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One named case of a case file."""

    file: str
    name: str
    query: str
    records: list[dict[str, Any]]
    expected: list[dict[str, Any]] | None = None
    columns: list[str] | None = None
    ordered: bool = True
    dtypes: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    match: str | None = None
    now: float | None = None
    xfail: dict[str, str] | None = None

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


def _exception(name: str) -> type[BaseException]:
    found = getattr(errors, name, None) or getattr(builtins, name, None)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        msg = f"unknown exception class {name!r}"
        raise YamlError(msg)
    return found


def _load(path: Path) -> list[Case]:
    data = load_yaml(path.read_text(encoding="utf-8"), path.name)
    if not isinstance(data, dict) or set(data) - {"description", "cases"}:
        msg = f"{path.name}: expected a mapping with `cases` (and an optional `description`)"
        raise YamlError(msg)
    cases, names = [], set()
    for body in data["cases"]:
        where = f"{path.name}::{body.get('name')}"
        unknown = set(body) - _KNOWN_KEYS
        if unknown:
            msg = f"{where}: unknown keys {sorted(unknown)}"
            raise YamlError(msg)
        if body["name"] in names:
            msg = f"{where}: duplicate case name"
            raise YamlError(msg)
        names.add(body["name"])
        if ("expected" in body) == ("error" in body):
            msg = f"{where}: give exactly one of `expected` and `error`"
            raise YamlError(msg)
        if "error" in body:
            _exception(body["error"])
            if "match" not in body:
                msg = f"{where}: an `error` case needs `match`"
                raise YamlError(msg)
        if body.get("xfail"):
            if set(body["xfail"]) != {"raises", "reason"}:
                msg = f"{where}: `xfail` takes `raises` and `reason`"
                raise YamlError(msg)
            _exception(body["xfail"]["raises"])
        if body.get("expected") == [] and not body.get("columns"):
            msg = f"{where}: an empty `expected` needs `columns`"
            raise YamlError(msg)
        body = {k: v for k, v in body.items() if k != "description"}
        body["records"] = body.get("records") or []
        cases.append(Case(file=path.stem, **body))
    return cases


def load_cases() -> list[Case]:
    """Every case of every case file, in file order."""
    return [case for path in sorted(CASES.glob("*.yaml")) for case in _load(path)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    params = []
    for case in load_cases():
        marks = []
        if case.xfail:
            raises = _exception(case.xfail["raises"])
            marks.append(pytest.mark.xfail(raises=raises, reason=case.xfail["reason"], strict=True))
        params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("case", params)


# ── Running and comparing ────────────────────────────────────────────────────────────────────


def build_record(partial: dict[str, Any]) -> dict[str, Any]:
    """A complete record from a partial one; ``-a.b: true`` deletes the field ``a.b``."""
    record = make_event(**{k: v for k, v in partial.items() if not k.startswith("-")})
    for key, flag in partial.items():
        if not key.startswith("-"):
            continue
        assert flag is True, f"{key}: a deletion key takes `true`"
        *parents, leaf = key[1:].split(".")
        target = record
        for part in parents:
            target = target[part]
        del target[leaf]
    return record


def _cell(value: Any, dtype: pl.DataType) -> Any:
    if isinstance(value, datetime):
        assert isinstance(dtype, pl.Datetime), dtype
        assert dtype.time_unit == "ms" and dtype.time_zone == "UTC", (
            f"timestamps must be Datetime(ms, UTC), got {dtype}"
        )
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return value


def _same(expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, bool) or isinstance(got, bool):
        return False  # booleans are 1/0 in results, and written 1/0 in cases
    if isinstance(expected, int | float):
        if not isinstance(got, int | float):
            return False
        return math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-12)
    return type(expected) is type(got) and expected == got


def test_case(case: Case) -> None:
    source = records_frame([build_record(r) for r in case.records])
    if case.error is not None:
        assert case.match is not None
        # Not pytest.raises: its "DID NOT RAISE" is no AssertionError, and a query the compiler
        # wrongly accepts is pinned with `xfail: {raises: AssertionError}`.
        raised: BaseException | None = None
        try:
            cloudtrail_hunt.query(case.query, source, now=case.now)
        except _exception(case.error) as error:
            raised = error
        assert raised is not None, f"the query did not raise {case.error}"
        assert re.search(case.match, str(raised)), f"{case.match!r} not in {str(raised)!r}"
        return
    result = cloudtrail_hunt.query(case.query, source, now=case.now)
    assert case.expected is not None
    columns = case.columns or (list(case.expected[0]) if case.expected else [])
    assert result.columns == columns, f"columns {result.columns} != {columns}"
    for row in case.expected:
        assert list(row) == columns, f"expected row {row} does not have the columns {columns}"
    for name, dtype in case.dtypes.items():
        got = result.schema[name]
        assert str(got).split("(")[0] == dtype, f"{name}: dtype {got} != {dtype}"
    rows = [
        {name: _cell(v, result.schema[name]) for name, v in row.items()}
        for row in result.iter_rows(named=True)
    ]
    message = f"\nexpected {case.expected}\n     got {rows}"
    assert len(rows) == len(case.expected), message
    if case.ordered:
        for want, have in zip(case.expected, rows, strict=True):
            assert all(_same(want[c], have[c]) for c in columns), message
        return
    unmatched = list(rows)
    for want in case.expected:
        hit = next(
            (i for i, got in enumerate(unmatched) if all(_same(want[c], got[c]) for c in columns)),
            None,
        )
        assert hit is not None, f"no result row matches {want}{message}"
        unmatched.pop(hit)


# ── The reader and the comparison must themselves be able to fail ────────────────────────────


def test_yaml_reader_reads_the_subset() -> None:
    text = """
# comment
cases:
  - name: a   # trailing comment
    query: |
      fields x  # kept: inside a literal block
      | filter y = "#"
    records:
      - {eventName: "A#1", 'user.x': 'it''s', n: 3, f: 2.5, z: null, b: true}
    expected: [{x: "012"}, {x: 012}]
"""
    data = load_yaml(text)
    case = data["cases"][0]
    assert case["name"] == "a"
    assert case["query"] == 'fields x  # kept: inside a literal block\n| filter y = "#"\n'
    assert case["records"] == [
        {"eventName": "A#1", "user.x": "it's", "n": 3, "f": 2.5, "z": None, "b": True}
    ]
    assert case["expected"] == [{"x": "012"}, {"x": 12}]


@pytest.mark.parametrize(
    "text",
    ["a: {b: 1", "a: [1, 2", "a: 1\na: 2", "a: >\n  x", "a:\n\tb: 1", 'a: "x'],
    ids=["open-map", "open-list", "duplicate", "folded", "tab", "open-string"],
)
def test_yaml_reader_rejects_what_it_does_not_understand(text: str) -> None:
    with pytest.raises(YamlError):
        load_yaml(text)


def test_values_compare_by_type() -> None:
    assert _same(3, 3.0)
    assert not _same(3, "3")
    assert not _same("3", 3)
    assert not _same(1, True)
    assert not _same(None, "")
    assert _same(None, None)


def test_deleting_a_field_of_a_record() -> None:
    record = build_record({"-userIdentity.accessKeyId": True, "eventName": "X"})
    assert "accessKeyId" not in record["userIdentity"]
    assert record["eventName"] == "X"


def test_every_case_file_loads_and_has_cases() -> None:
    files = sorted(CASES.glob("*.yaml"))
    assert files
    for path in files:
        assert _load(path), path.name
    assert len({c.id for c in load_cases()}) == len(load_cases())


# ── Coverage of the language by the cases ────────────────────────────────────────────────────


def _used() -> tuple[set[str], set[str], set[str]]:
    """Function names, operators and commands that passing (non-error) cases use."""
    from cloudtrail_hunt.query import ir
    from cloudtrail_hunt.query.lower import walk
    from cloudtrail_hunt.query.parser import parse

    calls: set[str] = set()
    ops: set[str] = set()
    commands: set[str] = set()
    for case in load_cases():
        if case.error is not None or case.xfail:
            continue
        query = parse(case.query)
        exprs: list[ir.Expr] = []
        for command in query.commands:
            commands.add(type(command).__name__.lower())
            match command:
                case ir.Fields(items=items) | ir.Display(items=items):
                    exprs += [i.expr for i in items]
                case ir.Stats(aggregations=aggs, by=by):
                    exprs += [i.expr for i in (*aggs, *by)]
                case ir.Filter(condition=condition):
                    exprs.append(condition)
                case ir.Sort(keys=keys):
                    exprs += [k.expr for k in keys]
                case ir.Unnest(expr=expr):
                    exprs.append(expr)
        for node in (n for e in exprs for n in walk(e)):
            match node:
                case ir.Call(name=name):
                    calls.add(name)
                case ir.Binary(op=op):
                    ops.add(op.lower())
                case ir.Like(pattern=pattern, negated=negated):
                    kind = "regex" if isinstance(pattern, ir.Regex) else "string"
                    ops.add(f"{'not like' if negated else 'like'} {kind}")
                case ir.In(items=values, negated=negated):
                    ops.add("not in" if negated else "in")
                    if len({type(i) for i in values.items}) > 1:
                        ops.add("in mixed list")
                case ir.Not():
                    ops.add("not")
                case ir.Negate():
                    ops.add("unary -")
    return calls, ops, commands


def test_every_function_and_aggregation_has_a_passing_case() -> None:
    from cloudtrail_hunt.query.aggregates import AGGREGATES
    from cloudtrail_hunt.query.functions import FUNCTIONS

    calls, _, _ = _used()
    assert set(FUNCTIONS) - calls == set()
    assert set(AGGREGATES) - calls == set()


def test_every_operator_has_a_passing_case() -> None:
    _, ops, _ = _used()
    wanted = {
        "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "^", "and", "or", "not",
        "unary -", "like string", "like regex", "not like string", "not like regex", "in",
        "not in", "in mixed list",
    }  # fmt: skip
    assert wanted - ops == set()


def test_every_command_and_spelling_has_a_passing_case() -> None:
    _, _, commands = _used()
    wanted = {"fields", "display", "filter", "stats", "sort", "limit", "parse", "dedup", "unnest"}
    assert wanted - commands == set()
    texts = [c.query for c in load_cases() if c.error is None and not c.xfail]
    for spelling in (r"\bwhere\b", r"\bfilterIndex\b", "=~", r"\blimit any\b", r"\bunmask\(",
                     "#", r"\basc\b", r"\bdesc\b", r"\bbin\("):  # fmt: skip
        assert any(re.search(spelling, t) for t in texts), spelling
