"""`cloudtrail-hunt hunt` as a process: exit codes, JSON Lines keys, config, formula-safe CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.conftest import make_event
from tests.query.test_cli_query import _trail
from tests.test_cli import run

KEYS = [
    "detection", "signal", "tier", "severity", "account", "principal", "resource",
    "first_seen", "last_seen", "count", "evidence", "id",
]  # fmt: skip


def _root_logins(tmp_path: Path) -> Path:
    root = {
        "eventName": "ConsoleLogin",
        "userIdentity.type": "Root",
        "userIdentity.arn": "=cmd|' /C calc'!A0",
        "additionalEventData.MFAUsed": "No",
        "recipientAccountId": "111122223333",
    }
    return _trail(
        tmp_path / "logs",
        make_event(**root, eventID="e1", eventTime="2026-10-01T10:00:00Z"),
        make_event(**root, eventID="e2", eventTime="2026-10-01T11:00:00Z"),
        make_event(eventName="ConsoleLogin", eventID="e3", eventTime="2026-10-01T12:00:00Z"),
    )


def _hunt(tmp_path: Path, *args: str):
    env = {"CLOUDTRAIL_HUNT_CACHE": str(tmp_path / "cache")}
    return run("hunt", str(_root_logins(tmp_path)), *args, env=env)


def test_hunt_pages_exit_1_and_jsonl_has_the_stable_keys(tmp_path: Path) -> None:
    done = _hunt(tmp_path, "--format", "jsonl", "--detections", "aws-iam-01")
    assert done.returncode == 1, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["evidence"][0]["event_id"] for r in rows] == ["e1", "e2"]
    for row in rows:
        assert list(row)[: len(KEYS)] == KEYS
        assert row["tier"] == "page"
        assert row["detection"] == "aws-iam-01-root-mfa"
        assert set(row["evidence"][0]) == {"event_id", "source", "index"}


def test_hunt_no_fail_exits_0(tmp_path: Path) -> None:
    done = _hunt(tmp_path, "--format", "jsonl", "--no-fail", "--detections", "aws-iam-01")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2


def test_hunt_csv_neutralises_formula_principals(tmp_path: Path) -> None:
    done = _hunt(tmp_path, "--format", "csv", "--no-fail")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows
    assert all(r["principal"].startswith("'=cmd") for r in rows)


def test_hunt_config_allow_list_silences_the_listed_principal(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        """
[[detections."aws-iam-01-root-mfa".allow]]
field = "userIdentity.arn"
value = "=cmd|' /C calc'!A0"
reason = "lab account"
ticket = "CHG-7"
""",
        encoding="utf-8",
    )
    done = _hunt(
        tmp_path, "--format", "jsonl", "--config", str(config), "--detections", "aws-iam-01"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_hunt_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[detections."aws-iam-01-root-mfa".thresholds."root-login".page]\n')
    done = _hunt(tmp_path, "--config", str(config))
    assert done.returncode == 2
    assert 'thresholds."root-login"' in done.stderr
    assert "root-console-login-mfa-no" in done.stderr
