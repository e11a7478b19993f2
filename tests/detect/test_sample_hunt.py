"""`sample_logs/`: every labelled scenario found with the right detection and tier, no page on
the benign background (issue 4, acceptance 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.hunt import hunt
from tests.conftest import SAMPLE_LOGS

LABELS = [
    json.loads(line)
    for line in (SAMPLE_LOGS / "labels.jsonl").read_text(encoding="utf-8").splitlines()
]
IMPLEMENTED = {(d.id, s.name) for d in registry.load() for s in d.signals}


@pytest.fixture(scope="module")
def findings(sample_lake: Path) -> pl.DataFrame:
    from cloudtrail_hunt.detect.site import site_from_org_json

    site = site_from_org_json(SAMPLE_LOGS / "side_inputs" / "org.json")
    side_inputs = SAMPLE_LOGS / "side_inputs"
    return hunt(
        sample_lake, start="2026-10-01", end="2026-11-06", site=site, side_inputs=side_inputs
    )


def _ids(finding: dict[str, Any]) -> list[str]:
    return [e["event_id"] for e in finding["evidence"]]


def _of(findings: pl.DataFrame, label: dict[str, Any]) -> list[dict[str, Any]]:
    rows = findings.filter(
        (pl.col("detection") == label["control"]) & (pl.col("signal") == label["signal"])
    )
    return rows.to_dicts()


def _case(label: dict[str, Any]) -> Any:
    marks = []
    if (label["control"], label["signal"]) not in IMPLEMENTED:
        marks.append(pytest.mark.xfail(reason="signal not implemented yet", strict=True))
    elif not label["event_ids"]:
        marks.append(pytest.mark.xfail(reason="side-input signal not implemented yet", strict=True))
    return pytest.param(label, id=label["scenario"], marks=marks)


@pytest.mark.parametrize("label", [_case(lab) for lab in LABELS if lab["expect"] == "fire"])
def test_labelled_scenario_fires_with_its_tier(
    label: dict[str, Any], findings: pl.DataFrame
) -> None:
    assert (label["control"], label["signal"]) in IMPLEMENTED
    wanted = set(label["event_ids"])
    assert wanted
    hits = [f for f in _of(findings, label) if wanted & set(_ids(f))]
    assert hits, f"no {label['signal']} finding holds the scenario's events"
    assert label["tier"] in {f["tier"] for f in hits}


@pytest.mark.parametrize("label", [_case(lab) for lab in LABELS if lab["expect"] == "silent"])
def test_near_miss_stays_silent(label: dict[str, Any], findings: pl.DataFrame) -> None:
    assert (label["control"], label["signal"]) in IMPLEMENTED
    wanted = set(label["event_ids"])
    assert wanted
    triggered = [f for f in _of(findings, label) if _ids(f)[0] in wanted]
    assert not triggered


def test_no_page_on_the_benign_background(findings: pl.DataFrame) -> None:
    scenario_events = {e for lab in LABELS if lab["expect"] == "fire" for e in lab["event_ids"]}
    pages = findings.filter(pl.col("tier") == "page").to_dicts()
    assert pages
    stray = [f for f in pages if not scenario_events & set(_ids(f))]
    assert not stray, [(f["detection"], f["signal"], f["principal"]) for f in stray]
