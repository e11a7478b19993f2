"""The quarantine report: every object and record ingest could not load, with the reason.

Entries are written per batch by the pipeline (`_ledger/quarantine/<batch>.parquet`); this module
reads them back for people (a table) and scripts (JSON Lines). An entry's `index` is the record's
position in its object, or null when the object as a whole could not be read.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cloudtrail_hunt.ingest.manifest import Ledger


def quarantine_report(lake: str | Path) -> pl.DataFrame:
    """Return the quarantine entries of every committed batch: source, index, reason, batch."""
    return Ledger(Path(lake)).side_table("quarantine").sort("source", "index", nulls_last=False)


def duplicates_report(lake: str | Path) -> pl.DataFrame:
    """Return the records not stored because the lake already held the same event."""
    return Ledger(Path(lake)).side_table("duplicates").sort("source", "index")
