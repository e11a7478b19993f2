"""The lake's write side: create the Delta tables, append a commit group, reconcile a crash.

Last stage of ingest (list → decode → normalize → **lake**). The unit of commit is a *group* of
batches: its events, insights, quarantine, duplicates and digests are appended (one Delta commit
per table), and then its ledger rows, in one last commit. **The ledger commit is the one that
makes the group count**: until it lands, the group's objects are not "ingested", and every row
the group wrote carries its id (`ingest_batch` / `batch`). An ingest killed between the two
leaves rows of a group the ledger does not know; the next ingest deletes them before it plans
(`reconcile`), then redoes the group, so the rerun converges to one clean run's lake.

Orphans are found from the Delta log alone: a group writes its own files, whose
`ingest_batch` statistics have min = max = the group id, and compaction only ever merges
committed groups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.lake import (
    EVENT_TABLES,
    LEDGER_TABLES,
    PARTITION_BY,
    Lake,
    latest_event,
    latest_time,
    scan,
    to_utc,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import date

__all__ = [
    "ensure_tables",
    "known_keys",
    "latest_event",
    "latest_time",
    "reconcile",
    "scan",
    "to_utc",
    "write_event_table",
    "write_rows",
]

#: Rows per Parquet row group: a day is clustered by account, region and time, so a one-account
#: scan reads the few row groups whose account statistics match, not the day.
ROW_GROUP_ROWS = 8192
#: Columns whose statistics the Delta log keeps per file (delta-rs keeps the first 32 columns by
#: default, and ours are more): time and the clustering columns prune files; the group id finds
#: orphans.
STATS_COLUMNS = ("eventTime", "account", "region", "eventName", "eventSource", S.BATCH)
#: Clustering order inside a day.
CLUSTER_BY = ("account", "region", S.EVENT_TIME, S.SOURCE, S.SOURCE_INDEX)


#: Columns of (nearly) unique values: a dictionary only costs time there (measured: 25% less
#: CPU to write with it off for all columns), and statistics of long text prune nothing.
UNIQUE_TEXT = (
    S.MESSAGE,
    S.ENVELOPE,
    S.DEDUP_KEY,
    "eventID",
    "requestID",
    "sharedEventID",
    *S.JSON_FIELDS,
    "requestParameters.policyDocument",
)


def writer_properties() -> Any:
    """zstd level 1, small row groups, no dictionary or statistics for unique text columns."""
    from deltalake import ColumnProperties, WriterProperties

    plain = ColumnProperties(dictionary_enabled=False, statistics_enabled="NONE")
    return WriterProperties(
        compression="ZSTD",
        compression_level=1,
        max_row_group_size=ROW_GROUP_ROWS,
        column_properties=dict.fromkeys(UNIQUE_TEXT, plain),
    )


def _empty(name: str) -> pl.DataFrame:
    if name in EVENT_TABLES:
        return pl.DataFrame(schema=S.lake_schema())
    return pl.DataFrame(schema=LEDGER_TABLES[name])


def ensure_tables(lake: Lake) -> None:
    """Create every missing table of the lake, empty, so readers never meet a missing table."""
    from deltalake import DeltaTable

    for name in (*EVENT_TABLES, *LEDGER_TABLES):
        if lake.has_table(name):
            continue
        config = {"delta.dataSkippingStatsColumns": ",".join(STATS_COLUMNS)}
        DeltaTable.create(
            lake.table_uri(name),
            _empty(name).to_arrow().schema,
            partition_by=PARTITION_BY if name in EVENT_TABLES else None,
            configuration=config if name in EVENT_TABLES else None,
            storage_options=lake.storage_options or None,
            mode="ignore",  # a concurrent first ingest may have created it meanwhile
        )


def _commit_properties(group: str) -> Any:
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata={"cloudtrail_hunt.group": group})


def write_event_table(
    lake: Lake, name: str, frame: pl.DataFrame, group: str, *, clustered: bool = False
) -> None:
    """Append rows to `events` or `insights`, clustered by day, account, region, time.

    `clustered` says the rows already are in that order (ingest builds them so).
    """
    from deltalake import write_deltalake

    if frame.is_empty():
        return
    data = frame.select(S.lake_schema().names())
    if not clustered:
        data = data.sort("day", *CLUSTER_BY)
    write_deltalake(
        lake.table_uri(name),
        data,
        mode="append",
        partition_by=PARTITION_BY,
        storage_options=lake.storage_options or None,
        writer_properties=writer_properties(),
        commit_properties=_commit_properties(group),
    )


def write_rows(lake: Lake, name: str, rows: list[tuple[Any, ...]], group: str) -> None:
    """Append rows to a bookkeeping table (ledger, quarantine, duplicates, digests)."""
    from deltalake import write_deltalake

    if not rows:
        return
    frame = pl.DataFrame(rows, schema=LEDGER_TABLES[name], orient="row")
    write_deltalake(
        lake.table_uri(name),
        frame,
        mode="append",
        storage_options=lake.storage_options or None,
        commit_properties=_commit_properties(group),
    )


def committed_groups(lake: Lake) -> set[str]:
    """The ids of every group the ledger holds."""
    return set(lake.scan_table("ledger").select("batch").unique().collect()["batch"])


def _single_group_files(lake: Lake, name: str) -> set[str]:
    """Group ids of files written by one group alone (min = max of `ingest_batch`)."""
    actions = pl.DataFrame(lake.table(name, latest=True).get_add_actions(flatten=True))
    lo, hi = f"min.{S.BATCH}", f"max.{S.BATCH}"
    if actions.is_empty() or lo not in actions.columns:
        return set()
    same = actions.filter(pl.col(lo) == pl.col(hi))
    return set(same[lo].drop_nulls())


def reconcile(lake: Lake) -> list[str]:
    """Delete the rows of groups that wrote data but whose ledger commit never landed.

    Returns the group ids removed. Run under the writer lock, before planning an ingest.
    """
    committed = committed_groups(lake)
    orphans: set[str] = set()
    for name in EVENT_TABLES:
        orphans |= _single_group_files(lake, name) - committed
    for name in ("quarantine", "duplicates", "digests"):
        found = lake.scan_table(name).select("batch").unique().collect()["batch"]
        orphans |= set(found) - committed
    if not orphans:
        return []
    listed = ", ".join(f"'{g}'" for g in sorted(orphans))
    for name in EVENT_TABLES:
        lake.table(name, latest=True).delete(f"{S.BATCH} IN ({listed})")
    for name in ("quarantine", "duplicates", "digests"):
        lake.table(name, latest=True).delete(f"batch IN ({listed})")
    return sorted(orphans)


def known_keys(lake: Lake, name: str, days: Iterable[date]) -> pl.DataFrame:
    """The dedup keys stored for `days` in table `name`: day, account, region, dedup_key."""
    wanted = sorted(set(days))
    frame = lake.scan_table(name).filter(pl.col("day").is_in(wanted))
    return frame.select("day", "account", "region", S.DEDUP_KEY).collect()
