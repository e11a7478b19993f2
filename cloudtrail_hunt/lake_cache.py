"""The cache lakes `query` and `hunt` ingest raw logs into (no Polars: quick to list)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_key(source: str | Path) -> str:
    """What identifies raw logs: an S3 URI as given, a local path resolved."""
    return str(source) if str(source).startswith("s3://") else str(Path(source).resolve())


def cache_root() -> Path:
    """The folder of cache lakes (``$CLOUDTRAIL_HUNT_CACHE``, else ~/.cache/cloudtrail-hunt)."""
    root = os.environ.get("CLOUDTRAIL_HUNT_CACHE") or Path.home() / ".cache" / "cloudtrail-hunt"
    return Path(root) / "lakes"


def cache_lake(source: str | Path) -> Path:
    """Where raw logs at `source` are ingested for querying (``$CLOUDTRAIL_HUNT_CACHE``)."""
    return cache_root() / hashlib.sha256(cache_key(source).encode()).hexdigest()[:20]


CACHE_SOURCE = "_source"  # a cache lake's file naming the raw logs it holds


def cache_lakes() -> list[tuple[Path, str | None]]:
    """Every cache lake, with the raw logs it was ingested from (None when unrecorded)."""
    root = cache_root()
    lakes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [
        (lake, (lake / CACHE_SOURCE).read_text(encoding="utf-8").strip()
         if (lake / CACHE_SOURCE).is_file() else None)
        for lake in lakes
    ]  # fmt: skip
