"""Shared fixtures: the S3 server plugin, the corpus, a realistic event builder, hypothesis."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.fixtures_s3"]

REPO = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = REPO / "sample_logs"
#: Read-only inputs shared by the team: the third-party CloudTrail corpus and the hardening guide.
#: The team's copy beside the checkout (../shared) wins; a clean clone elsewhere uses the copies
#: in tests/data (byte for byte the same; see tests/data/README.md).
_SHARED = REPO.parent / "shared"
_DATA = REPO / "tests" / "data"
CORPUS = Path(
    os.environ.get(
        "CLOUDTRAIL_HUNT_CORPUS",
        _SHARED / "corpus" if (_SHARED / "corpus" / "MANIFEST.md").is_file() else _DATA / "corpus",
    )
).resolve()
_GUIDE_NAME = "000_7e1086e7423bf4e1.txt"
GUIDE = (
    _SHARED / "seeds" / _GUIDE_NAME
    if (_SHARED / "seeds" / _GUIDE_NAME).is_file()
    else _DATA / "hardening-guide.txt"
)

settings.register_profile(
    "default",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# CI replays the same examples every run (a red build must mean a change broke something);
# local runs explore new examples each time.
settings.register_profile(
    "ci",
    parent=settings.get_profile("default"),
    derandomize=True,
    database=None,
)
settings.load_profile("ci" if os.environ.get("CI") else "default")

_BASE_EVENT: dict[str, Any] = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEID:alice",
        "arn": "arn:aws:sts::012345678901:assumed-role/Admin/alice",
        "accountId": "012345678901",
        "accessKeyId": "ASIAEXAMPLEKEY",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEID",
                "arn": "arn:aws:iam::012345678901:role/Admin",
                "accountId": "012345678901",
                "userName": "Admin",
            },
            "attributes": {"creationDate": "2026-10-01T09:00:00Z", "mfaAuthenticated": "false"},
        },
    },
    "eventTime": "2026-10-01T10:00:00Z",
    "eventSource": "iam.amazonaws.com",
    "eventName": "ListRoles",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "aws-cli/2.15.0 Python/3.11.6",
    "requestParameters": None,
    "responseElements": None,
    "requestID": "0f6b3c2e-0000-4000-8000-000000000001",
    "eventID": "7a1d2f3e-0000-4000-8000-000000000001",
    "readOnly": True,
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "012345678901",
    "eventCategory": "Management",
}


def make_event(**fields: Any) -> dict[str, Any]:
    """Return a complete, realistic CloudTrail record with `fields` merged on top.

    Dotted names set nested fields: ``make_event(**{"userIdentity.type": "Root"})``.
    """
    event = copy.deepcopy(_BASE_EVENT)
    for name, value in fields.items():
        target = event
        *parents, leaf = name.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return event


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The third-party CloudTrail corpus (../shared/corpus)."""
    if not (CORPUS / "MANIFEST.md").is_file():
        pytest.fail(f"the corpus is missing at {CORPUS}; set CLOUDTRAIL_HUNT_CORPUS")
    return CORPUS


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sample_logs/` ingested once per test run."""
    from cloudtrail_hunt import ingest

    lake = tmp_path_factory.mktemp("sample") / "lake"
    ingest(SAMPLE_LOGS, lake)
    return lake


@pytest.fixture(scope="session")
def sample_records() -> list[dict[str, Any]]:
    """Every CloudTrail record of `sample_logs/`, read with the json module (not our decoder)."""
    import gzip
    import json

    records: list[dict[str, Any]] = []
    for path in sorted(SAMPLE_LOGS.glob("AWSLogs/**/CloudTrail/**/*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            records.extend(json.load(handle)["Records"])
    return records
