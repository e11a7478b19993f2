"""aws-iam-09-access-analyzer: findings loaded from side inputs, the three signals, bad files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cloudtrail_hunt.detect import analyzer, engine
from cloudtrail_hunt.detect.site import Site
from cloudtrail_hunt.errors import IngestError
from cloudtrail_hunt.source import records_frame
from detections.aws_iam_09_access_analyzer import DETECTION
from tests.conftest import make_event

OWN, MEMBER, PARTNER, OUTSIDER = "012345678901", "210987654321", "444455556666", "111122223333"
SITE = Site(accounts=frozenset({OWN, MEMBER}), partner_accounts=frozenset({PARTNER}))
T0 = datetime(2026, 10, 10, 8, 0, tzinfo=UTC)
BUCKET = "acme-exports"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
DEV = f"arn:aws:sts::{OWN}:assumed-role/Developer/lena"


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _finding(
    finding_id: str = "f-public",
    principal: dict[str, Any] | None = None,
    *,
    created: datetime = T0 + timedelta(minutes=10),
    status: str = "ACTIVE",
    updated: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    principal = principal if principal is not None else {"AWS": "*"}
    return {
        "id": finding_id,
        "principal": principal,
        "action": ["s3:GetObject"],
        "resource": BUCKET_ARN,
        "isPublic": principal.get("AWS") == "*",
        "resourceType": "AWS::S3::Bucket",
        "condition": extra.pop("condition", {}),
        "createdAt": _iso(created),
        "analyzedAt": _iso(created),
        "updatedAt": _iso(updated or created),
        "status": status,
        "resourceOwnerAccount": OWN,
        "findingType": extra.pop("findingType", "ExternalAccess"),
        **extra,
    }


def _event(finding: dict[str, Any], event_id: str = "eb-1") -> dict[str, Any]:
    detail = {k: v for k, v in finding.items() if k not in ("resourceOwnerAccount", "findingType")}
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Access Analyzer Finding",
        "source": "aws.access-analyzer",
        "account": OWN,
        "time": finding["updatedAt"][:19] + "Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:access-analyzer:eu-west-1:{OWN}:analyzer/account-analyzer"],
        "detail": {**detail, "accountId": OWN, "region": "eu-west-1"},
    }


def _side_inputs(
    tmp_path: Path,
    *,
    events: list[dict[str, Any]] | None = None,
    listed: list[dict[str, Any]] | None = None,
    ledger: list[dict[str, Any]] | None = None,
) -> Path:
    folder = tmp_path / "side_inputs"
    base = folder / "access-analyzer"
    base.mkdir(parents=True)
    if events is not None:
        (base / "eventbridge-findings.json").write_text(json.dumps(events))
    if listed is not None:
        (base / f"list-findings-{OWN}-eu-west-1.json").write_text(json.dumps({"findings": listed}))
    if ledger is not None:
        (base / "change-ledger.json").write_text(json.dumps({"approved_archives": ledger}))
    return folder


def _put_bucket_policy(t: datetime = T0) -> dict[str, Any]:
    return make_event(
        eventTime=_iso(t)[:19] + "Z",
        eventSource="s3.amazonaws.com",
        eventName="PutBucketPolicy",
        readOnly=False,
        requestParameters={"bucketName": BUCKET, "bucketPolicy": {"Statement": []}},
        resources=[{"accountId": OWN, "type": "AWS::S3::Bucket", "ARN": BUCKET_ARN}],
        eventID="put-policy",
        **{"userIdentity.arn": DEV},
    )


def _update_findings(
    ids: list[str], status: str = "ARCHIVED", t: datetime = T0 + timedelta(days=1), **fields: Any
) -> dict[str, Any]:
    return make_event(
        eventTime=_iso(t)[:19] + "Z",
        eventSource="access-analyzer.amazonaws.com",
        eventName="UpdateFindings",
        readOnly=False,
        requestParameters={
            "analyzerArn": "arn:aws:access-analyzer:x",
            "ids": ids,
            "status": status,
        },
        eventID=fields.pop("eventID", "update-findings"),
        **fields,
    )


def _run(
    side_inputs: Path | None,
    records: list[dict[str, Any]] | None = None,
    start: datetime = T0 - timedelta(days=1),
    end: datetime = T0 + timedelta(days=5),
) -> pl.DataFrame:
    # An unrelated event keeps the frame non-empty when a case has no CloudTrail records.
    filler = make_event(eventTime="2026-10-09T00:00:00Z", eventID="filler")
    return engine.run(
        records_frame([filler, *(records or [])]),
        [DETECTION],
        start=start,
        end=end,
        site=SITE,
        side_inputs=side_inputs,
    )


def _signal(found: pl.DataFrame, name: str) -> pl.DataFrame:
    return found.filter(pl.col("signal") == name)


def _ids(found: pl.DataFrame) -> list[list[str]]:
    return [[e["event_id"] for e in row] for row in found["evidence"].to_list()]


# --- loading -------------------------------------------------------------------------------------


def test_load_findings_reads_eventbridge_events_and_list_findings(tmp_path: Path) -> None:
    finding = _finding()
    folder = _side_inputs(tmp_path, events=[_event(finding)], listed=[finding])
    observations = analyzer.load_findings(folder)
    assert observations.select("finding_id", "source", "index").rows() == [
        ("f-public", "access-analyzer/eventbridge-findings.json", 0),
        ("f-public", f"access-analyzer/list-findings-{OWN}-eu-west-1.json", 0),
    ]


def test_load_findings_reads_json_lines(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path)
    lines = [_event(_finding("a")), _event(_finding("b"), "eb-2")]
    (folder / "access-analyzer" / "events.jsonl").write_text(
        "\n".join(json.dumps(e) for e in lines)
    )
    assert analyzer.load_findings(folder)["finding_id"].to_list() == ["a", "b"]


def test_load_findings_rejects_a_file_that_is_not_json(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path)
    (folder / "access-analyzer" / "broken.json").write_text('[{"id": "x", ')
    with pytest.raises(IngestError, match="invalid JSON") as caught:
        analyzer.load_findings(folder)
    assert caught.value.source == "access-analyzer/broken.json"


def test_load_findings_skips_what_is_not_a_finding(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, events=[1, "x", {"detail-type": "Other"}, [], None])
    assert analyzer.load_findings(folder).is_empty()


def test_load_findings_reads_wrong_types_as_missing(tmp_path: Path) -> None:
    odd = {**_finding(), "resource": {"x": 1}, "status": 7, "createdAt": "yesterday"}
    folder = _side_inputs(tmp_path, listed=[odd, {**_finding(), "id": 12}])
    observations = analyzer.load_findings(folder)
    assert observations.select("finding_id", "resource", "status", "created").rows() == [
        ("f-public", None, None, None)
    ]


def test_load_findings_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert analyzer.load_findings(tmp_path).is_empty()


def test_load_ledger_rejects_a_ledger_without_approvals(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path)
    (folder / "access-analyzer" / "change-ledger.json").write_text('{"approved": []}')
    with pytest.raises(IngestError, match="approved_archives"):
        analyzer.load_ledger(folder)


# --- analyzer-finding-public ---------------------------------------------------------------------


def test_public_finding_pages_with_the_policy_change_as_lead_evidence(tmp_path: Path) -> None:
    finding = _finding()
    folder = _side_inputs(tmp_path, events=[_event(finding)], listed=[finding])
    found = _signal(_run(folder, [_put_bucket_policy()]), "analyzer-finding-public")
    # The principal granted access; who changed the policy leads the evidence.
    assert found.select("tier", "account", "principal").rows() == [("page", OWN, "*")]
    assert found["resource"].to_list() == [finding["resource"]]
    assert _ids(found) == [["put-policy", "eb-1", "f-public"]]
    assert found["first_seen"].to_list() == [T0]


def test_public_finding_without_its_cloudtrail_cause_still_pages(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, listed=[_finding()])
    found = _signal(_run(folder), "analyzer-finding-public")
    assert found.select("tier", "principal").rows() == [("page", "*")]


def test_public_finding_ignores_a_policy_change_a_day_before(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, listed=[_finding()])
    old = _put_bucket_policy(T0 - timedelta(days=1))
    found = _signal(_run(folder, [old], start=T0 - timedelta(days=2)), "analyzer-finding-public")
    assert _ids(found) == [["f-public"]]


def test_public_finding_is_not_blamed_on_a_bucket_with_a_longer_name(tmp_path: Path) -> None:
    other = _put_bucket_policy()
    other["requestParameters"]["bucketName"] = f"{BUCKET}-archive"
    other["resources"] = [{"ARN": f"{BUCKET_ARN}-archive"}]
    folder = _side_inputs(tmp_path, listed=[_finding()])
    found = _signal(_run(folder, [other]), "analyzer-finding-public")
    assert _ids(found) == [["f-public"]]


def test_public_finding_archived_by_a_rule_at_creation_is_silent(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, listed=[_finding(status="ARCHIVED")])
    assert _signal(_run(folder), "analyzer-finding-public").is_empty()


def test_public_finding_archived_later_still_pages(tmp_path: Path) -> None:
    later = T0 + timedelta(days=2)
    folder = _side_inputs(tmp_path, listed=[_finding(status="ARCHIVED", updated=later)])
    assert _signal(_run(folder), "analyzer-finding-public").height == 1


def test_public_finding_created_outside_the_range_is_silent(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, listed=[_finding()])
    found = _run(folder, start=T0 + timedelta(days=1), end=T0 + timedelta(days=2))
    assert _signal(found, "analyzer-finding-public").is_empty()


def test_unused_access_findings_are_not_exposure(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, listed=[_finding(findingType="UnusedIAMRole")])
    assert _run(folder).is_empty()


def test_no_side_inputs_means_no_finding_signals() -> None:
    found = _run(None)
    assert found.filter(pl.col("signal").str.starts_with("analyzer-finding")).is_empty()


# --- analyzer-finding-cross-account --------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "condition"),
    [
        pytest.param({"AWS": OUTSIDER}, {}, id="bare-id"),
        pytest.param({"AWS": f"arn:aws:iam::{OUTSIDER}:root"}, {}, id="root-arn"),
        pytest.param(
            {"AWS": f"arn:aws:iam::{PARTNER}:root"},
            {"aws:PrincipalAccount": [OUTSIDER]},
            id="condition-principal-account",
        ),
    ],
)
def test_cross_account_finding_to_an_outsider_pages(
    tmp_path: Path, principal: dict[str, Any], condition: dict[str, Any]
) -> None:
    finding = _finding("f-cross", principal, condition=condition)
    folder = _side_inputs(tmp_path, listed=[finding])
    found = _run(folder)
    assert _signal(found, "analyzer-finding-cross-account")["tier"].to_list() == ["page"]
    assert _signal(found, "analyzer-finding-public").is_empty()


@pytest.mark.parametrize(
    "principal",
    [
        pytest.param({"AWS": PARTNER}, id="partner"),
        pytest.param({"AWS": f"arn:aws:iam::{MEMBER}:role/x"}, id="org-member"),
        pytest.param({"AWS": OWN}, id="own-account"),
        pytest.param({"AWS": "*"}, id="public-is-the-other-signal"),
    ],
)
def test_cross_account_finding_to_a_known_account_is_silent(
    tmp_path: Path, principal: dict[str, Any]
) -> None:
    folder = _side_inputs(tmp_path, listed=[_finding("f-cross", principal)])
    assert _signal(_run(folder), "analyzer-finding-cross-account").is_empty()


def test_a_finding_seen_twice_is_one_finding(tmp_path: Path) -> None:
    finding = _finding("f-cross", {"AWS": OUTSIDER})
    archived = _finding("f-cross", {"AWS": OUTSIDER}, status="ARCHIVED", updated=T0 + timedelta(1))
    folder = _side_inputs(tmp_path, events=[_event(finding), _event(archived, "eb-2")])
    found = _signal(_run(folder), "analyzer-finding-cross-account")
    assert _ids(found) == [["eb-1", "eb-2"]]


# --- analyzer-archive-without-ticket -------------------------------------------------------------


def _approval(finding_id: str, at: datetime) -> dict[str, Any]:
    return {"finding_id": finding_id, "ticket": "CHG0042117", "approved_at": _iso(at)}


def test_archive_without_a_ledger_entry_tickets(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, ledger=[_approval("other", T0)])
    found = _signal(
        _run(folder, [_update_findings(["f-public"])]), "analyzer-archive-without-ticket"
    )
    assert found.select("tier", "count").rows() == [("ticket", 1)]
    assert _ids(found) == [["update-findings"]]


def test_archive_approved_before_is_silent(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, ledger=[_approval("f-public", T0)])
    found = _run(folder, [_update_findings(["f-public"])])
    assert _signal(found, "analyzer-archive-without-ticket").is_empty()


def test_archive_approved_only_afterwards_tickets(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, ledger=[_approval("f-public", T0 + timedelta(days=3))])
    found = _run(folder, [_update_findings(["f-public"])])
    assert _signal(found, "analyzer-archive-without-ticket").height == 1


def test_archive_of_an_approved_and_an_unapproved_finding_tickets(tmp_path: Path) -> None:
    folder = _side_inputs(tmp_path, ledger=[_approval("f-public", T0)])
    found = _run(folder, [_update_findings(["f-public", "f-sneaky"])])
    assert _signal(found, "analyzer-archive-without-ticket").height == 1


def test_archive_without_any_side_inputs_tickets() -> None:
    found = _run(None, [_update_findings(["f-public"])])
    assert _signal(found, "analyzer-archive-without-ticket").height == 1


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(_update_findings(["f-public"], status="ACTIVE"), id="unarchive"),
        pytest.param(_update_findings(["f-public"], errorCode="AccessDenied"), id="denied"),
    ],
)
def test_update_findings_that_archives_nothing_is_silent(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    folder = _side_inputs(tmp_path, ledger=[])
    assert _signal(_run(folder, [record]), "analyzer-archive-without-ticket").is_empty()
