"""`cloudtrail-hunt verify` as a process: exit codes, table, JSON, on a local copy and on S3."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.custody.builder import build_trail
from tests.custody.s3trail import upload_trail
from tests.fixtures_s3 import S3Server
from tests.test_cli import run


def test_verify_a_clean_local_copy_exits_0_with_a_table(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",))
    done = run("verify", str(trail.root))  # keys and signatures found in side_inputs/
    assert done.returncode == 0, done.stderr
    assert "111111111111" in done.stdout and "8 valid" in done.stdout
    assert "all digests and log files in scope are valid" in done.stdout


def test_verify_json_names_a_modified_file_and_exits_1(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",), regions=("us-east-1",))
    target = trail.root / trail.logs[2]
    target.write_bytes(gzip.compress(gzip.decompress(target.read_bytes()) + b" ", mtime=0))
    done = run("verify", str(trail.root), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["files"] == {"valid": 7, "modified": 1}
    [problem] = report["problems"]
    assert (problem["kind"], problem["status"], problem["key"]) == (
        "log",
        "modified",
        trail.logs[2],
    )
    assert (problem["hour_start"], problem["hour_end"]) == trail.hour_of[trail.logs[2]]


def test_verify_table_escapes_hostile_object_names(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",), regions=("us-east-1",))
    model = trail.root / trail.logs[0]
    hostile = model.with_name(model.name.replace("abcdefgh", "[red]x\x1b[2J"))
    hostile.write_bytes(model.read_bytes())
    done = run("verify", str(trail.root), env={"COLUMNS": "400"})  # no wrapping
    assert done.returncode == 1
    assert "\x1b[2J" not in done.stdout and "\\x1b[2J" in done.stdout
    assert "[red]x" in done.stdout  # shown as text, not taken as rich markup
    assert "does not verify" in done.stderr


def test_verify_without_public_keys_is_a_usage_error(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",), regions=("us-east-1",))
    trail.keys_file.unlink()
    done = run("verify", str(trail.root))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(
        "cloudtrail-hunt: error: --public-keys: no CloudTrail public keys"
    )
    assert "Traceback" not in done.stderr


def test_verify_with_a_key_file_elsewhere_and_a_day_range(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",), regions=("us-east-1",))
    keys = tmp_path / "keys.json"
    trail.keys_file.rename(keys)
    done = run(
        "verify",
        str(trail.root),
        "--public-keys",
        str(keys),
        "--start",
        "2026-03-02",
        "--end",
        "2026-03-02",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


@pytest.mark.s3
def test_verify_an_s3_trail_as_a_process(tmp_path: Path, aws_env: S3Server, s3_bucket: str) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",), regions=("us-east-1",))
    client = aws_env.client()
    upload_trail(client, s3_bucket, trail)
    command = (
        *("verify", f"s3://{s3_bucket}", "--endpoint-url", aws_env.endpoint_url),
        *("--public-keys", str(trail.keys_file), "--json"),
    )
    ok = run(*command)
    assert ok.returncode == 0, ok.stderr
    client.delete_object(Bucket=s3_bucket, Key=trail.digests[1])
    bad = run(*command)
    client.close()
    assert bad.returncode == 1
    problems = json.loads(bad.stdout)["problems"]
    assert {"kind": "digest", "status": "missing", "key": trail.digests[1]}.items() <= problems[
        0
    ].items()
