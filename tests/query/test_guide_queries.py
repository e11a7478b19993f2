"""The hardening guide's Logs Insights queries, unchanged, on `sample_logs/`.

Each query is checked three ways: it appears verbatim in the guide; its rows equal a plain-Python
reading of the same query over the raw JSON records (no lake, no compiler); and the labelled
scenarios it returns are exactly the ones its text can match, with the guide's documented gaps
(reference/logs-insights.md §13) stated scenario by scenario.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import cloudtrail_hunt as ch
from detections._guide import QUERIES as GUIDE_QUERIES
from tests.conftest import GUIDE, SAMPLE_LOGS

# The guide's queries as the rule pack quotes them (detections/_guide.py); the first test checks
# each is verbatim in the guide. Control 10's reads the audit Lambda's log group, not CloudTrail.
STALE_QUERY = GUIDE_QUERIES["aws-iam-10-credential-report"]
QUERIES = {control[:10]: text for control, text in GUIDE_QUERIES.items() if text is not STALE_QUERY}
LAMBDA_LOGS = SAMPLE_LOGS / "side_inputs" / "lambda-logs"


def _get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _search(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and re.search(pattern, value) is not None


# Plain-Python readings of each query's filters (§7: a missing field fails `=`, `like`, `in`
# and passes `not like`).
ORACLES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "aws-iam-02": lambda r: (
        r.get("eventName") in {"CreateAccessKey", "UpdateAccessKey"}
        and (
            _get(r, "userIdentity.type") == "Root"
            or _search(":root$", _get(r, "requestParameters.userName"))
        )
    ),
    "aws-iam-03": lambda r: (
        r.get("eventName") == "ConsoleLogin"
        and _get(r, "userIdentity.type") == "IAMUser"
        and not _search("^break-glass-", _get(r, "userIdentity.userName"))
    ),
    "aws-iam-06": lambda r: (
        r.get("eventName") == "UpdateAssumeRolePolicy"
        and (
            _search(r'"Principal":\s*"\*"', _get(r, "requestParameters.policyDocument"))
            or _search(':root"', _get(r, "requestParameters.policyDocument"))
        )
    ),
    "aws-iam-07": lambda r: (
        r.get("eventName") == "DeleteRolePermissionsBoundary"
        or (
            r.get("eventName") == "CreateRole"
            and not _get(r, "requestParameters.permissionsBoundary")
        )
    ),
    "aws-iam-08": lambda r: (
        r.get("errorCode") == "AccessDenied"
        and _search("service control policy", r.get("errorMessage"))
        and r.get("eventName")
        in {
            "StopLogging",
            "DeleteTrail",
            "DeleteConfigurationRecorder",
            "ScheduleKeyDeletion",
            "DisableKey",
        }
    ),
}

# How many events of each labelled scenario the literal query returns, and why. Scenarios of the
# control that are not listed here must return none.
SCENARIOS: dict[str, dict[str, tuple[int | None, str]]] = {
    "aws-iam-02": {
        "root-create-access-key": (1, "root creates its own key"),
        "root-reactivate-access-key": (1, "root UpdateAccessKey"),
        "root-create-access-key-denied-by-scp": (1, "the denied attempt is still a root call"),
    },
    "aws-iam-03": {
        "iam-user-console-login": (1, "direct IAM-user sign-in"),
        "iam-user-console-login-repeat-suppressed": (
            3,
            "the query counts what the alert suppresses",
        ),
        "iam-user-console-login-after-suppression": (1, "direct IAM-user sign-in"),
    },
    "aws-iam-06": {
        "trust-policy-external-account-root": (1, '`/:root"/` matches the external root'),
        "trust-policy-partner-account": (
            1,
            'gap: `/:root"/` also matches the allow-listed partner that has sts:ExternalId',
        ),
        # Not returned: `{"AWS": "*"}` and `["…", "*"]` (the regex wants `"Principal": "*"`),
        # a bare 12-digit account id (no `:root"`), an org member's role ARN.
    },
    "aws-iam-07": {
        "create-role-without-boundary-3-in-1h": (3, "CreateRole without a boundary"),
        "create-role-without-boundary-2-in-1h": (2, "the query has no burst threshold"),
        "create-role-without-boundary-3-over-2h": (3, "the query has no window"),
        "delete-role-permissions-boundary": (1, "DeleteRolePermissionsBoundary"),
        # None: every event of the label (a routine job; its size follows the trail's days).
        "legacy-iac-unbounded-role-pairs": (None, "the query has no burst threshold"),
        # Not returned: PutRolePermissionsBoundary with a non-canonical ARN (no branch for it).
    },
    "aws-iam-08": {
        "scp-denial-walk-5-distinct": (4, "StopConfigurationRecorder is not in the guide's list"),
        "scp-denials-logged-walk-5": (4, "same events as the walk"),
        "scp-denial-walk-4-distinct": (3, "StopConfigurationRecorder is not in the guide's list"),
        "scp-denials-logged-walk-4": (3, "same events as the walk"),
    },
}


@pytest.fixture(scope="module")
def labels() -> list[dict[str, Any]]:
    lines = (SAMPLE_LOGS / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("control", [*sorted(QUERIES), "aws-iam-10"])
def test_guide_query_is_quoted_verbatim(control: str) -> None:
    if not GUIDE.is_file():
        pytest.fail(f"the hardening guide is missing at {GUIDE}")
    assert QUERIES.get(control, STALE_QUERY) in GUIDE.read_text(encoding="utf-8")


def _event_ids(result: pl.DataFrame, lake: Path, text: str) -> list[str]:
    # The guide's queries do not select eventID; rerun the same pipeline with eventID shown.
    pipeline = text.split("\n", 1)[1]
    with_ids = f"fields eventID\n{pipeline}"
    if "stats" in pipeline:
        with_ids = with_ids.split("| stats")[0]
    return ch.query(with_ids, lake)["eventID"].to_list()


@pytest.mark.parametrize("control", ["aws-iam-02", "aws-iam-06", "aws-iam-07"])
def test_guide_event_query_returns_what_its_text_matches(
    control: str, sample_lake: Path, sample_records: list[dict[str, Any]]
) -> None:
    result = ch.query(QUERIES[control], sample_lake)
    matching = [r for r in sample_records if ORACLES[control](r)]
    assert 0 < result.height == len(matching)
    times = result["@timestamp"].to_list()
    assert times == sorted(times, reverse=True)
    expected_names = Counter(r["eventName"] for r in matching)
    assert Counter(result["eventName"].to_list()) == expected_names


@pytest.mark.parametrize("control", ["aws-iam-03", "aws-iam-08"])
def test_guide_stats_query_counts_what_its_text_matches(
    control: str, sample_lake: Path, sample_records: list[dict[str, Any]]
) -> None:
    result = ch.query(QUERIES[control], sample_lake)
    keys = (
        ("userIdentity.userName", "recipientAccountId")
        if control == "aws-iam-03"
        else ("userIdentity.arn", "eventName")
    )
    expected = Counter(
        tuple(_get(r, k) for k in keys) for r in sample_records if ORACLES[control](r)
    )
    count = result.columns[-1]
    assert {tuple(row[k] for k in keys): row[count] for row in result.iter_rows(named=True)} == (
        dict(expected)
    )
    counts = result[count].to_list()
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("control", sorted(QUERIES))
def test_guide_query_returns_exactly_its_scenarios(
    control: str, sample_lake: Path, labels: list[dict[str, Any]]
) -> None:
    text = QUERIES[control]
    returned = set(_event_ids(ch.query(text, sample_lake), sample_lake, text))
    wanted = SCENARIOS[control]
    hits = {
        label["scenario"]: len(returned & set(label["event_ids"]))
        for label in labels
        if label["control"].startswith(control)
    }
    sizes = {label["scenario"]: len(label["event_ids"]) for label in labels}
    assert {s: n for s, n in hits.items() if n} == {
        s: sizes[s] if n is None else n for s, (n, _) in wanted.items()
    }
    labelled = set().union(*(set(label["event_ids"]) for label in labels))
    assert returned <= labelled, "the query returned background events"


def test_guide_stale_user_query_finds_nothing_on_lambda_stream_names() -> None:
    # Lambda names its streams `YYYY/MM/DD/[$LATEST]<id>`: the function name is in the log
    # group (`@log`), so the guide's `@logStream` filter matches nothing, in CloudWatch as here
    # (reference/logs-insights.md §13.6).
    assert ch.query(STALE_QUERY, LAMBDA_LOGS).height == 0


def test_guide_stale_user_query_on_log_group_counts_every_stale_line(
    labels: list[dict[str, Any]],
) -> None:
    lines = [
        event["message"]
        for path in sorted(LAMBDA_LOGS.rglob("*.json"))
        for event in json.loads(path.read_text(encoding="utf-8"))["events"]
    ]
    found = [re.search(r"STALE_USER user=(\S+) days_idle=(\d+)", line) for line in lines]
    per_user: dict[str, list[int]] = {}
    for match in filter(None, found):
        per_user.setdefault(match[1], []).append(int(match[2]))
    assert per_user, "the sample trail has stale users"

    result = ch.query(STALE_QUERY.replace("@logStream", "@log"), LAMBDA_LOGS)
    got = {
        row["user"]: (row["occurrences"], int(row["max_idle"]))
        for row in result.iter_rows(named=True)
    }
    assert got == {user: (len(days), max(days)) for user, days in per_user.items()}
    idle = [int(v) for v in result["max_idle"]]
    assert idle == sorted(idle, reverse=True), "max(days) and the sort must be numeric"
    stale_labels = [lab for lab in labels if lab["signal"].startswith("stale-users")]
    named = {
        p for lab in stale_labels for p in lab["principal"].split(",") if lab["expect"] == "fire"
    }
    assert named
    assert {p.rsplit("/", 1)[-1] for p in named} <= set(got)
