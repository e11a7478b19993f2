"""`lake upgrade`: rewrite a lake of the old layout (schema 2, a hand-written `_ledger`) as Delta.

The old layout: Hive-partitioned Parquet under ``events/account=…/region=…/day=…/`` and
``insights/…``, made visible by JSON commits in ``_ledger/commits/<seq>-<batch>.json`` (files
added and removed, objects read), folded now and then into ``_ledger/checkpoint/<seq>.*``;
quarantine, duplicates and digests as ``_ledger/<name>/<batch>.parquet``. Only committed files
and side tables are read, exactly as the old readers did; this module is the only code left
that knows that layout.

The new lake is written with the ingest's own protocol (one group: data tables, then the
ledger), so an upgrade cut short is reconciled by the next ingest or upgrade into the same lake.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import xxhash

from cloudtrail_hunt import schema as S
from cloudtrail_hunt.errors import LakeError
from cloudtrail_hunt.ingest import lake as writer
from cloudtrail_hunt.lake import EVENT_TABLES, LEDGER_TABLES, Lake

_OLD = "_ledger"
_HIVE = {"account": pl.String(), "region": pl.String(), "day": pl.Date()}
#: Columns of schema 2 files added after schema 1, read as null when missing.
_OBJECT_FIELDS = tuple(n for n in LEDGER_TABLES["ledger"] if n != "batch")


@dataclass(slots=True)
class UpgradeSummary:
    """What an upgrade wrote."""

    lake: str
    events: int = 0
    insights: int = 0
    objects: int = 0


def _old_state(root: Path) -> tuple[dict[str, str], list[dict[str, object]], set[str]]:
    """Replay the old ledger: live files (path -> table), objects, committed batch ids."""
    ledger = root / _OLD
    live: dict[str, str] = {}
    objects: dict[tuple[str, str], dict[str, object]] = {}
    marks = sorted(int(p.stem) for p in (ledger / "checkpoint").glob("*.json"))
    done = marks[-1] if marks else None
    if done is not None:
        base = ledger / "checkpoint" / f"{done:010d}"
        for row in pl.read_parquet(f"{base}.files.parquet").iter_rows(named=True):
            live[row["path"]] = row["table"]
        for row in pl.read_parquet(f"{base}.objects.parquet").iter_rows(named=True):
            objects[row["uri"], row["etag"]] = row
    batches: set[str] = set()
    commits = []
    for path in (ledger / "commits").glob("*.json"):
        seq, _, batch = path.stem.partition("-")
        commits.append((int(seq), batch, path))
        batches.add(batch)
    for seq, _, path in sorted(commits):
        if done is not None and seq <= done:
            continue
        commit = json.loads(path.read_bytes())
        for removed in commit["removed"]:
            live.pop(removed, None)
        for added in commit["added"]:
            live[added["path"]] = added["table"]
        for obj in commit["objects"]:
            objects[obj["uri"], obj["etag"]] = obj
    return live, list(objects.values()), batches


def _old_side_table(root: Path, name: str, batches: set[str]) -> pl.DataFrame:
    paths = sorted(p for p in (root / _OLD / name).glob("*.parquet") if p.stem in batches)
    if not paths:
        return pl.DataFrame(schema=LEDGER_TABLES[name])
    return pl.read_parquet(paths)


def upgrade(old: str | Path, new: str | Path | Lake) -> UpgradeSummary:
    """Rewrite the old-layout lake `old` into a new Delta lake `new` (which must not exist yet).

    Every committed row is copied with its `message` and every column; account ids stay text.
    """
    root = Path(old)
    if not (root / _OLD).is_dir():
        msg = "not a lake of the old layout (no `_ledger` folder)"
        raise LakeError(str(root), msg, "`lake upgrade` reads lakes written before Delta")
    lake = Lake.open(new)
    if lake.exists():
        raise LakeError(lake.uri, "already a lake", "give a new folder to upgrade into")
    live, objects, batches = _old_state(root)
    group = "upgrade-" + xxhash.xxh3_64_hexdigest("\n".join(sorted(live)).encode())
    summary = UpgradeSummary(lake.uri)
    with lake.writer_lock():
        writer.ensure_tables(lake)
        writer.reconcile(lake)
        for table in EVENT_TABLES:
            paths = sorted(str(root / p) for p, t in live.items() if t == table)
            if not paths:
                continue
            frame = (
                pl.scan_parquet(
                    paths,
                    schema=S.event_schema(),
                    missing_columns="insert",
                    hive_partitioning=True,
                    hive_schema=_HIVE,
                )
                .select(S.lake_schema().names())
                .with_columns(pl.lit(group).alias(S.BATCH))
                .collect()
            )
            writer.write_event_table(lake, table, frame, group)
            setattr(summary, table, frame.height)
        for name in ("quarantine", "duplicates", "digests"):
            side = _old_side_table(root, name, batches).with_columns(pl.lit(group).alias("batch"))
            writer.write_rows(lake, name, side.select(list(LEDGER_TABLES[name])).rows(), group)
        rows = [(*(o.get(f) for f in _OBJECT_FIELDS), group) for o in objects]
        writer.write_rows(lake, "ledger", rows, group)
        summary.objects = len(rows)
    return summary
