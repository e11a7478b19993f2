"""The custody table in the lake (a real Delta table) and the coverage of what a hunt read."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

import cloudtrail_hunt as ch
from cloudtrail_hunt.custody import load_public_keys, load_signatures, verify_source
from cloudtrail_hunt.custody.lake import coverage, read_custody, write_custody
from cloudtrail_hunt.ingest.sources import open_source
from tests.custody.builder import Trail, build_trail
from tests.test_cli import run


def _verify(trail: Trail):
    keys = load_public_keys([trail.keys_file])
    return verify_source(
        open_source(trail.root), keys, signatures=load_signatures([trail.signatures_file])
    )


def test_custody_rows_cover_what_a_hunt_reads(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",))
    lake = tmp_path / "lake"
    ch.ingest(str(trail.root), str(lake), workers=1)
    read = ch.scan(lake).select("source").collect()["source"].to_list()
    assert coverage(lake, read)["by_status"] == {"unverified": len(read)}  # not verified yet

    report = _verify(trail)
    assert write_custody(lake, report) == len(trail.logs) + len(trail.digests)
    table = pl.read_delta(str(lake / "custody"))
    assert table.filter(pl.col("kind") == "log")["status"].unique().to_list() == ["valid"]
    logs = table.filter(pl.col("kind") == "log")
    assert sorted(logs["key"].to_list()) == sorted(trail.logs)
    assert logs["digest"].null_count() == 0
    full = coverage(lake, read)
    assert full["fraction"] == 1.0 and full["covered_rows"] == len(read) == full["rows"]
    assert full["covered_objects"] == len(trail.logs) == full["objects"]

    # A re-run replaces the source's rows in one commit: same rows, new version.
    version = DeltaTable(str(lake / "custody")).version()
    write_custody(lake, report)
    assert DeltaTable(str(lake / "custody")).version() == version + 1
    again = read_custody(lake)
    assert again.sort("key").equals(table.sort("key"))

    # A modified file is no longer covered; its rows say why.
    target = trail.root / trail.logs[0]
    target.write_bytes(gzip.compress(gzip.decompress(target.read_bytes()) + b"\n", mtime=0))
    write_custody(lake, _verify(trail))
    partial = coverage(lake, read)
    bad_rows = read.count(str(target))
    assert bad_rows > 0
    assert partial["by_status"] == {"modified": bad_rows, "valid": len(read) - bad_rows}
    assert partial["uncovered"] == [str(target)]
    assert partial["fraction"] == (len(read) - bad_rows) / len(read)


def test_rows_of_other_sources_are_kept(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    one = build_trail(tmp_path / "one", accounts=("111111111111",), regions=("us-east-1",))
    two = build_trail(tmp_path / "two", accounts=("111111111111",), regions=("us-east-1",))
    write_custody(lake, _verify(one))
    write_custody(lake, _verify(two))
    write_custody(lake, _verify(one))
    counts = read_custody(lake).group_by("source").len().sort("source")
    assert counts["source"].to_list() == sorted([str(one.root), str(two.root)])
    assert counts["len"].to_list() == [len(one.logs) + len(one.digests)] * 2


def test_verify_cli_writes_the_custody_table(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",), regions=("us-east-1",))
    done = run("verify", str(trail.root), "--lake", str(tmp_path / "lake"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True
    table = read_custody(tmp_path / "lake")
    assert set(table["uri"].drop_nulls().to_list()) == {
        str((trail.root / p).resolve()) for p in [*trail.logs, *trail.digests]
    }


def test_hunt_summary_and_evidence_bundle_say_what_the_digests_cover(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",))
    lake = tmp_path / "lake"
    ch.ingest(str(trail.root), str(lake), workers=1)
    before = run("hunt", str(lake), "--no-fail")
    assert before.returncode == 0, before.stderr
    assert "digest coverage unknown" in before.stderr

    write_custody(lake, _verify(trail))
    after = run("hunt", str(lake), "--no-fail")
    last_day = ch.Lake.open(lake).latest_event().date().isoformat()
    in_range = ch.scan(lake, start=last_day).select("source").collect().height
    assert f"{in_range:,} of {in_range:,} events in the range (100.0%)" in after.stderr

    principal = ch.scan(lake).select("userIdentity.arn").drop_nulls().collect().item(0, 0)
    bundle = ch.evidence(lake, tmp_path / "bundle", principal=principal, after="30d")
    custody = json.loads((bundle / "bundle.json").read_text())["custody"]
    events = pl.read_parquet(bundle / "events.parquet").height
    assert events > 0
    assert custody["covered_rows"] == custody["rows"] == events
