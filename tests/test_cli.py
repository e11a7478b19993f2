"""The command line, run as a process: exit codes, stdout and stderr asserted separately."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.ingest.trails import small_trail


def run(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cloudtrail_hunt", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_cli_ingest_json_summary_has_exactly_the_documented_keys(tmp_path: Path) -> None:
    keys = small_trail(tmp_path / "src")
    done = run("ingest", str(tmp_path / "src"), str(tmp_path / "lake"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert list(summary) == [
        "objects_seen",
        "objects_ingested",
        "objects_skipped",
        "records",
        "duplicates",
        "quarantined_objects",
        "quarantined_records",
    ]
    assert summary["objects_ingested"] == len(keys) and summary["records"] == len(keys) * 4
    again = json.loads(
        run("ingest", str(tmp_path / "src"), str(tmp_path / "lake"), "--json").stdout
    )
    assert again["objects_skipped"] == len(keys) and again["records"] == 0


def test_cli_ingest_table_and_quarantine_report(tmp_path: Path) -> None:
    src = tmp_path / "src"
    small_trail(src, days=1)
    (src / "notes.txt").write_text("not a log\x1b[31m")
    bad = src / "AWSLogs/o-test000001/012345678901/CloudTrail/us-east-1/2026/10/01/bad.json"
    bad.write_text(json.dumps({"Records": [{"eventName": "\x1b[2Jx"}]}))
    done = run("ingest", str(src), str(tmp_path / "lake"))
    assert done.returncode == 0, done.stderr
    assert "quarantined records" in done.stdout and "rows stored" in done.stdout
    report = run("quarantine", str(tmp_path / "lake"))
    assert report.returncode == 0
    assert "bad.json: record 0: record has no `eventTime`" in report.stdout
    assert "\x1b" not in report.stdout
    lines = [
        json.loads(x)
        for x in run("quarantine", str(tmp_path / "lake"), "--json").stdout.splitlines()
    ]
    assert [(Path(x["source"]).name, x["index"]) for x in lines] == [("bad.json", 0)]


def test_cli_strict_fails_with_exit_2_naming_object_and_record(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.json").write_text(json.dumps({"Records": [{"eventName": "x"}]}))
    done = run("ingest", str(src), str(tmp_path / "lake"), "--strict")
    assert done.returncode == 2 and done.stdout == ""
    assert "bad.json: record 0:" in done.stderr and "no `eventTime`" in done.stderr


def test_cli_usage_error_exits_2(tmp_path: Path) -> None:
    done = run("ingest", str(tmp_path), str(tmp_path / "lake"), "--start", "yesterday")
    assert done.returncode == 2 and "invalid date 'yesterday'" in done.stderr


def test_cli_synth_then_ingest_accounts_for_every_generated_event(tmp_path: Path) -> None:
    done = run(
        "synth",
        str(tmp_path / "trail"),
        "--accounts",
        "2",
        "--days",
        "3",
        "--events-per-day",
        "20",
        "--no-scenarios",
    )
    assert done.returncode == 0, done.stderr
    objects = sorted((tmp_path / "trail" / "AWSLogs").rglob("*.json.gz"))
    records = {p: json.loads(gzip.decompress(p.read_bytes())).get("Records", []) for p in objects}
    events = sum(len(r) for p, r in records.items() if "/CloudTrail/" in str(p))
    assert f"{events:,} events" in done.stdout
    lake = tmp_path / "lake"
    summary = json.loads(run("ingest", str(tmp_path / "trail"), str(lake), "--json").stdout)
    assert summary["objects_seen"] == len(objects)
    assert summary["records"] == sum(len(r) for r in records.values())
    assert summary["quarantined_records"] == 0


def test_cli_readme_first_command_ingests_the_sample(tmp_path: Path) -> None:
    # The README's first command, as written, on the committed sample.
    done = run("ingest", str(REPO / "sample_logs"), str(tmp_path / "lake"))
    assert done.returncode == 0, done.stderr
    labels = [
        json.loads(x) for x in (REPO / "sample_logs" / "labels.jsonl").read_text().splitlines()
    ]
    assert "rows stored" in done.stdout and "quarantined objects" in done.stdout
    import cloudtrail_hunt as ch

    ids = set(ch.scan(tmp_path / "lake").select("eventID").collect()["eventID"])
    assert all(set(label["event_ids"]) <= ids for label in labels)  # every scenario is in the lake
