"""trace(): the planted links and their event counts, exactly, and nothing of the decoys
(issue 14, acceptance 2 on generated chains)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from hypothesis import given, settings

from cloudtrail_hunt.charts import save_chart
from cloudtrail_hunt.workbench.trace import trace
from tests.workbench.chains import Planted, chains


@settings(max_examples=40, deadline=None)
@given(chains())
def test_trace_recovers_exactly_the_planted_links_and_counts(planted: Planted) -> None:
    traced = trace(planted.records, access_key=planted.root)
    links = traced.links
    found = sorted(
        links.select("depth", "parent", "child", "how", "status", "cross_account").rows()
    )
    assert found == sorted(planted.links)
    # Each credential's events: every call it made, its AssumeRole calls (failed ones too).
    counts = traced.activity.group_by("credential").agg(pl.col("events").sum())
    got = {k: n for k, n in zip(counts["credential"], counts["events"], strict=True)}
    want = {k: n for k, n in planted.counts.items() if n}
    assert got == want
    for row in links.iter_rows(named=True):
        assert row["events"] == planted.counts.get(row["child"], 0)


def test_trace_chart_renders_the_chain(tmp_path: Path) -> None:
    from hypothesis import find

    planted = find(chains(), lambda p: len(p.links) >= 3)
    traced = trace(planted.records, access_key=planted.root)
    chart = traced.chart()
    assert save_chart(chart, tmp_path / "trace.png").read_bytes().startswith(b"\x89PNG")
    spec = json.loads(save_chart(chart, tmp_path / "trace.json").read_text())
    datasets = [layer["data"]["values"] for layer in spec["layer"]]
    edges = next(d for d in datasets if d and "status" in d[0])
    nodes = next(d for d in datasets if d and "credential" in d[0])
    assert len(edges) == len([x for x in planted.links if x[0] > 0])
    assert {n["credential"] for n in nodes} >= {planted.root, *(x[2] for x in planted.links)}
