"""cloudtrail-hunt: AWS CloudTrail forensics on a Parquet lake.

Public API: :func:`ingest` org-trail logs into a lake, :func:`scan` the lake as a Polars LazyFrame,
:func:`query` it with CloudWatch Logs Insights queries.
"""

from __future__ import annotations

# Imported eagerly on purpose: the function `ingest` must shadow the subpackage of the same name,
# and a lazy import would let the subpackage win once anything imports `cloudtrail_hunt.ingest.*`.
from cloudtrail_hunt.ingest.lake import scan
from cloudtrail_hunt.ingest.pipeline import IngestSummary, ingest
from cloudtrail_hunt.query.run import query

__all__ = ["IngestSummary", "__version__", "ingest", "query", "scan"]
__version__ = "0.1.0"
