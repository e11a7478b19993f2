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
    commits_since_checkpoint: int = 0


class Ledger:
    """Reads and writes the ledger of one local lake."""

    def __init__(self, lake: Path) -> None:
        self.lake = Path(lake)
        self.root = self.lake / _LEDGER
        self._next_seq: int | None = None  # cached under the writer lock

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

    def _commit_files(self) -> list[tuple[int, str, Path]]:
        """Committed batches as (seq, batch, path), from file names alone: no file is read."""
        folder = self._dir("commits")
        if not folder.is_dir():
            return []
        found = []
        for path in folder.glob("*.json"):
            seq, _, batch = path.stem.partition("-")
            found.append((int(seq), batch, path))
        return sorted(found)

    def committed(self) -> set[str]:
        """The ids of every committed batch."""
        return {batch for _, batch, _ in self._commit_files()}

    def _latest_checkpoint(self) -> int | None:
        folder = self._dir("checkpoint")
        marks = sorted(int(p.stem) for p in folder.glob("*.json")) if folder.is_dir() else []
        return marks[-1] if marks else None

    def snapshot(self, *, objects: bool = True) -> Snapshot:
        """Return the committed files and objects: the last checkpoint, then later commits.

        Readers of the lake need the files only: ``objects=False`` skips the object entries
        (most of a checkpoint), leaving ``Snapshot.objects`` empty.
        """
        snap = Snapshot()
        live: dict[str, LakeFile] = {}
        done = self._latest_checkpoint()
        if done is not None:
            base = self._dir("checkpoint") / f"{done:010d}"
            for row in pl.read_parquet(f"{base}.files.parquet").iter_rows(named=True):
                live[row["path"]] = LakeFile(**row)
            if objects:
                for row in pl.read_parquet(f"{base}.objects.parquet").iter_rows(named=True):
                    entry = ObjectEntry(**row)
                    snap.objects[(entry.uri, entry.etag)] = entry
        for seq, _, path in self._commit_files():
            if done is not None and seq <= done:
                continue
            commit = json.loads(path.read_bytes())
            for removed in commit["removed"]:
                live.pop(removed, None)
            for obj in commit["added"]:
                f = LakeFile.from_json(obj)
                live[f.path] = f
            for obj in commit["objects"] if objects else ():
                entry = ObjectEntry(**obj)
                snap.objects[(entry.uri, entry.etag)] = entry
            snap.commits_since_checkpoint += 1
        snap.files = sorted(live.values(), key=lambda f: f.path)
        return snap

    def checkpoint(self) -> None:
        """Fold every commit so far into one checkpoint, so readers stop replaying them one by one.

        A years-long lake has tens of thousands of commits; reading each on every scan would cost
        more than the scan. The Parquet parts are written first and the JSON mark last, so a
        checkpoint cut short is simply not seen.
        """
        from cloudtrail_hunt.ingest.lake import write_atomic

        commits = self._commit_files()
        if not commits:
            return
        seq = commits[-1][0]
        snap = self.snapshot()
        folder = self._dir("checkpoint")
        base = folder / f"{seq:010d}"
        files = pl.DataFrame(
            [asdict(f) for f in snap.files],
            schema={
                "table": pl.String,
                "path": pl.String,
                "account": pl.String,
                "region": pl.String,
                "day": pl.Date,
                "rows": pl.Int64,
            },
            orient="row",
        )
        objects = pl.DataFrame(
            [asdict(o) for o in snap.objects.values()],
            schema={
                "uri": pl.String,
                "key": pl.String,
                "etag": pl.String,
                "size": pl.Int64,
                "kind": pl.String,
                "records": pl.Int64,
                "stored": pl.Int64,
                "duplicates": pl.Int64,
                "quarantined": pl.Int64,
                "unreadable": pl.Boolean,
            },
            orient="row",
        )
        write_atomic(Path(f"{base}.files.parquet"), files.write_parquet)
        write_atomic(Path(f"{base}.objects.parquet"), objects.write_parquet)
        write_atomic(
            Path(f"{base}.json"), lambda tmp: Path(tmp).write_text(json.dumps({"seq": seq}))
        )
        for old in folder.iterdir():
            if not old.name.startswith(f"{seq:010d}."):
                old.unlink(missing_ok=True)

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

        if self._next_seq is None:
            commits = self._commit_files()
            self._next_seq = commits[-1][0] + 1 if commits else 0
        seq = self._next_seq
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
        target = self._dir("commits") / f"{seq:010d}-{batch}.json"
        write_atomic(target, lambda tmp: Path(tmp).write_bytes(body))
        self._next_seq = seq + 1
        for path in removed:
            (self.lake / path).unlink(missing_ok=True)
        (self._dir("pending") / f"{batch}.json").unlink(missing_ok=True)

    def recover(self) -> list[str]:
        """Undo every batch that began and never committed; return the files removed."""
        pending = self._dir("pending")
        removed: list[str] = []
        intents = sorted(pending.glob("*.json")) if pending.is_dir() else []
        if not intents:  # the common case: the last run finished; no need to replay the ledger
            return removed
        committed = self.committed()
        live = {f.path for f in self.snapshot(objects=False).files}
        folders = {self.root / name for name in (*SIDE_TABLES, "commits", "checkpoint", "pending")}
        for intent in intents:
            batch = intent.stem
            paths = json.loads(intent.read_bytes())["paths"]
            folders.update((self.lake / path).parent for path in paths)
            if batch not in committed:
                for path in paths:
                    if path not in live and (self.lake / path).exists():
                        (self.lake / path).unlink()
                        removed.append(path)
                for name in SIDE_TABLES:
                    (self._dir(name) / f"{batch}.parquet").unlink(missing_ok=True)
            intent.unlink()
        # Writes cut short before their rename sit beside the files they were to replace.
        for folder in folders:
            for tmp in folder.glob(".tmp-*") if folder.is_dir() else ():
                tmp.unlink(missing_ok=True)
        return removed

    def side_table(self, name: str) -> pl.DataFrame:
        """Return a side table (quarantine, duplicates, digests) of every committed batch."""
        committed = self.committed()
        paths = sorted(p for p in self._dir(name).glob("*.parquet") if p.stem in committed)
        if not paths:
            return pl.DataFrame(schema=SIDE_TABLES[name])
        return pl.read_parquet(paths)
