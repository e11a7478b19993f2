"""Acceptance: all of ../shared/corpus is accounted for, record by record, and nothing is lost."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.ingest.quarantine import duplicates_report, quarantine_report
from tests.ingest.corpus_reference import read_units, record_of


@pytest.fixture(scope="module")
def corpus_lake(tmp_path_factory, request):
    corpus = request.getfixturevalue("corpus")
    lake = tmp_path_factory.mktemp("corpus") / "lake"
    summary = ch.ingest(corpus, lake, workers=1)
    return corpus, lake, summary


def _expected(corpus: Path) -> dict[str, list]:
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith("."))
    return {str(p): read_units(p) for p in files}


def test_corpus_every_record_is_in_the_lake_or_quarantine_exactly_once(corpus_lake) -> None:
    corpus, lake, summary = corpus_lake
    rows = ch.scan(lake).select("source", "source_index").collect()
    insights = ch.scan(lake, table="insights").select("source", "source_index").collect()
    dups = duplicates_report(lake)
    bad = quarantine_report(lake).filter(pl.col("index").is_not_null())
    seen = Counter(
        [(s, i) for s, i in rows.iter_rows()]
        + [(s, i) for s, i in insights.iter_rows()]
        + [(s, i) for s, i, *_ in dups.iter_rows()]
        + [(s, i) for s, i, *_ in bad.iter_rows()]
    )
    expected = Counter(
        (source, i)
        for source, read in _expected(corpus).items()
        if read is not None
        for i in range(len(read[0]))
    )
    # Files the stdlib cannot parse at all (truncated JSON) hold no readable record: what ingest
    # reports of them must be quarantine entries only, one per file.
    unreadable = {s for s, r in _expected(corpus).items() if r is None}
    assert {k: v for k, v in seen.items() if k[0] not in unreadable} == expected
    broken = [k for k in seen if k[0] in unreadable]
    assert broken == [(s, i) for s, i, *_ in bad.iter_rows() if s in unreadable]
    assert len(broken) == len({s for s, _ in broken})
    assert summary.records == sum(expected.values()) + len(broken)
    assert summary.records == summary.stored + summary.duplicates + summary.quarantined_records
    assert summary.stored == rows.height + insights.height
    assert summary.duplicates == dups.height and summary.quarantined_records == bad.height


def test_corpus_unreadable_objects_are_named_with_their_reason(corpus_lake) -> None:
    corpus, lake, summary = corpus_lake
    report = quarantine_report(lake)
    broken = report.filter(pl.col("source").str.ends_with("cloudgrep/bad_cloudtrail.json"))
    assert broken.height == 1 and "truncated" in broken["reason"][0]
    whole = {Path(s).name for s, i in report.select("source", "index").iter_rows() if i is None}
    unreadable = {Path(s).name for s, r in _expected(corpus).items() if r is None}
    # Every file the stdlib cannot parse is quarantined whole, except the truncated one, whose
    # loss is a record-level entry (its whole records before the cut would have been kept).
    assert whole == unreadable - {"bad_cloudtrail.json"}
    assert whole == {"MANIFEST.md", "AWS_S3_HoneyBucketLogs.csv"}
    assert summary.quarantined_objects == len(whole)


def test_corpus_digest_is_kept_aside_not_loaded(corpus_lake) -> None:
    corpus, lake, _ = corpus_lake
    digests = [s for s, r in _expected(corpus).items() if r is not None and r[1]]
    assert len(digests) == 1
    rows = ch.scan(lake).filter(pl.col("source").is_in(digests)).collect()
    assert rows.is_empty()
    kept = ch.Lake.open(lake).read_table("digests")
    assert kept["source"].to_list() == digests
    assert json.loads(kept["digest"][0]) == json.loads(Path(digests[0]).read_text())


def test_corpus_insight_events_have_their_own_table(corpus_lake) -> None:
    _, lake, _ = corpus_lake
    insights = ch.scan(lake, table="insights").collect()
    assert insights.height >= 1
    assert set(insights["eventType"]) == {"AwsCloudTrailInsight"}
    assert ch.scan(lake).filter(pl.col("eventType") == "AwsCloudTrailInsight").collect().is_empty()


def test_corpus_lossless_every_stored_record_rebuilds_to_the_original(corpus_lake) -> None:
    corpus, lake, _ = corpus_lake
    units = {s: r[0] for s, r in _expected(corpus).items() if r is not None}
    frame = pl.concat([ch.scan(lake).collect(), ch.scan(lake, table="insights").collect()])
    assert frame.height > 1000
    for source, index, message, envelope in frame.select(
        "source", "source_index", "message", "envelope"
    ).iter_rows():
        unit = units[source][index]
        assert json.loads(message) == record_of(unit), (source, index)
        if envelope is not None:  # the wrapper is kept too: nothing of the unit is dropped
            rest = json.loads(envelope)
            assert {k: v for k, v in unit.items() if k not in ("detail", "CloudTrailEvent")} == rest


def test_corpus_duplicates_equal_the_stored_copy(corpus_lake) -> None:
    corpus, lake, _ = corpus_lake
    units = {s: r[0] for s, r in _expected(corpus).items() if r is not None}
    stored = dict(ch.scan(lake).select("dedup_key", "message").collect().iter_rows())
    dups = duplicates_report(lake)
    assert dups.height >= 2  # trailscraper ships one S3 object as .json and .json.gz
    for source, index, key, *_ in dups.iter_rows():
        assert json.loads(stored[key]) == record_of(units[source][index])
