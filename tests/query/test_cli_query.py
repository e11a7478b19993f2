"""`cloudtrail-hunt query` as a process: formats, raw-log sources, errors and hostile values."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import polars as pl

from tests.conftest import make_event
from tests.test_cli import run

ROOT_LOGINS = (
    'filter eventName = "ConsoleLogin" and userIdentity.type = "Root" | fields eventID, userAgent'
)


def _trail(folder: Path, *records: dict) -> Path:
    key = (
        folder
        / "AWSLogs/111122223333/CloudTrail/us-east-1/2026/10/01/f_CloudTrail_us-east-1_1.json.gz"
    )
    key.parent.mkdir(parents=True)
    key.write_bytes(gzip.compress(json.dumps({"Records": list(records)}).encode()))
    return folder


def _hostile_trail(tmp_path: Path) -> Path:
    root = {
        "userIdentity.type": "Root",
        "eventName": "ConsoleLogin",
        "recipientAccountId": "111122223333",
    }
    return _trail(
        tmp_path / "logs",
        make_event(**root, eventID="e1", userAgent='=HYPERLINK("http://x")\x1b[31m'),
        make_event(**root, eventID="e2", userAgent="[bold]Mozilla[/bold]"),
        make_event(eventName="ConsoleLogin", eventID="e3", recipientAccountId="111122223333"),
    )


def test_query_on_raw_logs_csv_neutralises_formulas(tmp_path: Path) -> None:
    logs = _hostile_trail(tmp_path)
    env_cache = {"CLOUDTRAIL_HUNT_CACHE": str(tmp_path / "cache")}
    done = run("query", str(logs), ROOT_LOGINS, "--format", "csv", env=env_cache)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["eventID", "userAgent"]
    by_id = {r[0]: r[1] for r in rows[1:]}
    assert set(by_id) == {"e1", "e2"}
    assert by_id["e1"].startswith("'=HYPERLINK")


def test_query_table_escapes_control_characters_and_markup(tmp_path: Path) -> None:
    logs = _hostile_trail(tmp_path)
    done = run("query", str(logs), ROOT_LOGINS, env={"CLOUDTRAIL_HUNT_CACHE": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert "\\x1b[31m" in done.stdout
    assert "[bold]Mozilla[/bold]" in done.stdout
    assert "2 rows" in done.stdout


def test_query_json_and_parquet_agree(tmp_path: Path, sample_lake: Path) -> None:
    text = "stats count() as n by eventSource | sort n desc | limit 5"
    as_json = run("query", str(sample_lake), text, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    out = tmp_path / "r.parquet"
    as_parquet = run("query", str(sample_lake), text, "--format", "parquet", "-o", str(out))
    assert as_parquet.returncode == 0, as_parquet.stderr
    assert json.loads(as_json.stdout) == pl.read_parquet(out).to_dicts()
    assert len(json.loads(as_json.stdout)) == 5


def test_query_time_window_limits_rows(sample_lake: Path) -> None:
    text = "stats count() as n"
    whole = json.loads(run("query", str(sample_lake), text, "--format", "json").stdout)[0]["n"]
    window = run(
        "query",
        str(sample_lake),
        text,
        "--format",
        "json",
        "--start",
        "2026-10-02",
        "--end",
        "2026-10-03",
    )
    one_day = json.loads(window.stdout)[0]["n"]
    assert 0 < one_day < whole


def test_query_syntax_error_exits_2_with_caret(sample_lake: Path) -> None:
    done = run("query", str(sample_lake), "filter eventName = | limit 5")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "query line 1, column 20" in done.stderr
    assert "filter eventName = | limit 5\n" in done.stderr
    assert "\n                   ^" in done.stderr


def test_query_unsupported_command_is_named(sample_lake: Path) -> None:
    done = run("query", str(sample_lake), "pattern @message")
    assert done.returncode == 2
    assert "`pattern` is not supported" in done.stderr
