"""cloudtrail_hunt.synth: determinism, the org-trail layout, labels, record shapes, side inputs.

One generation with the documented sample call is shared by the module; the committed
``sample_logs/`` must equal it (content of every file), so the sample never drifts.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloudtrail_hunt.ingest.layout import parse_key
from cloudtrail_hunt.synth import SynthResult, generate_org_trail

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_logs"
#: The documented call (sample_logs/README.md shows the same).
CALL: dict[str, Any] = dict(
    seed=7,
    start=date(2026, 10, 1),
    days=35,
    accounts=3,
    regions=("us-east-1", "eu-west-1"),
    events_per_day=100,
    files_per_day=8,
)
CONTROLS = [
    f"aws-iam-{n}"
    for n in (
        "01-root-mfa",
        "02-root-access-keys",
        "03-identity-center",
        "04-iam-user-mfa",
        "05-key-rotation",
        "06-role-assumption",
        "07-permission-boundary",
        "08-scp-deny-list",
        "09-access-analyzer",
        "10-credential-report",
    )
]
TIERS = {"page", "ticket", "informational", "digest"}
#: The IAM credential report header (GetCredentialReport, base64-decoded Content).
IAM_HEADER = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
LOG_NAME = re.compile(
    r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8})T(\d{2})(\d{2})Z_[A-Za-z0-9]{16}"
    r"\.json\.gz\Z"
)
FENCED = {
    "StopLogging",
    "DeleteTrail",
    "ScheduleKeyDeletion",
    "DisableKey",
    "StopConfigurationRecorder",
    "DeleteConfigurationRecorder",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate_org_trail(tmp_path_factory.mktemp("synth") / "trail", **CALL)


@pytest.fixture(scope="module")
def out(run: SynthResult) -> Path:
    return run.out


@pytest.fixture(scope="module")
def labels(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def org(out: Path) -> dict[str, Any]:
    return json.loads((out / "side_inputs" / "org.json").read_text())


@pytest.fixture(scope="module")
def objects(out: Path) -> dict[Path, list[dict[str, Any]]]:
    return {
        p: json.loads(gzip.decompress(p.read_bytes())).get("Records", [])
        for p in sorted((out / "AWSLogs").rglob("*.json.gz"))
        if "/CloudTrail/" in str(p)
    }


@pytest.fixture(scope="module")
def records(objects: dict[Path, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for recs in objects.values() for r in recs]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


def test_same_arguments_give_identical_bytes(out: Path, tmp_path: Path) -> None:
    again = generate_org_trail(tmp_path / "again", **CALL)
    assert again.out == tmp_path / "again"
    assert _tree(tmp_path / "again") == _tree(out)


def test_another_seed_gives_another_trail(out: Path, tmp_path: Path) -> None:
    other = generate_org_trail(tmp_path / "other", **{**CALL, "seed": 8})
    assert _tree(other.out).keys() != _tree(out).keys()


def test_committed_sample_logs_equal_a_fresh_generation(out: Path) -> None:
    # Compares content (gzip members decompressed) so a failure names the file that drifted.
    committed, fresh = _tree(SAMPLE), _tree(out)
    assert sorted(committed) == sorted(fresh), "regenerate sample_logs with the README call"
    for name, data in fresh.items():
        if name.endswith(".gz"):
            assert gzip.decompress(committed[name]) == gzip.decompress(data), name
        else:
            assert committed[name] == data, name


def test_sample_readme_documents_the_call_and_every_scenario(labels: list[dict[str, Any]]) -> None:
    readme = (SAMPLE / "README.md").read_text()
    assert "generate_org_trail(" in readme and "events_per_day=100" in readme
    for label in labels:
        assert f"| {label['scenario']} |" in readme, label["scenario"]


def test_result_counts_what_was_written(
    run: SynthResult,
    objects: dict[Path, Any],
    records: list[dict[str, Any]],
    labels: list[dict[str, Any]],
) -> None:
    everything = list((run.out / "AWSLogs").rglob("*.json.gz"))
    assert run.objects == len(everything)
    assert run.events == len(records)
    # 3 accounts x 2 regions x 35 days x 100 background records, plus scenarios.
    assert 21_000 <= run.events <= 25_000
    assert run.scenarios == [label["scenario"] for label in labels]
    assert len(set(run.scenarios)) == len(run.scenarios)


def test_every_key_follows_the_org_trail_layout(out: Path, org: dict[str, Any]) -> None:
    kinds = Counter()
    for path in (out / "AWSLogs").rglob("*.json.gz"):
        info = parse_key(str(path.relative_to(out)))
        assert info.org == org["org_id"] and re.fullmatch(r"o-[a-z0-9]{10}", info.org)
        assert info.account in org["member_accounts"] + [org["management_account"]]
        kinds[info.kind] += 1
        if info.kind == "events":
            m = LOG_NAME.match(path.name)
            assert m, path.name
            assert (m[1], m[2], m[3]) == (info.account, info.region, info.day.strftime("%Y%m%d"))
        else:
            folder = "CloudTrail-Digest" if info.kind == "digest" else "CloudTrail-Insight"
            assert path.name.startswith(f"{info.account}_{folder}_{info.region}_")
    # One digest per account, region and hour with deliveries: at most one per log file.
    assert kinds["events"] > 1000 and 1 <= kinds["digest"] <= kinds["events"]
    assert 1 <= kinds["insight"] <= 2


def test_records_are_sorted_and_inside_their_file_slice(objects: dict[Path, Any]) -> None:
    slice_len = timedelta(days=1) / CALL["files_per_day"]
    for path, recs in objects.items():
        m = LOG_NAME.match(path.name)
        assert m and recs
        named = datetime.strptime(f"{m[3]}{m[4]}{m[5]}", "%Y%m%d%H%M")
        end = named + timedelta(minutes=1)
        times = [datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ") for r in recs]
        assert times == sorted(times), path.name
        assert end - slice_len <= times[0] and times[-1] < end, path.name
        assert {r["awsRegion"] for r in recs} == {m[2]}
        assert {r["recipientAccountId"] for r in recs} == {m[1]}


def test_global_services_are_logged_in_us_east_1(records: list[dict[str, Any]]) -> None:
    glob = [
        r
        for r in records
        if r["eventSource"]
        in ("iam.amazonaws.com", "signin.amazonaws.com", "organizations.amazonaws.com")
    ]
    assert len(glob) > 500
    assert {r["awsRegion"] for r in glob} == {"us-east-1"}


def test_records_have_the_cloudtrail_shape(records: list[dict[str, Any]]) -> None:
    ids = Counter(r["eventID"] for r in records)
    assert ids.most_common(1)[0][1] == 1
    for r in records:
        assert r["eventVersion"] in ("1.08", "1.09")
        assert UUID.match(r["eventID"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["eventTime"])
        assert r["eventSource"].endswith(".amazonaws.com") and r["eventName"]
        assert r["userIdentity"]["type"] in (
            "Root",
            "IAMUser",
            "AssumedRole",
            "AWSService",
            "SAMLUser",
            "WebIdentityUser",
        )
        assert r["eventCategory"] == "Management" and r["managementEvent"] is True
        assert isinstance(r["readOnly"], bool)
        assert re.fullmatch(r"\d{12}", r["recipientAccountId"])
        if r["eventType"] == "AwsApiCall":
            assert "requestID" in r and "sourceIPAddress" in r and "userAgent" in r
        if r["eventName"] == "ConsoleLogin":
            assert r["additionalEventData"]["MFAUsed"] in ("Yes", "No")
            assert r["eventType"] == "AwsConsoleSignIn"
    kinds = Counter(r["userIdentity"]["type"] for r in records)
    assert kinds["AssumedRole"] > kinds["AWSService"] > kinds["IAMUser"] > kinds["Root"] > 0


def test_background_mix_matches_the_brief(records: list[dict[str, Any]]) -> None:
    n = len(records)
    svc_assume = sum(
        1
        for r in records
        if r["eventName"] == "AssumeRole" and r["userIdentity"]["type"] == "AWSService"
    )
    reads = sum(1 for r in records if r["readOnly"] and r["eventName"] != "AssumeRole")
    errors = sum(1 for r in records if "errorCode" in r)
    assert 0.08 < svc_assume / n < 0.12
    assert 0.82 < reads / n < 0.92
    assert 0.02 < errors / n < 0.05
    sso = [
        r
        for r in records
        if r["eventName"] == "ConsoleLogin" and r["userIdentity"]["type"] == "AssumedRole"
    ]
    assert sso and all(
        "/AWSReservedSSO_" in r["userIdentity"]["arn"]
        and r["additionalEventData"]["MFAUsed"] == "No"
        for r in sso
    )


def test_an_account_id_keeps_its_leading_zero(org: dict[str, Any], out: Path) -> None:
    zero = [a for a in org["member_accounts"] if a.startswith("0")]
    assert zero
    assert (out / "AWSLogs" / org["org_id"] / zero[0] / "CloudTrail").is_dir()


def test_insights_and_digests_have_their_real_shapes(out: Path) -> None:
    insights = list((out / "AWSLogs").rglob("*_CloudTrail-Insight_*.json.gz"))
    for path in insights:
        for r in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            assert r["eventType"] == "AwsCloudTrailInsight" and "userIdentity" not in r
            assert r["insightDetails"]["state"] in ("Start", "End")
    digests = list((out / "AWSLogs").rglob("*_CloudTrail-Digest_*.json.gz"))
    listed = 0
    log_files = {str(p.relative_to(out)) for p in (out / "AWSLogs").rglob("*_CloudTrail_*.json.gz")}
    for path in digests:
        doc = json.loads(gzip.decompress(path.read_bytes()))
        assert {
            "awsAccountId",
            "digestStartTime",
            "digestEndTime",
            "digestS3Bucket",
            "digestS3Object",
            "logFiles",
        } <= doc.keys()
        assert str(path.relative_to(out)) == doc["digestS3Object"]
        for f in doc["logFiles"]:
            data = gzip.decompress((out / f["s3Object"]).read_bytes())
            assert hashlib.sha256(data).hexdigest() == f["hashValue"]
            listed += 1
            log_files.discard(f["s3Object"])
    # Every log file is in a digest (the signatures and the chain: tests/custody).
    assert insights and digests and listed and not log_files


def test_labels_are_well_formed(labels: list[dict[str, Any]]) -> None:
    for label in labels:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", label["scenario"]), label["scenario"]
        assert label["control"] in CONTROLS
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", label["signal"])
        assert (label["expect"], label["tier"] in TIERS) in (("fire", True), ("silent", False))
        assert label["tier"] in TIERS or label["tier"] is None
        assert re.fullmatch(r"\d{12}", label["account"]) and label["principal"]
        assert label["first_time"] <= label["last_time"]
        assert 'Guide: "' in label["description"]
        assert label["event_ids"] or label["evidence"], label["scenario"]


def test_every_control_fires_and_has_a_near_miss(labels: list[dict[str, Any]]) -> None:
    fired = {x["control"] for x in labels if x["expect"] == "fire"}
    silent = {x["control"] for x in labels if x["expect"] == "silent"}
    assert fired == set(CONTROLS) and silent == set(CONTROLS)
    tiers = {x["tier"] for x in labels if x["expect"] == "fire"}
    assert tiers == TIERS


def test_label_event_ids_exist_exactly_once(
    out: Path, labels: list[dict[str, Any]], records: list[dict[str, Any]]
) -> None:
    count = Counter(r["eventID"] for r in records)
    by_id = {r["eventID"]: r for r in records}
    for label in labels:
        for event_id in label["event_ids"]:
            assert count[event_id] == 1, (label["scenario"], event_id)
            assert by_id[event_id]["recipientAccountId"] == label["account"]
    for label in labels:
        for rel in label["evidence"]:
            assert (out / rel).is_file(), rel


def test_firing_cloudtrail_scenarios_sit_in_the_hunt_window(
    labels: list[dict[str, Any]], org: dict[str, Any]
) -> None:
    hunt_start = org["windows"]["hunt"][0]
    history = {"net-new-iam-users", "key-call-volume-dormant"}  # need weeks of history
    for label in labels:
        if label["expect"] == "fire" and label["event_ids"] and label["signal"] not in history:
            assert label["last_time"] >= hunt_start, label["scenario"]
    baseline_fires = [
        x
        for x in labels
        if x["expect"] == "fire" and x["event_ids"] and x["last_time"] < hunt_start
    ]
    assert [x["signal"] for x in baseline_fires] == ["net-new-iam-users"]


def _signals(r: dict[str, Any], org: dict[str, Any]) -> list[str]:
    """The single-record shapes of the guide's log signals (what a detector matches on)."""
    u, n = r["userIdentity"], r["eventName"]
    extra, params = r.get("additionalEventData") or {}, r.get("requestParameters") or {}
    kind = u.get("type")
    out = []
    if n == "ConsoleLogin" and kind == "Root" and extra.get("MFAUsed") == "No":
        out.append("root-console-login-mfa-no")
    if n == "ConsoleLogin" and kind == "IAMUser":
        if not u["userName"].startswith(org["break_glass_user_prefix"]):
            out.append("iam-user-console-login")
        if extra.get("MFAUsed") == "No":
            out.append("iam-user-console-login-mfa-no")
    if n in ("DeactivateMFADevice", "DeleteVirtualMFADevice"):
        out.append("mfa-removed")
    if n in ("CreateAccessKey", "UpdateAccessKey") and kind == "Root":
        out.append("root-access-key")
    if n in (
        "UpdateAssumeRolePolicy",
        "DeleteRolePermissionsBoundary",
        "CreateUser",
        "UpdateFindings",
        "CreatePodIdentityAssociation",
    ):
        out.append(n)
    if (
        n == "PutRolePermissionsBoundary"
        and params.get("permissionsBoundary") not in (org["permission_boundary_arns"])
    ):
        out.append("non-canonical-boundary")
    if n == "CreateRole" and "permissionsBoundary" not in params:
        out.append("create-role-without-boundary")
    if n in FENCED and "errorCode" not in r:
        out.append("fenced-api-success")
    if "service control policy" in r.get("errorMessage", ""):
        out.append("scp-denial")
    if r["eventSource"] == "organizations.amazonaws.com" and n in (
        "DetachPolicy",
        "UpdatePolicy",
        "DisablePolicyType",
    ):
        out.append("scp-tampering")
    if r["eventSource"] == "sso.amazonaws.com" and not r["readOnly"]:
        out.append("identity-center-change")
    if n == "AssumeRole" and kind == "IAMUser":
        out.append("assume-role-by-iam-user")
    if (
        r["awsRegion"] not in org["allowed_regions"]
        and kind != "AWSService"
        and ("invokedBy" not in u)
    ):
        out.append("request-outside-allowed-regions")
    if n == "GenerateCredentialReport" and "errorCode" in r:
        out.append("credential-report-generation-failing")
    return out


def test_no_guide_signal_goes_unlabelled(
    labels: list[dict[str, Any]], records: list[dict[str, Any]], org: dict[str, Any]
) -> None:
    # Benign traffic must not look like any signal: every match is a planted, labelled record.
    labelled = {e for x in labels for e in x["event_ids"]}
    seen: Counter[str] = Counter()
    for r in records:
        for signal in _signals(r, org):
            seen[signal] += 1
            assert r["eventID"] in labelled, (signal, r["eventName"], r["eventTime"])
    assert len(seen) == 19  # every shape above is exercised at least once


def test_benign_only_run_has_no_signal_and_no_firing_label(tmp_path: Path) -> None:
    done = generate_org_trail(
        tmp_path / "benign", days=21, accounts=4, events_per_day=60, scenarios=False
    )
    org = json.loads((done.out / "side_inputs" / "org.json").read_text())
    recs = [
        r
        for p in (done.out / "AWSLogs").rglob("*.json.gz")
        for r in json.loads(gzip.decompress(p.read_bytes())).get("Records", [])
    ]
    assert recs and not [(r["eventName"], s) for r in recs for s in _signals(r, org)]
    fired = [json.loads(x) for x in (done.out / "labels.jsonl").read_text().splitlines()]
    assert [x for x in fired if x["expect"] == "fire"] == []


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_credential_reports_have_the_iam_layout(out: Path, org: dict[str, Any]) -> None:
    reports = sorted((out / "side_inputs" / "credential-reports").rglob("*.csv"))
    assert len(reports) >= 3 * 4
    for path in reports:
        lines = path.read_text().splitlines()
        assert lines[0].split(",") == IAM_HEADER
        rows = _read_csv(path)
        assert rows[0]["user"] == "<root_account>"
        assert rows[0]["arn"] == f"arn:aws:iam::{path.parent.name}:root"
        assert all(row["mfa_active"] in ("true", "false") for row in rows)
    index = json.loads((out / "side_inputs" / "credential-reports" / "index.json").read_text())
    assert len(index) == len(reports)
    assert any(not x["scheduled"] for x in index) and any(x["scheduled"] for x in index)


def test_credential_report_labels_match_the_csvs(out: Path, labels: list[dict[str, Any]]) -> None:
    flips = [x for x in labels if x["signal"] == "credential-report-root-key-flip"]
    assert len(flips) == 2
    for flip in flips:
        before, after = (_read_csv(out / rel)[0] for rel in flip["evidence"])
        n = flip["scenario"].rsplit("-", 1)[1]
        assert before.get(f"access_key_{n}_active") == "false"
        assert after[f"access_key_{n}_active"] == "true"
    bands = {x["tier"]: x for x in labels if x["signal"] == "credential-report-password-no-mfa"}
    assert set(bands) == {"ticket", "page", None}
    for tier, label in bands.items():
        for rel in label["evidence"]:
            count = sum(
                1
                for row in _read_csv(out / rel)[1:]
                if row["password_enabled"] == "true" and row["mfa_active"] == "false"
            )
            assert (
                (count == 0)
                if tier is None
                else (1 <= count <= 5 if tier == "ticket" else count >= 6)
            )
    big = [x for x in labels if x["signal"] == "stale-users-over-10"]
    assert big and len(big[0]["principal"].split(",")) > 10


def test_access_analyzer_side_inputs(
    out: Path, org: dict[str, Any], records: list[dict[str, Any]]
) -> None:
    base = out / "side_inputs" / "access-analyzer"
    events = json.loads((base / "eventbridge-findings.json").read_text())
    assert events and {e["source"] for e in events} == {"aws.access-analyzer"}
    assert {e["detail-type"] for e in events} == {"Access Analyzer Finding"}
    details = [e["detail"] for e in events if e["detail"]["status"] == "ACTIVE"]
    inside = set(org["member_accounts"]) | {org["management_account"]}
    public = [d for d in details if d["principal"] == {"AWS": "*"}]
    outside = [
        d
        for d in details
        if d["principal"].get("AWS") not in inside | {"*"}
        and d["principal"]["AWS"] not in org["partner_accounts"]
    ]
    partner = [d for d in details if d["principal"].get("AWS") in org["partner_accounts"]]
    assert len(public) == len(outside) == len(partner) == 1 and public[0]["isPublic"]
    listed = [
        f for p in base.glob("list-findings-*.json") for f in json.loads(p.read_text())["findings"]
    ]
    assert {f["id"] for f in listed} == {d["id"] for d in details}
    ledger = json.loads((base / "change-ledger.json").read_text())["approved_archives"]
    archived = [r for r in records if r["eventName"] == "UpdateFindings"]
    assert {r["requestParameters"]["status"] for r in archived} == {"ARCHIVED"}
    approved = {x["finding_id"] for x in ledger}
    ticketed = [r["requestParameters"]["ids"][0] in approved for r in archived]
    assert sorted(ticketed) == [False, True]


def test_config_evaluations(out: Path) -> None:
    files = sorted((out / "side_inputs" / "config").glob("*-ACCESS_KEYS_ROTATED-*.json"))
    assert len(files) == 3 * 5
    verdicts = Counter()
    for path in files:
        for result in json.loads(path.read_text())["EvaluationResults"]:
            q = result["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
            assert q["ResourceType"] == "AWS::IAM::User" and q["ResourceId"].startswith("AIDA")
            verdicts[result["ComplianceType"]] += 1
    assert verdicts["NON_COMPLIANT"] and verdicts["COMPLIANT"]
    changes = json.loads(
        (out / "side_inputs" / "config" / "compliance-change-events.json").read_text()
    )
    assert {c["detail-type"] for c in changes} == {"Config Rules Compliance Change"}


def test_org_json_lists_what_detectors_need(org: dict[str, Any]) -> None:
    assert org["allowed_regions"] == ["eu-west-1", "eu-central-1", "us-east-1"]
    assert org["management_account"] not in org["member_accounts"]
    assert not set(org["partner_accounts"]) & set(org["member_accounts"])
    assert org["break_glass_user_prefix"] == "break-glass-"
    assert org["credential_report_audit"]["role_name"] == "credential-report-audit-role"
    assert "deny-destructive" in org["service_control_policies"]
    assert all(a.startswith("arn:aws:iam::") for a in org["permission_boundary_arns"])


@pytest.mark.parametrize(
    "bad", [dict(files_per_day=0), dict(accounts=2), dict(days=20), dict(regions=())]
)
def test_arguments_it_cannot_honour_are_refused(tmp_path: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies per argument
        generate_org_trail(tmp_path / "x", **bad)
