"""Evidence bundles: what a principal, key or finding did, written so anyone can verify it later.

A bundle is a folder::

    events.parquet     the events, every lake column, oldest first
    events.jsonl       the same events as their original CloudTrail records (the `message`
                       column, byte for byte), one per line, in the same order
    sources.jsonl      per event: eventID, source object (URI, key, ETag, size) and record index
    findings.jsonl     the findings about the subject (the finding itself, or those citing its
                       events), as `cloudtrail-hunt hunt --format jsonl` writes them
    trace.jsonl        the credential links traced from the subject (see workbench.trace)
    activity.jsonl     per credential of the trace and API: events and errors
    bundle.json        tool and version, lake version read, the exact parameters, counts
    manifest.json      SHA-256 of every other file

Nothing of the run itself (its time, the output folder) goes into any file, and Parquet is
written without run-dependent metadata, so the same parameters on the same lake give the same
bytes. :func:`verify_evidence` recomputes the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.detect import findings as rendering
from cloudtrail_hunt.errors import CloudTrailHuntError
from cloudtrail_hunt.source import Source
from cloudtrail_hunt.workbench.provenance import source_objects
from cloudtrail_hunt.workbench.timeline import look
from cloudtrail_hunt.workbench.trace import trace

if TYPE_CHECKING:
    from cloudtrail_hunt.lake import Lake

__all__ = ["MANIFEST", "Verification", "evidence", "verify_evidence"]

MANIFEST = "manifest.json"
FORMAT = "cloudtrail-hunt-evidence/1"


def evidence(
    source: Source,
    out: str | Path,
    *,
    principal: str | None = None,
    access_key: str | None = None,
    finding: str | Mapping[str, Any] | None = None,
    before: str | timedelta = "2h",
    after: str | timedelta = "24h",
    at: datetime | str | None = None,
    findings: pl.DataFrame | None = None,
    lake_version: int | None = None,
) -> Path:
    """Write the evidence bundle of one subject to the folder `out` and return it.

    `principal`, `access_key`, `finding`, `before`, `after`, `at` and `findings` are those of
    :func:`cloudtrail_hunt.workbench.timeline.timeline`. `lake_version` is the version of the
    lake read, when the caller knows it; else a `lake_version` column of the findings gives it,
    else it is recorded as null.
    """
    from cloudtrail_hunt import __version__
    from cloudtrail_hunt.detect.hunt import lake_of

    target = Path(out)
    if target.exists() and any(target.iterdir()):
        msg = "the output folder is not empty"
        raise CloudTrailHuntError(str(target), msg, "give a new or empty folder")
    # Resolved once and pinned: the timeline, the trace and the provenance read one version
    # (raw logs are listed and ingested once, not by each step).
    lake = lake_of(source)
    read = lake if lake is not None else source
    looked = look(
        read, principal=principal, access_key=access_key, finding=finding, before=before,
        after=after, at=at, findings=findings,
    )  # fmt: skip
    who, events, window, findings, timeline = (
        looked.who, looked.events, looked.window, looked.findings, looked.timeline,
    )  # fmt: skip
    cited = {i for ids in timeline["findings"] for i in ids}
    if who.finding is not None:
        cited.add(who.finding["id"])
    about = (
        findings.filter(pl.col("id").is_in(sorted(cited))).sort("id")
        if findings is not None
        else pl.DataFrame(schema=rendering.FINDING_SCHEMA)
    )
    traced = trace(
        read,
        access_key=who.access_key,
        session=None if who.access_key or who.finding else who.principal,
        finding=who.finding,
    )
    objects = source_objects(lake, events[schema.SOURCE].drop_nulls().unique().to_list())
    sources = (
        events.select("eventID", schema.SOURCE, pl.col(schema.SOURCE_INDEX).cast(pl.Int64))
        .with_row_index("line")
        .join(objects, on=schema.SOURCE, how="left")
        .sort("line", "etag")
        .select("line", "eventID", schema.SOURCE, "key", "etag", "size",
                pl.col(schema.SOURCE_INDEX).alias("index"))
    )  # fmt: skip
    if lake_version is None and "lake_version" in about.columns:
        versions = about["lake_version"].drop_nulls().unique()
        lake_version = int(versions.max()) if len(versions) else None  # type: ignore[arg-type]
    if lake_version is None and lake is not None:
        lake_version = lake.version
    parameters = {
        "source": str(source) if isinstance(source, str | Path) else "<frame>",
        "principal": principal,
        "access_key": access_key,
        "finding": finding if finding is None or isinstance(finding, str) else finding["id"],
        "before": str(before),
        "after": str(after),
        "at": _iso(at) if at is not None else None,
    }
    target.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "events.parquet": _parquet(events),
        "events.jsonl": _lines(events[schema.MESSAGE].to_list()),
        "sources.jsonl": _jsonl(sources),
        "findings.jsonl": _findings(about),
        "trace.jsonl": _jsonl(traced.links),
        "activity.jsonl": _jsonl(traced.activity),
    }
    files["bundle.json"] = _json(
        {
            "format": FORMAT,
            "tool": "cloudtrail-hunt",
            "version": __version__,
            "lake_version": lake_version,
            "parameters": parameters,
            "subject": who.label(),
            "window": [_iso(t) for t in window] if window else None,
            "counts": {
                "events": events.height,
                "findings": about.height,
                "links": traced.links.height,
                "source_objects": objects.height,
            },
            "custody": _custody(lake, events[schema.SOURCE].to_list()),
        }
    )
    for name, data in files.items():
        (target / name).write_bytes(data)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    (target / MANIFEST).write_bytes(_json({"format": FORMAT, "sha256": digests}))
    return target


def _custody(lake: Lake | None, sources: list[str | None]) -> dict[str, Any] | None:
    """How many of the bundle's events a valid CloudTrail digest chain covers, from the lake's
    custody table (`verify --lake`); None when the lake holds no such table."""
    if lake is None or not lake.has_table("custody"):
        return None
    from cloudtrail_hunt.custody.lake import coverage

    return coverage(lake.uri, [s for s in sources if s is not None])


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify_evidence` found: files changed, missing, or not in the manifest."""

    changed: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    checked: int

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)


def verify_evidence(folder: str | Path) -> Verification:
    """Recompute the SHA-256 of every file of a bundle against its manifest.

    Raises
    ------
    CloudTrailHuntError
        The folder has no readable manifest.
    """
    root = Path(folder)
    try:
        listed = json.loads((root / MANIFEST).read_bytes())["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"no readable {MANIFEST} ({type(exc).__name__})"
        raise CloudTrailHuntError(str(root), msg, "is this an evidence bundle?") from None
    present = {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()
    } - {MANIFEST}
    changed = [
        name
        for name in sorted(set(listed) & present)
        if hashlib.sha256((root / name).read_bytes()).hexdigest() != listed[name]
    ]
    return Verification(
        changed=tuple(changed),
        missing=tuple(sorted(set(listed) - present)),
        extra=tuple(sorted(present - set(listed))),
        checked=len(set(listed) & present),
    )


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, timedelta):
        return str(value)
    return value


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1, default=_iso) + "\n").encode()


def _lines(texts: list[str | None]) -> bytes:
    return "".join(f"{t}\n" for t in texts if t is not None).encode()


def _jsonl(frame: pl.DataFrame) -> bytes:
    return _lines(
        [json.dumps(row, ensure_ascii=False, default=_iso) for row in frame.iter_rows(named=True)]
    )


def _findings(frame: pl.DataFrame) -> bytes:
    import io

    out = io.BytesIO()
    rendering.write(frame, "jsonl", out)
    return out.getvalue()


def _parquet(frame: pl.DataFrame) -> bytes:
    import io

    out = io.BytesIO()
    # One row group, fixed compression, no statistics that could vary: the same rows give
    # the same bytes.
    frame.write_parquet(out, compression="zstd", compression_level=3, statistics=False,
                        row_group_size=max(frame.height, 1))  # fmt: skip
    return out.getvalue()
