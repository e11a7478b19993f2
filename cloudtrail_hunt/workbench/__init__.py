"""The responder's workbench: what a principal did (timeline), where its credential went (trace),
and a bundle anyone can verify (evidence)."""

from __future__ import annotations

from cloudtrail_hunt.workbench.evidence import evidence, verify_evidence
from cloudtrail_hunt.workbench.timeline import timeline, timeline_chart
from cloudtrail_hunt.workbench.trace import Trace, trace, trace_chart

__all__ = [
    "Trace", "evidence", "timeline", "timeline_chart", "trace", "trace_chart", "verify_evidence",
]  # fmt: skip
