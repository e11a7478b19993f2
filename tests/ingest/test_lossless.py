"""Acceptance: every generated record rebuilds from its lake row to the same JSON value."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

import cloudtrail_hunt as ch
from cloudtrail_hunt.ingest.quarantine import duplicates_report, quarantine_report
from tests.strategies import records


@settings(max_examples=60)
@given(batch=st.lists(records(), min_size=1, max_size=12), indent=st.sampled_from([None, 2]))
@example(
    batch=[{"eventTime": "2026-10-01T00:00:00Z", "x": {"y": [None, 1.5e300, -0.0, 2**63 - 1]}}],
    indent=None,
)
def test_lossless_generated_records_rebuild_exactly(tmp_path_factory, batch, indent) -> None:
    tmp = tmp_path_factory.mktemp("lossless")
    src = tmp / "src" / "o.json.gz"
    src.parent.mkdir()
    src.write_bytes(
        gzip.compress(json.dumps({"Records": batch}, indent=indent, ensure_ascii=False).encode())
    )
    lake = tmp / "lake"
    summary = ch.ingest(src.parent, lake, workers=1)
    rows = ch.scan(lake).select("source_index", "message").collect()
    dups = duplicates_report(lake)
    bad = quarantine_report(lake)
    for index, message in rows.iter_rows():
        assert json.loads(message) == batch[index]
    stored = dict(ch.scan(lake).select("dedup_key", "message").collect().iter_rows())
    for _, index, key, *_ in dups.iter_rows():
        assert json.loads(stored[key]) == batch[index]
    accounted = sorted(
        rows["source_index"].to_list() + dups["index"].to_list() + bad["index"].to_list()
    )
    assert accounted == list(range(len(batch)))
    assert summary.records == len(batch)
    # Only records without a usable time may be refused.
    assert bad.height == 0 or all("eventTime" in r for r in bad["reason"])


def test_lossless_unknown_top_level_keys_and_odd_types_survive(tmp_path: Path) -> None:
    record = {
        "eventTime": "2026-10-01T00:00:00Z",
        "eventName": {"nested": True},
        "readOnly": "yes",
        "zzUnknown": [1, {"a": None}],
        "userIdentity": None,
        "@version": "1",
    }
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "o.json").write_text(json.dumps({"Records": [record]}))
    ch.ingest(tmp_path / "src", tmp_path / "lake", workers=1)
    row = ch.scan(tmp_path / "lake").collect().row(0, named=True)
    assert json.loads(row["message"]) == record
    assert row["eventName"] == '{"nested":true}' and row["readOnly"] is None
