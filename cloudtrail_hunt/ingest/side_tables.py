"""Organisation facts and side inputs as Delta tables in the lake: a hunt needs only the lake.

side_inputs/ ──► **side_tables** (validate, store) ──► <lake>/<table> ──► hunt (materialised).

A side-inputs folder holds documents that the detections parse (detect/side_inputs.py,
detect/analyzer.py, detect/site.py): ``org.json``, credential reports with their
``index.json``, Access Analyzer findings with the change ledger, and Config evaluations. Each
document becomes one row (``path`` relative to the folder, ``sha256``, ``content``,
``ingested_at``) of one of the tables :data:`TABLES`, in ``<lake>/<table>``. A document is
validated by the same parser the hunt uses before it is stored; one that fails is quarantined in
``<lake>/side_quarantine`` (path, reason) and not stored. Re-ingesting adds nothing: a row whose
``(path, sha256)`` is stored already is skipped; a changed document is appended and its latest
version wins on read (earlier versions stay, as evidence of what the hunt saw before).

A hunt reads the documents back into a scratch folder (:func:`materialise`) and parses them
with the same code as a folder beside raw logs: one parser, so every way to hunt gives the same
findings. Functions take the lake root as a path or URI (``s3://…`` with `storage_options`).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt.errors import CloudTrailHuntError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: Table name → which documents of a side-inputs folder it holds (globs relative to the folder).
TABLES: dict[str, tuple[str, ...]] = {
    "org": ("org.json",),
    "credential_reports": ("credential-reports/index.json", "credential-reports/*/*.csv"),
    "access_analyzer": ("access-analyzer/*.json*",),
    "config_evaluations": ("config/*.json",),
}
QUARANTINE = "side_quarantine"
DOCUMENT = pl.Schema(
    {
        "path": pl.String(),
        "sha256": pl.String(),
        "content": pl.Binary(),
        "ingested_at": pl.Datetime("us", "UTC"),
    }
)
_QUARANTINE_SCHEMA = pl.Schema(
    {
        "source": pl.String(),
        "sha256": pl.String(),
        "reason": pl.String(),
        "ingested_at": pl.Datetime("us", "UTC"),
    }
)


@dataclass(slots=True)
class SideSummary:
    """Counts of one side-inputs ingest: documents stored, already stored, quarantined."""

    stored: int = 0
    skipped: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def documents(folder: str | Path) -> Iterator[tuple[str, str, bytes]]:
    """(table, path relative to `folder`, content) of every side-input document in `folder`."""
    root = Path(folder)
    for table, patterns in TABLES.items():
        seen: set[Path] = set()
        for pattern in patterns:
            for path in sorted(root.glob(pattern)):
                if path.is_file() and path not in seen:
                    seen.add(path)
                    yield table, path.relative_to(root).as_posix(), path.read_bytes()


def _validators() -> dict[str, Callable[[Path, str], object]]:
    # Imported here: the parsers live with the detections that read them (one parser for both).
    from cloudtrail_hunt.detect import analyzer, side_inputs, site

    def credential_reports(folder: Path, rel: str) -> object:
        return side_inputs.load_credential_reports(folder) if rel.endswith(".csv") else None

    def access_analyzer(folder: Path, rel: str) -> object:
        if rel.endswith(analyzer.LEDGER):
            return analyzer.load_ledger(folder)
        return analyzer.load_findings(folder)

    return {
        "org": lambda folder, rel: site.site_from_org_json(folder / rel),
        "credential_reports": credential_reports,
        "access_analyzer": access_analyzer,
        "config_evaluations": lambda folder, rel: side_inputs.load_config_evaluations(folder),
    }


def validate(table: str, rel: str, content: bytes) -> str | None:
    """Why the document cannot be used by a hunt, or None when it parses."""
    check = _validators()[table]
    with tempfile.TemporaryDirectory(prefix="cloudtrail-hunt-side-") as scratch:
        path = Path(scratch) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        try:
            if rel == "credential-reports/index.json":
                from cloudtrail_hunt.detect.side_inputs import _index

                _index(Path(scratch))
            else:
                check(Path(scratch), rel)
        except CloudTrailHuntError as exc:
            return str(exc)
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            return f"{rel}: {exc!r}"
    return None


def table_uri(lake: str | Path, name: str) -> str:
    """The URI of table `name` inside the lake."""
    return f"{str(lake).rstrip('/')}/{name}"


def _read(uri: str, storage_options: dict[str, str] | None) -> pl.DataFrame | None:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        return None
    return pl.from_arrow(table.to_pyarrow_table())  # type: ignore[return-value]


def _append(uri: str, frame: pl.DataFrame, storage_options: dict[str, str] | None) -> None:
    if not frame.is_empty():
        frame.write_delta(uri, mode="append", storage_options=storage_options)


def ingest_side_inputs(
    folder: str | Path,
    lake: str | Path,
    *,
    storage_options: dict[str, str] | None = None,
) -> SideSummary:
    """Store the side-input documents of `folder` in the lake's tables; only what is new."""
    summary = SideSummary()
    now = datetime.now(UTC)
    quarantined = _read(table_uri(lake, QUARANTINE), storage_options)
    known_bad = set() if quarantined is None else set(quarantined["sha256"])
    new: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    bad: list[dict[str, Any]] = []
    stored = {name: _read(table_uri(lake, name), storage_options) for name in TABLES}
    for table, rel, content in documents(folder):
        digest = hashlib.sha256(content).hexdigest()
        have = stored[table]
        if (
            have is not None
            and not have.filter((pl.col("path") == rel) & (pl.col("sha256") == digest)).is_empty()
        ):
            summary.skipped += 1
            continue
        reason = validate(table, rel, content)
        if reason is not None:
            summary.quarantined.append((rel, reason))
            if digest not in known_bad:
                bad.append({"source": rel, "sha256": digest, "reason": reason, "ingested_at": now})
            continue
        new[table].append({"path": rel, "sha256": digest, "content": content, "ingested_at": now})
        summary.stored += 1
    for name, rows in new.items():
        _append(table_uri(lake, name), pl.DataFrame(rows, schema=DOCUMENT), storage_options)
    _append(
        table_uri(lake, QUARANTINE), pl.DataFrame(bad, schema=_QUARANTINE_SCHEMA), storage_options
    )
    return summary


def stored_documents(
    lake: str | Path, *, storage_options: dict[str, str] | None = None
) -> dict[str, bytes]:
    """Path → content of the latest version of every side-input document stored in the lake."""
    out: dict[str, bytes] = {}
    for name in TABLES:
        frame = _read(table_uri(lake, name), storage_options)
        if frame is None or frame.is_empty():
            continue
        latest = frame.sort("ingested_at").unique("path", keep="last", maintain_order=True)
        out.update(zip(latest["path"], latest["content"], strict=True))
    return out


def has_side_tables(lake: str | Path, *, storage_options: dict[str, str] | None = None) -> bool:
    """True when the lake holds any side-input document."""
    return bool(stored_documents(lake, storage_options=storage_options))


def side_quarantine(
    lake: str | Path, *, storage_options: dict[str, str] | None = None
) -> pl.DataFrame:
    """Side-input documents the ingest could not use: source (path), reason."""
    frame = _read(table_uri(lake, QUARANTINE), storage_options)
    if frame is None:
        return pl.DataFrame(schema={"source": pl.String(), "reason": pl.String()})
    return frame.select("source", "reason").unique(maintain_order=True).sort("source")


def materialise(contents: dict[str, bytes], folder: str | Path) -> Path:
    """Write documents (path → content) into `folder`, laid out as a side-inputs folder."""
    root = Path(folder)
    for rel, content in contents.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def usable_documents(folder: str | Path) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    """The documents of a side-inputs folder that parse, and (path, reason) of those that do not.

    What a hunt given ``--side-inputs`` reads: the same documents an ingest would store.
    """
    good: dict[str, bytes] = {}
    bad: list[tuple[str, str]] = []
    for table, rel, content in documents(folder):
        reason = validate(table, rel, content)
        if reason is None:
            good[rel] = content
        else:
            bad.append((rel, reason))
    return good, bad
