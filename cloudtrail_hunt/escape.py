"""Escaping of log-derived text for every place it is shown: terminal, CSV, charts and HTML.

Log content is attacker-controlled (STYLE.md §1, §6): a `userAgent`, an object key or a policy
document can carry ANSI escape sequences, carriage returns, bidi overrides, spreadsheet formulas
or HTML. Nothing from a log reaches a terminal, a CSV cell, a chart or a page without passing
through this module. It imports nothing of the project, so every layer may use it.
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["csv_safe", "escape_for_terminal", "html_script_safe"]

#: Short escapes for the control characters people recognise.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: Unicode categories that change how text is displayed rather than adding glyphs: C0/C1 controls
#: (Cc, which includes ESC), format characters such as bidi overrides and zero-width spaces (Cf),
#: line/paragraph separators (Zl, Zp), and lone surrogates left by `surrogateescape` (Cs).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

_ELLIPSIS = "…"


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    if unicodedata.category(ch) not in _UNSAFE_CATEGORIES:
        return ch
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_for_terminal(text: str, limit: int | None = 80) -> str:
    r"""Return `text` safe to print: control and format characters escaped, cut to `limit`.

    Parameters
    ----------
    text
        Any string, typically a value read from a log or an object key.
    limit
        Maximum length of the result, counted after escaping, including the trailing "…" that
        marks a cut. An escape sequence is never split. `None` keeps the whole text.

    Returns
    -------
    str
        The escaped (and possibly shortened) text. Printable characters, including non-ASCII
        letters, are kept as they are; backslashes are not doubled.

    Examples
    --------
    >>> escape_for_terminal("curl/8.0\x1b[31m red")
    'curl/8.0\\x1b[31m red'
    >>> escape_for_terminal("line one\nline two")
    'line one\\nline two'
    >>> escape_for_terminal("a" * 10, limit=5)
    'aaaa…'
    """
    if limit is not None and limit < 1:
        msg = f"limit must be at least 1, got {limit!r}"
        raise ValueError(msg)
    pieces = [_escape_char(ch) for ch in text]
    if limit is None:
        return "".join(pieces)
    total = sum(map(len, pieces))
    if total <= limit:
        return "".join(pieces)
    out: list[str] = []
    used = 0
    budget = limit - len(_ELLIPSIS)
    for piece in pieces:
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    out.append(_ELLIPSIS)
    return "".join(out)


#: A cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value: Any) -> Any:
    """Prefix a quote to text a spreadsheet would evaluate as a formula (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def html_script_safe(json_text: str) -> str:
    r"""Make JSON text safe inside an HTML ``<script>`` element, keeping the same JSON value.

    ``<``, ``>`` and ``&`` become ``\u003c``-style escapes, so a log value holding
    ``</script><script>…`` stays a string of the data and never closes the element.

    >>> html_script_safe('{"a": "</script>"}')
    '{"a": "\\u003c/script\\u003e"}'
    """
    return json_text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
