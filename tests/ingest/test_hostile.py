"""Acceptance: hostile keys and values cannot write outside the lake or break a partition path."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

import cloudtrail_hunt as ch
from tests.conftest import make_event

HOSTILE = [
    "../../../../tmp/evil",
    "..",
    ".",
    "a/b",
    "x\x00y",
    "line\nbreak",
    "\x1b[31mred",
    "=cmd|' /C calc'!A0",
    "%2e%2e",
]


def _files_outside(lake: Path, root: Path) -> list[Path]:
    return [
        p for p in root.rglob("*") if p.is_file() and lake not in p.parents and "src" not in p.parts
    ]


def _assert_partition_paths_sound(lake: Path) -> None:
    for path in lake.rglob("*"):
        rel = path.resolve().relative_to(lake.resolve())  # raises if outside the lake
        if path.is_file() and rel.parts[0] in ("events", "insights") and path.suffix == ".parquet":
            # Partitioned by day only: an account or region value never becomes a path.
            table, day, name = rel.parts
            assert re.fullmatch(r"day=\d{4}-\d{2}-\d{2}", day) and name.startswith("part-")


def test_hostile_field_values_stay_inside_their_partition(tmp_path: Path) -> None:
    records = [
        make_event(eventID=f"e{i}", recipientAccountId=value, awsRegion=value)
        for i, value in enumerate(HOSTILE)
    ]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hostile.json.gz").write_bytes(
        gzip.compress(json.dumps({"Records": records}).encode())
    )
    lake = tmp_path / "lake"
    summary = ch.ingest(tmp_path / "src", lake, workers=1)
    assert summary.stored == len(HOSTILE)
    assert _files_outside(lake, tmp_path) == []
    _assert_partition_paths_sound(lake)
    rows = ch.scan(lake).select("account", "region", "recipientAccountId").collect()
    # Account and region are data columns: they read back as written, so filters see the log.
    assert sorted(rows["account"]) == sorted(HOSTILE)
    assert (rows["account"] == rows["recipientAccountId"]).all()
    assert ch.scan(lake, accounts=["../../../../tmp/evil"]).collect().height == 1


def test_hostile_object_keys_are_provenance_only(tmp_path: Path) -> None:
    src = tmp_path / "src"
    names = ["..evil.json.gz", "new\nline.json", "ctl\x07.json", "ünï cödé.json", "%2e%2e%2f.json"]
    for i, name in enumerate(names):
        (src / "d..").mkdir(parents=True, exist_ok=True)
        (src / "d.." / name).write_text(json.dumps({"Records": [make_event(eventID=f"k{i}")]}))
    lake = tmp_path / "lake"
    summary = ch.ingest(src, lake, workers=1)
    assert summary.stored == len(names)
    assert _files_outside(lake, tmp_path) == []
    _assert_partition_paths_sound(lake)
    sources = set(ch.scan(lake).select("source").collect()["source"])
    assert {Path(s).name for s in sources} == set(names)


@settings(max_examples=40)
@given(value=st.text(min_size=1, max_size=300))
@example(value="..")
@example(value="/")
@example(value="\x00")
@example(value="\U0001f600" * 40)  # 160 bytes of UTF-8, 480 once percent-encoded
def test_hostile_any_account_text_gives_one_safe_partition(tmp_path_factory, value: str) -> None:
    tmp = tmp_path_factory.mktemp("h")
    (tmp / "src").mkdir()
    body = json.dumps({"Records": [make_event(recipientAccountId=value, awsRegion=value)]})
    (tmp / "src" / "o.json").write_text(body, encoding="utf-8", errors="surrogatepass")
    lake = tmp / "lake"
    summary = ch.ingest(tmp / "src", lake, workers=1)
    if summary.stored == 0:  # lone surrogates are not UTF-8: quarantined, not written anywhere
        assert summary.quarantined_records == 1
        return
    assert _files_outside(lake, tmp) == []
    _assert_partition_paths_sound(lake)
    row = ch.scan(lake).select("account", "recipientAccountId").collect().row(0)
    assert row == (value, value)  # a data column, not a path: any text reads back as written
