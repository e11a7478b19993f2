"""Each guide query, run unchanged through the compiler, against the detection that follows the
guide's prose: on `sample_logs/`, the events only one of them selects are exactly the documented
differences (DESIGN.md: "the literal query stays available and tested, and the difference is
documented")."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.site import site_from_org_json
from tests.conftest import SAMPLE_LOGS

PACK = {d.id: d for d in registry.load()}
LABELS = [
    json.loads(line)
    for line in (SAMPLE_LOGS / "labels.jsonl").read_text(encoding="utf-8").splitlines()
]
SCENARIOS: dict[str, set[str]] = {}
for _label in LABELS:
    for _event in _label["event_ids"]:
        SCENARIOS.setdefault(_event, set()).add(_label["scenario"])

#: Per detection with a guide query: (scenarios only the query selects, scenarios only the
#: detection selects), each with the reason.
DIFFERENCES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "aws-iam-02-root-access-keys": ({}, {}),
    "aws-iam-03-identity-center": ({}, {}),
    "aws-iam-06-role-assumption": (
        {
            "trust-policy-partner-account": 'the regex `/:root"/` matches the allow-listed '
            "partner, whose statement requires sts:ExternalId",
        },
        {
            "trust-policy-wildcard-principal": 'the regex wants `"Principal": "*"`; the policy '
            'says `{"AWS": "*"}`',
            "trust-policy-wildcard-in-array": 'the regex misses `"*"` inside a principal array',
            "trust-policy-external-bare-account-id": 'a bare 12-digit account has no `:root"`',
        },
    ),
    "aws-iam-07-permission-boundary": (
        {
            "create-role-without-boundary-2-in-1h": "the query has no burst threshold (three in "
            "an hour)",
            "create-role-without-boundary-3-over-2h": "the query has no window",
            "legacy-iac-unbounded-role-pairs": "the query has no burst threshold (a noisy job's "
            "pairs, never three in an hour)",
        },
        {
            "put-role-permissions-boundary-non-canonical": "the query has no branch for an "
            "unknown boundary ARN in PutRolePermissionsBoundary",
        },
    ),
    "aws-iam-08-scp-deny-list": (
        {},
        {
            "scp-denial-walk-5-distinct": "the guide's SCP fences StopConfigurationRecorder; its "
            "query's list omits it",
            "scp-denials-logged-walk-5": "same events as the walk",
            "scp-denial-walk-4-distinct": "StopConfigurationRecorder again",
            "scp-denials-logged-walk-4": "same events as the walk",
        },
    ),
}


@pytest.fixture(scope="module")
def findings(sample_lake: Path) -> pl.DataFrame:
    site = site_from_org_json(SAMPLE_LOGS / "side_inputs" / "org.json")
    side = SAMPLE_LOGS / "side_inputs"
    return hunt(sample_lake, start="2026-10-01", end="2026-11-06", site=site, side_inputs=side)


def _query_events(text: str, lake: Path) -> set[str]:
    # The guide's queries do not select eventID: run the same pipeline up to its `stats`.
    pipeline = text.split("\n", 1)[1].split("| stats")[0]
    return set(ch.query(f"fields eventID\n{pipeline}", lake)["eventID"].to_list())


def _detection_events(findings: pl.DataFrame, detection: str, query: set[str]) -> set[str]:
    # The signals that cover the query's events (those that share at least one event with it).
    rows = findings.filter(pl.col("detection") == detection).to_dicts()
    per_signal: dict[str, set[str]] = {}
    for row in rows:
        ids = {e["event_id"] for e in row["evidence"] if e["event_id"]}
        per_signal.setdefault(row["signal"], set()).update(ids)
    related = {s for s, ids in per_signal.items() if ids & query}
    related |= _SIGNALS_OF_THE_QUERY.get(detection, set())
    return set().union(*(per_signal.get(s, set()) for s in related))


#: Signals that implement what the query is for, even where they share no event with it.
_SIGNALS_OF_THE_QUERY = {
    "aws-iam-06-role-assumption": {
        "trust-policy-principal-wildcard",
        "trust-policy-external-account",
    },
    "aws-iam-07-permission-boundary": {"non-canonical-permissions-boundary"},
}


def _scenarios(events: set[str]) -> set[str]:
    return set().union(*(SCENARIOS.get(e, {f"background:{e}"}) for e in events))


@pytest.mark.parametrize("detection", sorted(DIFFERENCES))
def test_guide_query_differs_from_its_detection_only_as_documented(
    detection: str, sample_lake: Path, findings: pl.DataFrame
) -> None:
    text = PACK[detection].guide_query
    assert text is not None
    query = _query_events(text, sample_lake)
    assert query, "the guide query selects something on the sample"
    detected = _detection_events(findings, detection, query)
    only_query, only_detection = DIFFERENCES[detection]
    assert _scenarios(query - detected) == set(only_query)
    assert _scenarios(detected - query) == set(only_detection)


def test_every_guide_query_of_the_pack_is_compared() -> None:
    with_query = {d.id for d in PACK.values() if d.guide_query is not None}
    # Control 10's query reads the audit Lambda's log group, not CloudTrail (see
    # tests/query/test_guide_queries.py); its detection reads the credential reports.
    assert with_query - set(DIFFERENCES) == {"aws-iam-10-credential-report"}
