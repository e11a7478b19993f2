"""`timeline`, `trace` and `evidence` as processes: exit codes, formats, escaping
(issue 14, acceptance 4 for the table and the CSV; charts rendered to PNG)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import make_event
from tests.query.test_cli_query import _trail
from tests.test_cli import run
from tests.workbench.test_timeline import ROOT, _records

HOSTILE = "</script><script>alert(1)</script>\x1b[2J=cmd"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    records = _records()
    records[1]["userAgent"] = HOSTILE
    records[2]["errorMessage"] = HOSTILE
    return _trail(tmp_path / "logs", *records)


def _run(tmp_path: Path, *args: str):
    return run(*args, env={"CLOUDTRAIL_HUNT_CACHE": str(tmp_path / "cache")})


def _column(table: str, name: str) -> str:
    """One column of a rich table, its folded cells joined (the rows' text, in order)."""
    lines = table.splitlines()
    header = next(line for line in lines if "┃" in line and name in line)
    index = [cell.strip() for cell in header.split("┃")].index(name)
    return "".join(line.split("│")[index].strip() for line in lines if line.startswith("│"))


def _window() -> tuple[str, ...]:
    return ("--principal", ROOT, "--at", "2026-10-01T11:00:00Z", "--before", "2h", "--after", "1d")


def test_timeline_table_escapes_log_text_and_charts(logs: Path, tmp_path: Path) -> None:
    done = _run(tmp_path, "timeline", str(logs), *_window(), "--chart", str(tmp_path / "t.png"))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "3 rows" in done.stdout
    assert "</script><script>alert(1)</script>\\x1b[2J=cmd" in _column(done.stdout, "userAgent")
    assert "ConsoleLogin" in done.stdout and "denied" in done.stdout
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")


def test_timeline_csv_escapes_control_characters_and_formulas(logs: Path, tmp_path: Path) -> None:
    done = _run(tmp_path, "timeline", str(logs), *_window(), "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["eventID"] for r in rows] == ["e1", "e2", "e3"]
    assert rows[1]["userAgent"] == "</script><script>alert(1)</script>\\x1b[2J=cmd"
    assert rows[1]["findings"].startswith("f-") and rows[0]["findings"] == ""


def test_timeline_jsonl_keeps_values_and_finding_ids_work(logs: Path, tmp_path: Path) -> None:
    done = _run(tmp_path, "timeline", str(logs), *_window(), "--format", "jsonl")
    rows = [json.loads(x) for x in done.stdout.splitlines()]
    assert rows[1]["userAgent"] == HOSTILE  # machines get the value itself, JSON-escaped
    finding = rows[1]["findings"][0]
    around = _run(tmp_path, "timeline", str(logs), "--finding", finding, "--before", "1m",
                  "--after", "10m", "--format", "jsonl")  # fmt: skip
    assert around.returncode == 0, around.stderr
    assert [json.loads(x)["eventID"] for x in around.stdout.splitlines()] == ["e2", "e3"]
    unknown = _run(tmp_path, "timeline", str(logs), "--finding", "f-0000")
    assert unknown.returncode == 2 and "no finding with id 'f-0000'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_trace_cli_and_chart(tmp_path: Path) -> None:
    user = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/u",
            "accountId": "111122223333", "accessKeyId": "AKIAROOTKEY"}  # fmt: skip
    session = {**user, "type": "AssumedRole", "accessKeyId": "ASIACHILD",
               "arn": "arn:aws:sts::444455556666:assumed-role/r/s" + HOSTILE,
               "accountId": "444455556666"}  # fmt: skip
    logs = _trail(
        tmp_path / "logs",
        make_event(userIdentity=user, eventID="a1", eventName="AssumeRole",
                   eventSource="sts.amazonaws.com",
                   responseElements={"credentials": {"accessKeyId": "ASIACHILD"},
                                     "assumedRoleUser": {"arn": session["arn"]}}),
        make_event(userIdentity=session, eventID="a2", eventTime="2026-10-01T10:05:00Z",
                   userAgent=HOSTILE),
    )  # fmt: skip
    done = _run(tmp_path, "trace", str(logs), "--access-key", "AKIAROOTKEY", "--format", "jsonl",
                "--chart", str(tmp_path / "trace.png"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    links = [json.loads(x) for x in done.stdout.splitlines()]
    assert [(x["parent"], x["child"], x["status"], x["cross_account"]) for x in links] == [
        ("AKIAROOTKEY", "ASIACHILD", "proven", True)
    ]
    assert (tmp_path / "trace.png").read_bytes().startswith(b"\x89PNG")
    assert links[0]["child_principal"] == session["arn"]  # machines get the value
    table = _run(tmp_path, "trace", str(logs), "--access-key", "AKIAROOTKEY",
                 "--chart", str(tmp_path / "trace.json"))  # fmt: skip
    assert "ASIACHILD" in table.stdout and "proven" in table.stdout
    assert "\x1b" not in table.stdout and "\\x1b" in table.stdout
    spec = json.loads((tmp_path / "trace.json").read_text())
    labels = [
        v["label"] for layer in spec["layer"] for v in layer["data"]["values"] if "label" in v
    ]
    assert any("\\x1b[2J" in x for x in labels) and not any("\x1b" in x for x in labels)
    csv_out = _run(tmp_path, "trace", str(logs), "--access-key", "AKIAROOTKEY", "--format", "csv")
    row = next(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert row["child_principal"] == session["arn"].replace("\x1b", "\\x1b")


def test_evidence_cli_writes_verifies_and_catches_damage(logs: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    done = _run(tmp_path, "evidence", str(logs), *_window(), "-o", str(bundle))
    assert done.returncode == 0, done.stderr
    again = _run(tmp_path, "evidence", str(logs), *_window(), "-o", str(tmp_path / "again"))
    assert again.returncode == 0
    for path in sorted(bundle.iterdir()):
        assert path.read_bytes() == (tmp_path / "again" / path.name).read_bytes(), path.name
    ok = _run(tmp_path, "evidence", "verify", str(bundle))
    assert ok.returncode == 0 and "7 files match" in ok.stdout
    damaged = Path(shutil.copytree(bundle, tmp_path / "damaged"))
    (damaged / "events.jsonl").write_bytes((damaged / "events.jsonl").read_bytes() + b" ")
    bad = _run(tmp_path, "evidence", "verify", str(damaged))
    assert bad.returncode == 1 and "events.jsonl: changed" in bad.stdout
    (damaged / "findings.jsonl").unlink()
    assert "findings.jsonl: missing" in _run(tmp_path, "evidence", "verify", str(damaged)).stdout
    refused = _run(tmp_path, "evidence", str(logs), *_window(), "-o", str(bundle))
    assert refused.returncode == 2 and "not a new or empty folder" in refused.stderr
    usage = _run(tmp_path, "evidence", str(logs), "-o", str(tmp_path / "none"))
    assert usage.returncode == 2 and not (tmp_path / "none").exists()
