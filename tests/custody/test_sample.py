"""The committed sample verifies out of the box: its digests are signed with the synthetic key
whose public half ships in ``sample_logs/side_inputs/`` (found there as ``org.json`` is)."""

from __future__ import annotations

import json

from cloudtrail_hunt.custody import DigestStatus, FileStatus
from tests.conftest import SAMPLE_LOGS
from tests.test_cli import run


def test_verify_sample_logs_passes_out_of_the_box() -> None:
    done = run("verify", str(SAMPLE_LOGS), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    log_files = list((SAMPLE_LOGS / "AWSLogs").rglob("*_CloudTrail_*.json.gz"))
    digests = list((SAMPLE_LOGS / "AWSLogs").rglob("*_CloudTrail-Digest_*.json.gz"))
    assert report["ok"] is True and report["problems"] == []
    assert report["files"] == {str(FileStatus.VALID): len(log_files)}
    assert report["digests"] == {str(DigestStatus.VALID): len(digests)}
    saved = json.loads(
        (SAMPLE_LOGS / "side_inputs" / "cloudtrail-digest-signatures.json").read_text()
    )["signatures"]
    # One chain per account and region that has log files; each newest digest's signature saved.
    streams = {(p.parts[-7], p.parts[-5]) for p in log_files}
    assert len(saved) == len(streams) == len(report["streams"])
