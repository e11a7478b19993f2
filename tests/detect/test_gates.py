"""Gates make the engine's scan cheap; they must never change what fires.

A gate is a cheap necessary condition: an event signal's match may only hold where its gate
does, and a computed signal must find the same things on its gated rows as on the whole trail.
Both laws are checked on every golden case, on `sample_logs/` (every labelled scenario, with
its side inputs) and on the third-party corpus.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cloudtrail_hunt as ch
from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.model import Computed, Detection, HuntContext, Signal, Tier
from cloudtrail_hunt.detect.site import Site, site_from_org_json, site_from_table
from cloudtrail_hunt.errors import DetectionError
from cloudtrail_hunt.source import records_frame
from tests.conftest import SAMPLE_LOGS, make_event
from tests.detect.test_cases import load_cases

PACK = registry.load()
GATED = {
    d.id
    for d in PACK
    for s in d.signals
    if (s.gate if isinstance(s, Signal | Computed) else None) is not None
}


def _ungated(pack: list[Detection]) -> list[Detection]:
    """The same pack with every gate removed: each signal reads the whole trail."""
    out = []
    for d in pack:
        signals = tuple(
            dataclasses.replace(s, gate=None)
            if isinstance(s, Signal)
            else dataclasses.replace(s, gate=None, columns=())
            for s in d.signals
        )
        out.append(dataclasses.replace(d, signals=signals))
    return out


def _violations(frame: pl.LazyFrame, site: Site) -> dict[str, int]:
    """Per gated event signal, how many events match it without passing its gate."""
    out = {}
    for d in PACK:
        for s in d.signals:
            if isinstance(s, Signal) and s.gate is not None:
                outside = s.expression(site).fill_null(False) & ~s.gate.fill_null(False)
                out[f"{d.id}/{s.name}"] = frame.select(outside.sum()).collect().item()
    return out


def _sorted(findings: pl.DataFrame) -> pl.DataFrame:
    return findings.sort("detection", "signal", "tier", "first_seen", "principal")


@pytest.fixture(scope="module")
def corpus_lake(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("gates") / "lake"
    ch.ingest(corpus, lake, workers=1)
    return lake


def test_gated_signals_exist() -> None:
    # The trust-policy, SCP and computed signals are the costly ones; they are gated.
    assert {"aws-iam-05-key-rotation", "aws-iam-06-role-assumption"} <= GATED
    assert len(GATED) >= 6


def test_no_match_outside_its_gate_in_any_case() -> None:
    seen = 0
    for case in load_cases():
        site = site_from_table(case.get("site") or {}, case.file)
        events = case.events()
        if not events:
            continue
        seen += len(events)
        violations = _violations(records_frame(events), site)
        assert not any(violations.values()), (case.name, violations)
    assert seen > 150


def test_no_match_outside_its_gate_in_the_sample_and_the_corpus(
    sample_lake: Path, corpus_lake: Path
) -> None:
    site = site_from_org_json(SAMPLE_LOGS / "side_inputs" / "org.json")
    for frame in (ch.scan(sample_lake), ch.scan(corpus_lake)):
        violations = _violations(frame, site)
        assert violations and not any(violations.values()), violations


def test_a_gate_narrower_than_its_match_is_caught() -> None:
    # The check above can fail: a gate that misses a matching event is reported.
    events = [make_event(eventName="CreateRole"), make_event(eventName="DeleteRole")]
    signal = Signal(
        name="x",
        description="x",
        match=pl.col("eventName").str.ends_with("Role"),
        gate=pl.col("eventName") == "CreateRole",
        thresholds=(),
    )
    outside = signal.expression(Site()) & ~signal.gate  # type: ignore[operator]
    assert records_frame(events).select(outside.sum()).collect().item() == 1


def test_gates_change_no_finding_in_any_case() -> None:
    compared = fired = 0
    for case in load_cases():
        if case.detection not in GATED:
            continue
        pack = [d for d in PACK if d.id == case.detection]
        args: dict[str, Any] = {
            "start": case.get("start"),
            "end": case.get("end"),
            "site": site_from_table(case.get("site") or {}, case.file),
        }
        gated = hunt(case.events(), pack=pack, **args)
        plain = hunt(case.events(), pack=_ungated(pack), **args)
        assert_frame_equal(_sorted(gated), _sorted(plain))
        compared += 1
        fired += gated.height
    assert (compared, fired) >= (50, 0) and fired > 25, (compared, fired)


def test_gates_change_no_finding_on_the_sample(sample_lake: Path) -> None:
    args: dict[str, Any] = {
        "start": "2026-10-01",
        "end": "2026-11-06",
        "site": site_from_org_json(SAMPLE_LOGS / "side_inputs" / "org.json"),
        "side_inputs": SAMPLE_LOGS / "side_inputs",
    }
    gated = hunt(sample_lake, pack=PACK, **args)
    plain = hunt(sample_lake, pack=_ungated(PACK), **args)
    assert gated.height > 50
    assert set(gated["detection"]) >= GATED - {"aws-iam-09-access-analyzer"}
    assert_frame_equal(_sorted(gated), _sorted(plain))


def test_gates_change_no_finding_on_the_corpus(corpus_lake: Path) -> None:
    times = ch.scan(corpus_lake).select("eventTime").collect()["eventTime"]
    lo, hi = times.min(), times.max()
    args: dict[str, Any] = {"start": lo, "end": hi + timedelta(days=1)}
    gated = hunt(corpus_lake, pack=PACK, **args)
    plain = hunt(corpus_lake, pack=_ungated(PACK), **args)
    assert gated.height > 10
    assert_frame_equal(_sorted(gated), _sorted(plain))


def test_a_computed_signal_sees_only_its_gate_and_columns() -> None:
    seen: list[pl.DataFrame] = []

    def look(ctx: HuntContext) -> list[dict[str, Any]]:
        seen.append(ctx.events.collect())
        return []

    probe = Computed(
        name="probe",
        description="probe",
        tiers=(Tier.TICKET,),
        evaluate=look,
        gate=pl.col("eventName") == "CreateUser",
        columns=("eventName",),
    )
    pack = [dataclasses.replace(PACK[0], signals=(probe,))]
    events = [
        make_event(eventName="CreateUser", eventTime="2026-10-01T10:00:00Z"),
        make_event(eventName="DeleteUser", eventTime="2026-10-01T11:00:00Z"),
    ]
    hunt(events, start="2026-10-01", end="2026-10-02", pack=pack)
    assert seen[0]["eventName"].to_list() == ["CreateUser"]
    # The columns it declared, and where each event is (for evidence); nothing else.
    assert set(seen[0].columns) == {"eventName", "eventTime", "eventID", "source", "source_index"}


def test_columns_without_a_gate_are_refused() -> None:
    with pytest.raises(DetectionError, match="gated"):
        Computed(
            name="x", description="x", tiers=(Tier.TICKET,), evaluate=lambda _: [], columns=("a",)
        )
