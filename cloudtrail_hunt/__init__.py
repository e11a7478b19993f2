"""cloudtrail-hunt: AWS CloudTrail forensics on a Delta Lake lake.

Public API: :func:`ingest` org-trail logs into a lake, :func:`scan` the lake as a Polars LazyFrame,
:func:`query` it with CloudWatch Logs Insights queries; :class:`Lake` is the handle to a lake
(local or S3, pinned to a version) that every reader takes.
"""

from __future__ import annotations

# Imported eagerly on purpose: the function `ingest` must shadow the subpackage of the same name,
# and a lazy import would let the subpackage win once anything imports `cloudtrail_hunt.ingest.*`.
from cloudtrail_hunt.ingest.pipeline import IngestSummary, ingest
from cloudtrail_hunt.lake import Lake, scan
from cloudtrail_hunt.query.run import query

__all__ = ["IngestSummary", "Lake", "__version__", "ingest", "query", "scan"]
__version__ = "0.1.0"
