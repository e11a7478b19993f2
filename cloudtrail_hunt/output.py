"""Writes result tables (query results, findings) as a terminal table, JSON, CSV or Parquet.

Every cell is log-derived and attacker-controlled: terminal cells are escaped and printed as
plain text (never rich markup), CSV cells that a spreadsheet would run as a formula are
neutralised (OWASP "CSV injection"), JSON is produced by the json module.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime
from typing import IO, Any

import polars as pl

from cloudtrail_hunt.escape import csv_safe, escape_for_terminal

FORMATS = ("table", "json", "jsonl", "csv", "parquet")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def display_value(value: Any) -> Any:
    """A cell as CloudWatch shows it: instants as ``YYYY-MM-DD HH:MM:SS.mmm`` (UTC)."""
    if isinstance(value, datetime):
        return value.strftime(_TIME_FORMAT)[:-3]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def write(frame: pl.DataFrame, fmt: str, out: IO[bytes] | None = None) -> None:
    """Write `frame` to `out` (default stdout) in `fmt`, one of :data:`FORMATS`."""
    binary = out if out is not None else sys.stdout.buffer
    if fmt == "parquet":
        frame.write_parquet(binary)
        return
    text = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=True)
    try:
        if fmt == "table":
            _table(frame, text)
        elif fmt == "json":
            rows = [_json_row(row) for row in frame.iter_rows(named=True)]
            text.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        elif fmt == "jsonl":
            for row in frame.iter_rows(named=True):
                text.write(json.dumps(_json_row(row), ensure_ascii=False) + "\n")
        elif fmt == "csv":
            writer = csv.writer(text)
            writer.writerow(frame.columns)  # named by the query, not by log content
            for values in frame.iter_rows():
                writer.writerow([csv_safe(display_value(v)) for v in values])
        else:
            msg = f"unknown format {fmt!r}; expected one of {', '.join(map(repr, FORMATS))}"
            raise ValueError(msg)
    finally:
        text.detach()


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: display_value(v) for k, v in row.items()}


def _table(frame: pl.DataFrame, out: IO[str]) -> None:
    # rich is imported for tables only: machine formats and start-up do without it.
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False)
    for name in frame.columns:
        table.add_column(Text(escape_for_terminal(name, 60)), overflow="fold")
    for row in frame.iter_rows():
        cells = ["" if v is None else escape_for_terminal(str(display_value(v)), 200) for v in row]
        table.add_row(*(Text(c) for c in cells))
    console = Console(file=out, width=None if out.isatty() else 200)
    console.print(table)
    console.print(Text(f"{frame.height:,} row{'' if frame.height == 1 else 's'}"))
