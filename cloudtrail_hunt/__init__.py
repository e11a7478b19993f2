"""cloudtrail-hunt: AWS CloudTrail forensics on a Parquet lake.

Public API: :func:`ingest` org-trail logs into a lake, :func:`scan` the lake as a Polars LazyFrame.
Names are imported on first use, so `import cloudtrail_hunt` stays cheap for the CLI and workers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudtrail_hunt.ingest.lake import scan
    from cloudtrail_hunt.ingest.pipeline import IngestSummary, ingest

__all__ = ["IngestSummary", "__version__", "ingest", "scan"]
__version__ = "0.1.0"

_LAZY = {
    "ingest": "cloudtrail_hunt.ingest.pipeline",
    "IngestSummary": "cloudtrail_hunt.ingest.pipeline",
    "scan": "cloudtrail_hunt.ingest.lake",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'cloudtrail_hunt' has no attribute {name!r}"
    raise AttributeError(msg)
