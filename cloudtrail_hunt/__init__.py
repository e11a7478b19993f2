"""cloudtrail-hunt: AWS CloudTrail forensics on a Parquet lake.

Public API: :func:`ingest` org-trail logs into a lake, :func:`scan` the lake as a Polars LazyFrame,
:func:`query` it with CloudWatch Logs Insights queries, :func:`hunt` with the detections.

Imported lazily: ``import cloudtrail_hunt`` costs nothing until a function is used, so the
command line starts without Polars for ``--help`` and ``--version``.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudtrail_hunt.detect.hunt import hunt
    from cloudtrail_hunt.ingest.lake import scan
    from cloudtrail_hunt.ingest.pipeline import IngestSummary, ingest
    from cloudtrail_hunt.query.run import query

__all__ = ["IngestSummary", "__version__", "hunt", "ingest", "query", "scan"]
__version__ = "0.1.0"

_LAZY = {
    "IngestSummary": "cloudtrail_hunt.ingest.pipeline",
    "hunt": "cloudtrail_hunt.detect.hunt",
    "scan": "cloudtrail_hunt.ingest.lake",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'cloudtrail_hunt' has no attribute {name!r}"
    raise AttributeError(msg)


class _Package(types.ModuleType):
    """The functions `ingest` and `query` share their names with subpackages: importing a
    subpackage binds its name on this package, so the functions are properties that win."""

    @property
    def ingest(self) -> Any:
        from cloudtrail_hunt.ingest.pipeline import ingest

        return ingest

    @ingest.setter
    def ingest(self, _module: Any) -> None:
        pass  # the import system binding the subpackage: the function stays the attribute

    @property
    def query(self) -> Any:
        from cloudtrail_hunt.query.run import query

        return query

    @query.setter
    def query(self, _module: Any) -> None:
        pass


sys.modules[__name__].__class__ = _Package
