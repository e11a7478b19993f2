"""Terminal output: rich progress and tables, and the escaping all log-derived text passes.

Log content is attacker-controlled (STYLE.md §1, §6): a `userAgent`, an object key or a policy
document can carry ANSI escape sequences, carriage returns or bidi overrides that would rewrite
what an analyst sees. Nothing from a log reaches a terminal without `escape_for_terminal`.
"""

from __future__ import annotations

import contextlib
import unicodedata
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from cloudtrail_hunt.ingest.pipeline import IngestSummary

__all__ = ["escape_for_terminal", "progress_bar", "summary_table"]

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


@contextlib.contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Show a rich progress bar on stderr; yield the callback that advances it (done, total)."""
    if not enabled:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def summary_table(summary: IngestSummary, lake: Path) -> None:
    """Print an ingest summary as a table, with where to find the quarantine report."""
    table = Table(title=f"ingest into {escape_for_terminal(str(lake), 200)}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in summary.as_dict().items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    table.add_row("rows stored", f"{summary.stored:,}")
    console = Console()
    console.print(table)
    if summary.quarantined_objects or summary.quarantined_records:
        console.print(
            "quarantine report: `cloudtrail-hunt quarantine "
            f"{escape_for_terminal(str(lake), 200)}`",
            markup=False,
        )
