"""detect/side_inputs.py: credential reports and Config evaluations loaded from a folder."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cloudtrail_hunt.detect import side_inputs
from cloudtrail_hunt.errors import IngestError, RecordError
from cloudtrail_hunt.synth.credential_reports import HEADER

ACCOUNT = "012345678901"
T0 = datetime(2026, 10, 4, 5, 0, 21, tzinfo=UTC)


def iso(t: datetime) -> str:
    """A credential-report time: second precision, ``+00:00`` offset."""
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def row(name: str, account: str = ACCOUNT, **fields: str) -> dict[str, str]:
    """A report row for an IAM user with no credentials; `fields` override columns."""
    base = dict.fromkeys(HEADER, "N/A")
    base.update(
        {c: "false" for c in HEADER if c.endswith("_active") or c == "password_enabled"},
        user=name,
        arn=f"arn:aws:iam::{account}:user/{name}",
        user_creation_time=iso(T0 - timedelta(days=400)),
    )
    if name == "<root_account>":
        base["arn"] = f"arn:aws:iam::{account}:root"
        base["password_enabled"] = base["password_last_changed"] = "not_supported"
        base["password_next_rotation"] = "not_supported"
        base["password_last_used"] = "no_information"
    return {**base, **fields}


def write_report(
    folder: Path,
    at: datetime,
    rows: list[dict[str, str]],
    account: str = ACCOUNT,
    *,
    scheduled: bool = True,
    index: bool = True,
) -> str:
    """Write one credential report (and its index.json entry); return its relative path."""
    rel = f"credential-reports/{account}/{at:%Y-%m-%d}.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_text(buf.getvalue(), encoding="utf-8")
    if index:
        path = folder / "credential-reports" / "index.json"
        entries = json.loads(path.read_text()) if path.exists() else []
        entries.append(
            {
                "account": account,
                "file": f"side_inputs/{rel}",
                "generated_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "scheduled": scheduled,
                "generated_by": "arn:aws:sts::x:assumed-role/audit/run",
                "generate_event_id": None,
            }
        )
        path.write_text(json.dumps(entries))
    return rel


def write_config(folder: Path, at: datetime, results: list[tuple[str, str]]) -> str:
    """Write ACCESS_KEYS_ROTATED results (resource id, compliance) as Config prints them."""
    rel = f"config/{ACCOUNT}-ACCESS_KEYS_ROTATED-{at:%Y-%m-%d}.json"
    items: list[dict[str, Any]] = [
        {
            "EvaluationResultIdentifier": {
                "EvaluationResultQualifier": {
                    "ConfigRuleName": "access-keys-rotated-90d",
                    "ResourceType": "AWS::IAM::User",
                    "ResourceId": resource,
                },
            },
            "ComplianceType": verdict,
            "ConfigRuleInvokedTime": iso(at),
        }
        for resource, verdict in results
    ]
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_text(json.dumps({"EvaluationResults": items}))
    return rel


def test_load_credential_reports_types_values(tmp_path: Path) -> None:
    rotated = T0 - timedelta(days=10)
    user = row("alice", access_key_1_active="true", access_key_1_last_rotated=iso(rotated))
    rel = write_report(tmp_path, T0, [row("<root_account>"), user])
    frame = side_inputs.load_credential_reports(tmp_path)
    root, alice = frame.sort("row").to_dicts()
    assert (alice["path"], alice["row"], alice["account"]) == (rel, 1, ACCOUNT)
    assert alice["access_key_1_active"] is True and alice["access_key_2_active"] is False
    assert alice["access_key_1_last_rotated"] == rotated
    assert alice["access_key_1_last_used_date"] is None  # N/A
    assert root["password_enabled"] is None and root["password_last_used"] is None
    assert alice["generated_at"] == T0 and alice["scheduled"] is True
    assert alice["report_date"] == date(2026, 10, 4)


def test_load_credential_reports_without_index_uses_file_date(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("alice")], index=False)
    frame = side_inputs.load_credential_reports(tmp_path)
    assert frame["generated_at"].to_list() == [datetime(2026, 10, 4, tzinfo=UTC)]
    assert frame["scheduled"].to_list() == [True]


def test_load_credential_reports_accepts_z_suffix(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("alice", user_creation_time="2025-01-02T03:04:05Z")])
    frame = side_inputs.load_credential_reports(tmp_path)
    assert frame["user_creation_time"].to_list() == [datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)]


def test_load_credential_reports_bad_time_names_file_row_column(tmp_path: Path) -> None:
    rel = write_report(tmp_path, T0, [row("a"), row("b", password_last_used="yesterday")])
    with pytest.raises(RecordError, match="invalid password_last_used 'yesterday'") as info:
        side_inputs.load_credential_reports(tmp_path)
    assert (info.value.source, info.value.index) == (rel, 1)


def test_load_credential_reports_bad_boolean(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("a", mfa_active="maybe")])
    with pytest.raises(RecordError, match="invalid mfa_active 'maybe'; expected true or false"):
        side_inputs.load_credential_reports(tmp_path)


def test_load_credential_reports_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "credential-reports" / ACCOUNT / "2026-10-04.csv"
    path.parent.mkdir(parents=True)
    path.write_text("user,arn\nalice,arn:aws:iam::1:user/alice\n")
    with pytest.raises(IngestError, match="missing column 'password_enabled'") as info:
        side_inputs.load_credential_reports(tmp_path)
    assert info.value.source == f"credential-reports/{ACCOUNT}/2026-10-04.csv"


def test_load_credential_reports_bad_file_name(tmp_path: Path) -> None:
    path = tmp_path / "credential-reports" / ACCOUNT / "latest.csv"
    path.parent.mkdir(parents=True)
    path.write_text(",".join(HEADER) + "\n")
    with pytest.raises(IngestError, match="unexpected report path"):
        side_inputs.load_credential_reports(tmp_path)


def test_load_credential_reports_bad_account_folder(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("a")], account="prod", index=False)
    with pytest.raises(IngestError, match="unexpected report path; expected `credential-reports/"):
        side_inputs.load_credential_reports(tmp_path)


def test_load_credential_reports_bad_generated_at(tmp_path: Path) -> None:
    rel = write_report(tmp_path, T0, [row("a")])
    index = tmp_path / "credential-reports" / "index.json"
    index.write_text(index.read_text().replace("2026-10-04T05:00:21Z", "soon"))
    with pytest.raises(IngestError, match="invalid generated_at 'soon'") as info:
        side_inputs.load_credential_reports(tmp_path)
    assert info.value.source == rel


def test_load_credential_reports_bad_index(tmp_path: Path) -> None:
    write_report(tmp_path, T0, [row("a")], index=False)
    (tmp_path / "credential-reports" / "index.json").write_text('{"not": "a list"}')
    with pytest.raises(IngestError, match="invalid report index"):
        side_inputs.load_credential_reports(tmp_path)


def test_load_empty_folder_gives_empty_frames(tmp_path: Path) -> None:
    loaded = side_inputs.load(tmp_path)
    assert loaded.reports.is_empty() and loaded.config.is_empty()


def test_pair_consecutive_per_account(tmp_path: Path) -> None:
    week = timedelta(days=7)
    first = write_report(tmp_path, T0, [row("a")])
    manual = write_report(tmp_path, T0 + timedelta(days=2), [row("a")], scheduled=False)
    last = write_report(tmp_path, T0 + week, [row("a")])
    other = write_report(tmp_path, T0 + week, [row("a", "999999999999")], "999999999999")
    reports = side_inputs.load_credential_reports(tmp_path)
    pairs = side_inputs.pair_consecutive(reports).sort("account", "generated_at")
    assert pairs.select("path", "previous_path").rows() == [
        (first, None),
        (manual, first),
        (last, manual),
        (other, None),
    ]
    scheduled = side_inputs.pair_consecutive(reports, scheduled_only=True).sort("generated_at")
    assert scheduled.filter(pl.col("path") == last)["previous_path"].to_list() == [first]


def test_load_config_evaluations(tmp_path: Path) -> None:
    rel = write_config(tmp_path, T0, [("AIDA1", "COMPLIANT"), ("AIDA2", "NON_COMPLIANT")])
    (tmp_path / "config" / "compliance-change-events.json").write_text("[]")  # EventBridge
    frame = side_inputs.load_config_evaluations(tmp_path)
    assert frame.select("account", "resource_id", "compliance", "path", "index").rows() == [
        (ACCOUNT, "AIDA1", "COMPLIANT", rel, 0),
        (ACCOUNT, "AIDA2", "NON_COMPLIANT", rel, 1),
    ]
    assert frame["evaluated_at"].to_list() == [T0, T0]


def test_load_config_evaluations_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / f"{ACCOUNT}-ACCESS_KEYS_ROTATED-2026-10-04.json").write_text("{")
    with pytest.raises(IngestError, match="unreadable Config evaluations"):
        side_inputs.load_config_evaluations(tmp_path)


def test_load_config_evaluations_incomplete_result(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    name = f"config/{ACCOUNT}-ACCESS_KEYS_ROTATED-2026-10-04.json"
    (tmp_path / name).write_text(json.dumps({"EvaluationResults": [{"ComplianceType": "X"}]}))
    with pytest.raises(RecordError, match="incomplete evaluation result") as info:
        side_inputs.load_config_evaluations(tmp_path)
    assert (info.value.source, info.value.index) == (name, 0)


class FakeIam:
    """Answers like boto3's IAM client: the report is built asynchronously."""

    def __init__(self, content: bytes, generated: datetime) -> None:
        self.states = ["STARTED", "COMPLETE"]
        self.content, self.generated = content, generated

    def generate_credential_report(self) -> dict[str, object]:
        return {"State": self.states.pop(0)}

    def get_credential_report(self) -> dict[str, object]:
        return {
            "Content": self.content,
            "GeneratedTime": self.generated,
            "ReportFormat": "text/csv",
        }


def test_fetch_credential_report_writes_the_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(side_inputs.time, "sleep", lambda _: None)
    content = (",".join(HEADER) + "\n" + ",".join(row("bob").values()) + "\n").encode()
    path = side_inputs.fetch_credential_report(
        FakeIam(content, T0), tmp_path, ACCOUNT, caller="arn:aws:sts::1:assumed-role/r/s"
    )
    assert path == tmp_path / "credential-reports" / ACCOUNT / "2026-10-04.csv"
    frame = side_inputs.load_credential_reports(tmp_path)
    assert frame.select("user", "generated_at", "scheduled", "generated_by").rows() == [
        ("bob", T0, False, "arn:aws:sts::1:assumed-role/r/s")
    ]
