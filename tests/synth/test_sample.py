"""The generated org trail: deterministic, real layout, labelled; the committed sample in sync."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from cloudtrail_hunt.ingest.layout import parse_key
from cloudtrail_hunt.synth import generate_org_trail
from tests.conftest import SAMPLE_LOGS

CONTROLS = [
    "aws-iam-01-root-mfa",
    "aws-iam-02-root-access-keys",
    "aws-iam-03-identity-center",
    "aws-iam-04-iam-user-mfa",
    "aws-iam-05-key-rotation",
    "aws-iam-06-role-assumption",
    "aws-iam-07-permission-boundary",
    "aws-iam-08-scp-deny-list",
    "aws-iam-09-access-analyzer",
    "aws-iam-10-credential-report",
]
#: The call that made sample_logs/ (sample_logs/README.md says the same).
SAMPLE_CALL = dict(
    seed=7,
    start=date(2026, 10, 1),
    days=35,
    accounts=3,
    regions=("us-east-1", "eu-west-1"),
    events_per_day=100,
    files_per_day=8,
)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "trail"
    generate_org_trail(out, **SAMPLE_CALL)
    return out


def test_sample_logs_equal_a_fresh_generation(fresh: Path) -> None:
    assert _digest(SAMPLE_LOGS) == _digest(fresh)  # regenerate with the call in the README


def test_synth_is_deterministic(fresh: Path, tmp_path: Path) -> None:
    generate_org_trail(tmp_path / "again", **SAMPLE_CALL)
    assert _digest(tmp_path / "again") == _digest(fresh)


def test_synth_writes_the_org_layout_with_records_inside_their_day(fresh: Path) -> None:
    objects = sorted((fresh / "AWSLogs").rglob("*.json.gz"))
    assert objects
    for path in objects:
        info = parse_key(str(path.relative_to(fresh)))
        assert info.kind in ("events", "digest", "insight") and info.org and info.account
        if info.kind != "events":
            continue
        records = json.loads(gzip.decompress(path.read_bytes()))["Records"]
        times = [r["eventTime"] for r in records]
        assert times == sorted(times)
        assert all(t.startswith(info.day.isoformat()) for t in times)
        for r in records:
            assert {
                "eventVersion",
                "eventTime",
                "eventSource",
                "eventName",
                "awsRegion",
                "eventID",
                "userIdentity",
            } <= r.keys()
            assert r["recipientAccountId"] == info.account


def test_synth_labels_cover_every_control_and_point_at_real_events(fresh: Path) -> None:
    labels = [json.loads(x) for x in (fresh / "labels.jsonl").read_text().splitlines()]
    fired = {label["control"] for label in labels if label["expect"] == "fire"}
    assert fired == set(CONTROLS)
    ids: dict[str, int] = {}
    for path in (fresh / "AWSLogs").rglob("*.json.gz"):
        for r in json.loads(gzip.decompress(path.read_bytes())).get("Records", []):
            ids[r.get("eventID")] = ids.get(r.get("eventID"), 0) + 1
    for label in labels:
        for event_id in label["event_ids"]:
            assert ids.get(event_id) == 1, (label["scenario"], event_id)


def test_synth_credential_reports_have_the_iam_header(fresh: Path) -> None:
    reports = sorted((fresh / "side_inputs" / "credential-reports").rglob("*.csv"))
    assert reports
    header = reports[0].read_text().splitlines()[0].split(",")
    assert header[:8] == [
        "user",
        "arn",
        "user_creation_time",
        "password_enabled",
        "password_last_used",
        "password_last_changed",
        "password_next_rotation",
        "mfa_active",
    ]
    assert header[-2:] == ["cert_2_active", "cert_2_last_rotated"]
