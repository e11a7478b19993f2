"""The ingest ledger: which source objects and which files are in the lake, committed per batch.

A batch is committed by one atomic write of ``_ledger/commits/<batch>.json``, listing the source
objects it read and the lake files it added or removed. Until then its files are invisible to
readers (they read the committed file list) and are listed in ``_ledger/pending/<batch>.json``,
so an ingest killed at any point is undone by :meth:`Ledger.recover` and redone by the rerun.
Quarantined records, duplicates and digest files of a batch sit beside it as Parquet tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import schema as S

if TYPE_CHECKING:
    from collections.abc import Iterator

_LEDGER = "_ledger"
#: Side tables of a batch, with their schemas.
SIDE_TABLES: dict[str, dict[str, pl.DataType]] = {
    "quarantine": {
        "source": pl.String(),
        "index": pl.Int64(),  # null: the object as a whole could not be read
        "reason": pl.String(),
        "batch": pl.String(),
    },
    "duplicates": {
        "source": pl.String(),
        "index": pl.Int64(),
        S.DEDUP_KEY: pl.Binary(),
        "table": pl.String(),
        "batch": pl.String(),
    },
    "digests": {"source": pl.String(), "digest": pl.String(), "batch": pl.String()},
}


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One committed Parquet file of a lake table."""

    table: str
    path: str  # relative to the lake root
    account: str
    region: str
    day: date
    rows: int

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form stored in a commit."""
        return {**asdict(self), "day": self.day.isoformat()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> LakeFile:
        """Read the JSON form stored in a commit."""
        return cls(**{**obj, "day": date.fromisoformat(obj["day"])})


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    """One source object as the ledger knows it."""

    uri: str
    key: str
    etag: str
    size: int
    kind: str  # events | digest | insight | unknown, from the key layout
    records: int  # record units found in it
    stored: int
    duplicates: int
    quarantined: int  # records rejected; an unreadable object counts in `unreadable`
    unreadable: bool


@dataclass(slots=True)
class Snapshot:
    """The committed state: live files and ingested objects."""

    files: list[LakeFile] = field(default_factory=list)
    objects: dict[tuple[str, str], ObjectEntry] = field(default_factory=dict)
    batches: list[str] = field(default_factory=list)


class Ledger:
    """Reads and writes the ledger of one local lake."""

    def __init__(self, lake: Path) -> None:
        self.lake = Path(lake)
        self.root = self.lake / _LEDGER

    def _dir(self, name: str) -> Path:
        return self.root / name

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the lake's writer lock: one ingest or compaction at a time."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _commits(self) -> list[dict[str, Any]]:
        folder = self._dir("commits")
        if not folder.is_dir():
            return []
        commits = [json.loads(p.read_bytes()) for p in folder.glob("*.json")]
        return sorted(commits, key=lambda c: c["seq"])

    def snapshot(self) -> Snapshot:
        """Return the committed files and objects, replaying commits in order."""
        snap = Snapshot()
        live: dict[str, LakeFile] = {}
        for commit in self._commits():
            snap.batches.append(commit["batch"])
            for path in commit["removed"]:
                live.pop(path, None)
            for obj in commit["added"]:
                f = LakeFile.from_json(obj)
                live[f.path] = f
            for obj in commit["objects"]:
                entry = ObjectEntry(**obj)
                snap.objects[(entry.uri, entry.etag)] = entry
        snap.files = sorted(live.values(), key=lambda f: f.path)
        return snap

    def begin(self, batch: str, paths: list[str]) -> None:
        """Record the files a batch is about to write, before it writes any."""
        from cloudtrail_hunt.ingest.lake import write_atomic

        body = json.dumps({"batch": batch, "paths": paths}).encode()
        write_atomic(
            self._dir("pending") / f"{batch}.json", lambda tmp: Path(tmp).write_bytes(body)
        )

    def write_side_table(self, name: str, batch: str, rows: list[tuple[Any, ...]]) -> None:
        """Write a batch's quarantine, duplicates or digests table (before its commit)."""
        from cloudtrail_hunt.ingest.lake import write_atomic

        if not rows:
            return
        frame = pl.DataFrame(rows, schema=SIDE_TABLES[name], orient="row")
        write_atomic(
            self._dir(name) / f"{batch}.parquet",
            lambda tmp: frame.write_parquet(tmp, compression="zstd"),
        )

    def commit(
        self,
        batch: str,
        objects: list[ObjectEntry],
        added: list[LakeFile],
        removed: list[str] = (),  # type: ignore[assignment]
    ) -> None:
        """Make a batch visible: one atomic write of its commit record, then drop its intent."""
        from cloudtrail_hunt.ingest.lake import write_atomic

        folder = self._dir("commits")
        seq = len(list(folder.glob("*.json"))) if folder.is_dir() else 0
        body = json.dumps(
            {
                "batch": batch,
                "seq": seq,
                "schema_version": S.SCHEMA_VERSION,
                "objects": [asdict(o) for o in objects],
                "added": [f.to_json() for f in added],
                "removed": list(removed),
            }
        ).encode()
        write_atomic(folder / f"{batch}.json", lambda tmp: Path(tmp).write_bytes(body))
        for path in removed:
            (self.lake / path).unlink(missing_ok=True)
        (self._dir("pending") / f"{batch}.json").unlink(missing_ok=True)

    def recover(self) -> list[str]:
        """Undo every batch that began and never committed; return the files removed."""
        pending = self._dir("pending")
        removed: list[str] = []
        if not pending.is_dir():
            return removed
        committed = {p.stem for p in self._dir("commits").glob("*.json")}
        live = {f.path for f in self.snapshot().files}
        for intent in sorted(pending.glob("*.json")):
            batch = intent.stem
            if batch not in committed:
                paths = json.loads(intent.read_bytes())["paths"]
                for path in paths:
                    if path not in live and (self.lake / path).exists():
                        (self.lake / path).unlink()
                        removed.append(path)
                for name in SIDE_TABLES:
                    (self._dir(name) / f"{batch}.parquet").unlink(missing_ok=True)
            intent.unlink()
        for tmp in self.lake.rglob(".tmp-*"):  # writes cut short before their rename
            tmp.unlink(missing_ok=True)
        return removed

    def side_table(self, name: str) -> pl.DataFrame:
        """Return a side table (quarantine, duplicates, digests) of every committed batch."""
        committed = {p.stem for p in self._dir("commits").glob("*.json")}
        paths = sorted(p for p in self._dir(name).glob("*.parquet") if p.stem in committed)
        if not paths:
            return pl.DataFrame(schema=SIDE_TABLES[name])
        return pl.read_parquet(paths)
