"""Where events came from: the source objects the lake's ingest ledger recorded for them.

The one place the workbench reads the ledger, so a change of ledger (to Delta tables) rewires
this function alone.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import polars as pl

from cloudtrail_hunt.ingest.manifest import Ledger

OBJECT_SCHEMA = {"source": pl.String, "key": pl.String, "etag": pl.String, "size": pl.Int64}


def source_objects(lake: Path | None, uris: Collection[str]) -> pl.DataFrame:
    """Key, ETag and size of each ingested object among `uris` (none without a lake).

    An object re-delivered with new content was ingested under each ETag; both rows are kept.
    """
    if lake is None or not uris:
        return pl.DataFrame(schema=OBJECT_SCHEMA)
    wanted = set(uris)
    rows = [
        (entry.uri, entry.key, entry.etag, entry.size)
        for entry in Ledger(Path(lake)).snapshot().objects.values()
        if entry.uri in wanted
    ]
    return pl.DataFrame(rows, schema=OBJECT_SCHEMA, orient="row").sort("source", "etag")
