"""Where events came from: the source objects the lake's ingest ledger recorded for them.

The one place the workbench reads the ledger, so a change of ledger (to Delta tables) rewires
this function alone.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from cloudtrail_hunt.lake import Lake

OBJECT_SCHEMA = {"source": pl.String, "key": pl.String, "etag": pl.String, "size": pl.Int64}


def source_objects(lake: Lake | None, uris: Collection[str]) -> pl.DataFrame:
    """Key, ETag and size of each ingested object among `uris` (none without a lake).

    An object re-delivered with new content was ingested under each ETag; both rows are kept.
    """
    if lake is None or not uris:
        return pl.DataFrame(schema=OBJECT_SCHEMA)
    ledger = lake.read_table("ledger").filter(pl.col("uri").is_in(sorted(set(uris))))
    return (
        ledger.select(pl.col("uri").alias("source"), "key", "etag", "size")
        .cast(OBJECT_SCHEMA)  # type: ignore[arg-type]
        .unique()
        .sort("source", "etag")
    )
