"""Acceptance: on ../shared/corpus the detections fire on the real events of the signals they
cover and stay silent on the federated and service-initiated negatives, one test per
expectation of tests/detect/corpus_expectations.py."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.detect import engine, registry
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.model import Signal
from cloudtrail_hunt.detect.site import Site
from tests.detect.corpus_expectations import EXPECTATIONS, Expectation

PACK = {d.id: d for d in registry.load()}
#: An Organizations management account that appears nowhere in the corpus.
MANAGEMENT = "999888777666"

#: (detection, signal) -> {(file relative to the corpus, index) -> tiers of the findings}
Fired = dict[tuple[str, str], dict[tuple[str, int], set[str]]]


def _single_event_tuning() -> dict[str, engine.Tuning]:
    """Every count threshold lowered to one event: a burst signal's match on one record."""
    tuning: dict[str, engine.Tuning] = {}
    for detection in PACK.values():
        overrides = {
            (signal.name, threshold.tier): {"count": 1}
            for signal in detection.signals
            if isinstance(signal, Signal)
            for threshold in signal.thresholds
            if threshold.count > 1
        }
        if overrides:
            tuning[detection.id] = engine.Tuning(overrides, {})
    return tuning


def _fired(findings: pl.DataFrame, corpus: Path) -> Fired:
    fired: Fired = defaultdict(lambda: defaultdict(set))
    for detection, signal, tier, evidence in findings.select(
        "detection", "signal", "tier", "evidence"
    ).iter_rows():
        for event in evidence:
            where = (Path(event["source"]).relative_to(corpus).as_posix(), event["index"])
            fired[(detection, signal)][where].add(tier)
    return fired


@pytest.fixture(scope="module")
def hunted(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    lake = tmp_path_factory.mktemp("corpus-hunt") / "lake"
    ch.ingest(corpus, lake, workers=1)
    events = ch.scan(lake).select("eventTime", "recipientAccountId", "source", "source_index")
    frame = events.collect()
    members = frozenset(frame["recipientAccountId"].drop_nulls().unique())
    assert MANAGEMENT not in members
    # Every account of the corpus is a member account of one organisation; no partners.
    accounts = members | {MANAGEMENT}
    site = Site(management_account=MANAGEMENT, accounts=accounts)
    start = frame["eventTime"].min()
    end = frame["eventTime"].max() + timedelta(days=1)
    stored = {
        (Path(s).relative_to(corpus).as_posix(), i)
        for s, i in frame.select("source", "source_index").iter_rows()
    }
    default = hunt(lake, start=start, end=end, site=site)
    single = hunt(lake, start=start, end=end, site=site, tuning=_single_event_tuning())
    return {
        "stored": stored,
        "accounts": accounts,
        "default": _fired(default, corpus),
        "single": _fired(single, corpus),
    }


def _case(expectation: Expectation) -> Any:
    marks = []
    if expectation.bug is not None:
        marks.append(pytest.mark.xfail(strict=True, reason=expectation.bug))
    return pytest.param(expectation, id=expectation.name, marks=marks)


def _signals(expectation: Expectation) -> list[str]:
    detection = PACK.get(expectation.detection)
    assert detection is not None, f"{expectation.detection} is not in the rule pack"
    if expectation.signal is None:
        return [s.name for s in detection.signals]
    detection.signal(expectation.signal)  # raises on an unknown signal name
    return [expectation.signal]


@pytest.mark.parametrize("expectation", [_case(e) for e in EXPECTATIONS])
def test_corpus_expectation(expectation: Expectation, hunted: dict[str, Any]) -> None:
    signals = _signals(expectation)
    record = (expectation.file, expectation.index)
    # The record reached the lake (not quarantined, not dropped as a duplicate).
    assert record in hunted["stored"], f"{record} is not in the lake"
    fired = hunted["single" if expectation.single else "default"]
    tiers = {
        signal: fired[(expectation.detection, signal)][record]
        for signal in signals
        if record in fired.get((expectation.detection, signal), {})
    }
    if expectation.fires:
        assert expectation.signal in tiers, f"{expectation.reason}: did not fire"
        if expectation.tier is not None:
            assert tiers[expectation.signal] == {expectation.tier}, expectation.reason
    else:
        assert not tiers, f"{expectation.reason}: fired {tiers}"


def test_corpus_expectation_records_reach_the_lake(hunted: dict[str, Any]) -> None:
    # Outside the xfails: a strict xfail must fail on what the detection says, not on a record
    # that was quarantined or dropped as a duplicate.
    missing = [e.name for e in EXPECTATIONS if (e.file, e.index) not in hunted["stored"]]
    assert not missing


def test_corpus_expectations_are_well_formed() -> None:
    names = [e.name for e in EXPECTATIONS]
    assert len(names) == len(set(names))
    for e in EXPECTATIONS:
        assert e.signal is not None or not e.fires, e.name
        assert e.fires or e.tier is None, e.name
        assert not e.file.startswith("/") and e.index >= 0, e.name


def test_corpus_trusted_outsiders_are_outside_the_site(hunted: dict[str, Any]) -> None:
    # The Stratus backdoor-role captures trust 193672423079 and the AWS docs CreateRole example
    # trusts 210987654321: neither is an account of the corpus, so both stay external.
    assert not {"193672423079", "210987654321"} & hunted["accounts"]
