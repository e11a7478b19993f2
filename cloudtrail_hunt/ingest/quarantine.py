"""The quarantine report: every object and record ingest could not load, with the reason.

Entries are appended per commit group by the pipeline (the lake's `quarantine` Delta table); this
module reads them back for people (a table) and scripts (JSON Lines). An entry's `index` is the
record's position in its object, or null when the object as a whole could not be read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudtrail_hunt.lake import Lake

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl


def quarantine_report(lake: str | Path | Lake) -> pl.DataFrame:
    """Return the quarantine entries of every committed group: source, index, reason, batch."""
    table = Lake.open(lake).read_table("quarantine")
    return table.sort("source", "index", nulls_last=False)


def duplicates_report(lake: str | Path | Lake) -> pl.DataFrame:
    """Return the records not stored because the lake already held the same event."""
    return Lake.open(lake).read_table("duplicates").sort("source", "index")
