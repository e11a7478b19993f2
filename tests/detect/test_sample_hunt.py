"""`sample_logs/`: every labelled scenario found with the right detection and tier, no page on
the benign background (issue 4, acceptance 2)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.hunt import hunt
from tests.conftest import SAMPLE_LOGS
from tests.test_cli import run

LABELS = [
    json.loads(line)
    for line in (SAMPLE_LOGS / "labels.jsonl").read_text(encoding="utf-8").splitlines()
]
IMPLEMENTED = {(d.id, s.name) for d in registry.load() for s in d.signals}


def _sample_records() -> int:
    """Records in the sample's log files (digests hold none), read with the json module."""
    logs = (
        p
        for p in (SAMPLE_LOGS / "AWSLogs").rglob("*.json.gz")
        if "CloudTrail-Digest" not in p.parts
    )
    return sum(len(json.loads(gzip.decompress(p.read_bytes()))["Records"]) for p in logs)


@pytest.fixture(scope="module", params=["api", "cli"])
def findings(
    request: pytest.FixtureRequest, sample_lake: Path, tmp_path_factory: pytest.TempPathFactory
) -> pl.DataFrame:
    """The hunt of the whole sample: through the Python API on a lake, and as the README's
    first command does it, `cloudtrail-hunt hunt sample_logs/` on the raw logs."""
    if request.param == "cli":
        cache = tmp_path_factory.mktemp("cache")
        done = run(
            "hunt", str(SAMPLE_LOGS), "--start", "2026-10-01", "--format", "jsonl",
            env={"CLOUDTRAIL_HUNT_CACHE": str(cache)},
        )  # fmt: skip
        assert done.returncode == 1, done.stderr  # pages fire: exit status 1
        assert f"{_sample_records():,} records" in done.stderr
        return pl.DataFrame([json.loads(line) for line in done.stdout.splitlines()])
    from cloudtrail_hunt.detect.site import site_from_org_json

    site = site_from_org_json(SAMPLE_LOGS / "side_inputs" / "org.json")
    side_inputs = SAMPLE_LOGS / "side_inputs"
    return hunt(
        sample_lake, start="2026-10-01", end="2026-11-06", site=site, side_inputs=side_inputs
    )


def _ids(finding: dict[str, Any]) -> list[str]:
    return [e["event_id"] for e in finding["evidence"]]


def _files(label: dict[str, Any]) -> set[str]:
    """A side-input label's report or Config files, relative to the side-inputs folder."""
    return {e.removeprefix("side_inputs/") for e in label["evidence"]}


def _holds(finding: dict[str, Any], label: dict[str, Any], *, first: bool = False) -> bool:
    """The finding holds the label's events, or (side inputs) its principal and files."""
    wanted = set(label["event_ids"])
    if wanted:
        return (_ids(finding)[0] in wanted) if first else bool(wanted & set(_ids(finding)))
    sources = [e["source"] for e in finding["evidence"]][: 1 if first else None]
    return _same_subject(finding, label) and bool(_files(label) & set(sources))


def _same_subject(finding: dict[str, Any], label: dict[str, Any]) -> bool:
    """The finding names the label's principal; a label that names an account's root for a
    digest of its IAM users' rows is held by a finding naming users of that account only
    (findings name each matching user, never root, for rows that are not root's)."""
    if finding["principal"] == label["principal"]:
        return True
    root = f"arn:aws:iam::{label['account']}:root"
    named = (finding["principal"] or "").split(",")
    user = f"arn:aws:iam::{label['account']}:user/"
    return label["principal"] == root and all(n.startswith(user) for n in named)


#: Label signal names that are a tuning of another signal here, not a signal of their own.
ALIASES = {"enable-mfa-5-minute-suppression": "iam-user-console-login-mfa-no"}


def _signal(label: dict[str, Any]) -> str:
    return ALIASES.get(label["signal"], label["signal"])


def _of(findings: pl.DataFrame, label: dict[str, Any]) -> list[dict[str, Any]]:
    rows = findings.filter(
        (pl.col("detection") == label["control"]) & (pl.col("signal") == _signal(label))
    )
    return rows.to_dicts()


def _case(label: dict[str, Any]) -> Any:
    marks = []
    if (label["control"], _signal(label)) not in IMPLEMENTED:
        marks.append(pytest.mark.xfail(reason="signal not implemented yet", strict=True))
    elif not label["event_ids"] and not label["evidence"]:
        marks.append(pytest.mark.xfail(reason="side-input signal not implemented yet", strict=True))
    return pytest.param(label, id=label["scenario"], marks=marks)


@pytest.mark.parametrize("label", [_case(lab) for lab in LABELS if lab["expect"] == "fire"])
def test_labelled_scenario_fires_with_its_tier(
    label: dict[str, Any], findings: pl.DataFrame
) -> None:
    assert (label["control"], _signal(label)) in IMPLEMENTED
    assert label["event_ids"] or label["evidence"]
    hits = [f for f in _of(findings, label) if _holds(f, label)]
    assert hits, f"no {label['signal']} finding holds the scenario's events"
    assert label["tier"] in {f["tier"] for f in hits}


@pytest.mark.parametrize("label", [_case(lab) for lab in LABELS if lab["expect"] == "silent"])
def test_near_miss_stays_silent(label: dict[str, Any], findings: pl.DataFrame) -> None:
    assert (label["control"], _signal(label)) in IMPLEMENTED
    assert label["event_ids"] or label["evidence"]
    triggered = [f for f in _of(findings, label) if _holds(f, label, first=True)]
    assert not triggered


def test_no_page_on_the_benign_background(findings: pl.DataFrame) -> None:
    scenario_events = {e for lab in LABELS if lab["expect"] == "fire" for e in lab["event_ids"]}
    pages = findings.filter(pl.col("tier") == "page").to_dicts()
    assert pages
    fires = [lab for lab in LABELS if lab["expect"] == "fire"]
    stray = [
        f
        for f in pages
        if not scenario_events & set(_ids(f))
        and not any(lab["signal"] == f["signal"] and _holds(f, lab) for lab in fires)
    ]
    assert not stray, [(f["detection"], f["signal"], f["principal"]) for f in stray]
