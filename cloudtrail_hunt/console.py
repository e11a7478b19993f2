"""Terminal output: rich progress and tables; log-derived text passes cloudtrail_hunt.escape.

Log content is attacker-controlled (STYLE.md §1, §6): a `userAgent`, an object key or a policy
document can carry ANSI escape sequences, carriage returns or bidi overrides that would rewrite
what an analyst sees. Nothing from a log reaches a terminal without `escape_for_terminal`.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from cloudtrail_hunt.escape import escape_for_terminal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from cloudtrail_hunt.ingest.pipeline import IngestSummary

__all__ = ["escape_for_terminal", "progress_bar", "summary_table"]


@contextlib.contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Show a rich progress bar on stderr; yield the callback that advances it (done, total)."""
    if not enabled or not sys.stderr.isatty():  # a log file or a pipe gets the summary only
        yield lambda done, total: None
        return
    # rich is imported when a bar is shown: batch runs and start-up do without it.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def summary_table(summary: IngestSummary, lake: Path) -> None:
    """Print an ingest summary as a table, with where to find the quarantine report."""
    from rich.console import Console
    from rich.table import Table

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
