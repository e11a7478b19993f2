"""cloudtrail-hunt: AWS CloudTrail forensics on a Delta Lake lake.

Public API: :func:`ingest` org-trail logs into a lake, :func:`scan` the lake as a Polars LazyFrame,
:func:`query` it with CloudWatch Logs Insights queries, :func:`hunt` with the detections.
After a hunt: :func:`backtest`, :func:`recommend` and :func:`calibrate` tune thresholds;
:func:`timeline`, :func:`trace`, :func:`evidence` and :func:`verify_evidence` are the
responder's workbench; :func:`verify_source` checks a trail against CloudTrail's digests.
:class:`Lake` is the handle to a lake (local or S3, pinned to a version) that every reader takes.

Imported lazily: ``import cloudtrail_hunt`` costs nothing until a function is used, so the
command line starts without Polars for ``--help`` and ``--version``.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudtrail_hunt.custody import verify_source
    from cloudtrail_hunt.detect.hunt import hunt
    from cloudtrail_hunt.ingest.pipeline import IngestSummary, ingest
    from cloudtrail_hunt.lake import Lake, scan
    from cloudtrail_hunt.query.run import query
    from cloudtrail_hunt.tune import backtest, calibrate, recommend
    from cloudtrail_hunt.workbench import evidence, timeline, trace, verify_evidence

__all__ = [
    "IngestSummary",
    "Lake",
    "__version__",
    "backtest",
    "calibrate",
    "evidence",
    "hunt",
    "ingest",
    "query",
    "recommend",
    "scan",
    "timeline",
    "trace",
    "verify_evidence",
    "verify_source",
]
__version__ = "0.1.0"

_LAZY = {
    "IngestSummary": "cloudtrail_hunt.ingest.pipeline",
    "hunt": "cloudtrail_hunt.detect.hunt",
    "scan": "cloudtrail_hunt.lake",
    "Lake": "cloudtrail_hunt.lake",
    "backtest": "cloudtrail_hunt.tune",
    "calibrate": "cloudtrail_hunt.tune",
    "recommend": "cloudtrail_hunt.tune",
    "evidence": "cloudtrail_hunt.workbench",
    "timeline": "cloudtrail_hunt.workbench",
    "trace": "cloudtrail_hunt.workbench",
    "verify_evidence": "cloudtrail_hunt.workbench",
    "verify_source": "cloudtrail_hunt.custody",
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
