"""One answer whichever way a user hunts (issue 12, acceptance 1), and the lake's side tables.

The sample hunt runs on the raw logs and on their lake, through the CLI and through the API,
each with and without an explicit `--side-inputs`: eight runs, one set of findings.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path

import polars as pl
import pytest

from cloudtrail_hunt.detect import findings as rendering
from cloudtrail_hunt.detect.hunt import MissingFactsWarning, hunt
from cloudtrail_hunt.ingest import side_tables
from cloudtrail_hunt.ingest.pipeline import ingest
from tests.conftest import SAMPLE_LOGS
from tests.fixtures_s3 import S3Server
from tests.test_cli import run

START = "2026-10-01"
SIDE = SAMPLE_LOGS / "side_inputs"


def _without_version(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Findings without `lake_version`: each lake (the sample lake, a cache lake) has its own
    commit history, so the version read differs while the findings must not."""
    for row in rows:
        assert isinstance(row.pop("lake_version"), int)
    return rows


def _jsonl(found: pl.DataFrame) -> list[dict[str, object]]:
    out = io.BytesIO()
    rendering.write(found, "jsonl", out)
    return _without_version([json.loads(line) for line in out.getvalue().decode().splitlines()])


def _cli(source: Path, cache: Path, *extra: str) -> list[dict[str, object]]:
    done = run(
        "hunt", str(source), "--start", START, "--format", "jsonl", *extra,
        env={"CLOUDTRAIL_HUNT_CACHE": str(cache)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the sample pages
    assert "Traceback" not in done.stderr
    return _without_version([json.loads(line) for line in done.stdout.splitlines()])


@pytest.fixture(scope="module")
def ways(
    sample_lake: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, object]]]:
    cache = tmp_path_factory.mktemp("cache")
    explicit = ("--side-inputs", str(SIDE))
    out = {
        "cli-raw": _cli(SAMPLE_LOGS, cache),
        "cli-raw-side": _cli(SAMPLE_LOGS, cache, *explicit),
        "cli-lake": _cli(sample_lake, cache),
        "cli-lake-side": _cli(sample_lake, cache, *explicit),
        "api-lake": _jsonl(hunt(sample_lake, start=START)),
        "api-lake-side": _jsonl(hunt(sample_lake, start=START, side_inputs=SIDE)),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOUDTRAIL_HUNT_CACHE", str(tmp_path_factory.mktemp("api-cache")))
        out["api-raw"] = _jsonl(hunt(SAMPLE_LOGS, start=START))
        out["api-raw-side"] = _jsonl(hunt(SAMPLE_LOGS, start=START, side_inputs=SIDE))
    return out


def test_every_way_to_hunt_gives_the_same_findings(ways: dict[str, list]) -> None:
    reference = ways["api-lake-side"]
    for name, found in ways.items():
        assert found == reference, f"{name} differs from a lake hunt given the side inputs"


def test_the_common_answer_holds_side_input_and_org_fact_findings(ways: dict[str, list]) -> None:
    found = ways["cli-lake"]
    assert any(f["tier"] == "page" for f in found)
    sources = {e["source"] for f in found for e in f["evidence"]}
    # Credential reports, Config evaluations and Access Analyzer findings all came through.
    for folder in ("credential-reports/", "config/", "access-analyzer/"):
        assert any(s.startswith(folder) for s in sources), folder
    # org.json's partner list is applied: no page names a partner account as external.
    partners = json.loads((SIDE / "org.json").read_text())["partner_accounts"]
    external = [f for f in found if f["signal"] == "trust-policy-external-account"]
    assert external and not any(p in json.dumps(external) for p in partners)


def test_a_lake_without_side_inputs_warns_once_naming_what_is_missing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLE_LOGS / "AWSLogs", logs / "AWSLogs")
    lake = tmp_path / "lake"
    ingest(logs, lake)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hunt(lake, start="2026-11-01")
    missing = [w for w in caught if issubclass(w.category, MissingFactsWarning)]
    assert len(missing) == 1
    text = str(missing[0].message)
    for fact in ("site.partner_accounts", "credential-reports", "access-analyzer"):
        assert fact in text
    done = run("hunt", str(lake), "--start", "2026-11-01", "--no-fail")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning: the hunt lacks") == 1


def test_side_tables_are_idempotent_and_quarantine_bad_documents(tmp_path: Path) -> None:
    side = tmp_path / "side"
    shutil.copytree(SIDE, side, ignore=shutil.ignore_patterns("lambda-logs"))
    (side / "config" / "111122223333-RULE-2026-10-04.json").write_text("{not json")
    (side / "credential-reports" / "111122223333").mkdir()
    (side / "credential-reports" / "111122223333" / "2026-10-04.csv").write_text("a,b\n1,2\n")
    lake = tmp_path / "lake"
    first = side_tables.ingest_side_inputs(side, lake)
    bad = {path for path, _ in first.quarantined}
    assert bad == {
        "config/111122223333-RULE-2026-10-04.json",
        "credential-reports/111122223333/2026-10-04.csv",
    }
    assert first.stored == len(list(side_tables.documents(side))) - 2
    again = side_tables.ingest_side_inputs(side, lake)
    assert (again.stored, again.skipped) == (0, first.stored)
    report = side_tables.side_quarantine(lake)
    assert set(report["source"]) == bad and report.height == 2  # not re-recorded
    assert "missing column" in " ".join(report["reason"])
    for name in side_tables.TABLES:
        assert (lake / name / "_delta_log").is_dir()  # real Delta tables
    stored = side_tables.stored_documents(lake)
    assert stored["org.json"] == (side / "org.json").read_bytes()
    # A changed document is appended; its latest version is what a hunt reads.
    (side / "org.json").write_text('{"management_account": "999999999999"}')
    assert side_tables.ingest_side_inputs(side, lake).stored == 1
    assert side_tables.stored_documents(lake)["org.json"] == (side / "org.json").read_bytes()


@pytest.mark.s3
def test_side_tables_on_an_s3_lake(s3_server: S3Server, s3_bucket: str) -> None:
    s3_options = {
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",  # SeaweedFS has no conditional put for the log
    }
    lake = f"s3://{s3_bucket}/lake"
    summary = side_tables.ingest_side_inputs(SIDE, lake, storage_options=s3_options)
    assert summary.stored > 0 and not summary.quarantined
    stored = side_tables.stored_documents(lake, storage_options=s3_options)
    assert stored["org.json"] == (SIDE / "org.json").read_bytes()
    assert side_tables.ingest_side_inputs(SIDE, lake, storage_options=s3_options).stored == 0
