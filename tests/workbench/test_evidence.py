"""Evidence bundles: byte-identical re-runs, a manifest that catches any change, and JSON Lines
that are the source records (issue 14, acceptance 3)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from cloudtrail_hunt.workbench.evidence import MANIFEST, evidence, verify_evidence
from tests.conftest import SAMPLE_LOGS

LABELS = [json.loads(x) for x in (SAMPLE_LOGS / "labels.jsonl").read_text().splitlines()]
#: A labelled scenario whose principal acted more than once: its events make the bundle.
LABEL = next(x for x in LABELS if x["signal"] == "assume-role-by-iam-user" and x["tier"])


def _bundle(lake: Path, out: Path) -> Path:
    return evidence(lake, out, principal=LABEL["principal"], at=LABEL["first_time"],
                    before="1h", after="7d")  # fmt: skip


@pytest.fixture(scope="module")
def bundles(sample_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evidence")
    return _bundle(sample_lake, root / "one"), _bundle(sample_lake, root / "two")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_two_runs_give_byte_identical_bundles(bundles: tuple[Path, Path]) -> None:
    one, two = (_files(b) for b in bundles)
    assert set(one) == {
        "events.parquet", "events.jsonl", "sources.jsonl", "findings.jsonl", "trace.jsonl",
        "activity.jsonl", "bundle.json", MANIFEST,
    }  # fmt: skip
    assert one == two
    assert verify_evidence(bundles[0]).ok and verify_evidence(bundles[0]).checked == 7


def test_jsonl_records_are_the_source_records(bundles: tuple[Path, Path]) -> None:
    folder = bundles[0]
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    sources = [json.loads(x) for x in (folder / "sources.jsonl").read_text().splitlines()]
    assert len(lines) == len(sources) >= len(LABEL["event_ids"])
    for line, where in zip(lines, sources, strict=True):
        assert where["etag"] and where["size"] == Path(where["source"]).stat().st_size
        assert where["source"].endswith(where["key"])
        with gzip.open(where["source"], "rt", encoding="utf-8") as handle:
            record = json.load(handle)["Records"][where["index"]]
        assert json.loads(line) == record
    cited = {json.loads(x)["eventID"] for x in lines}
    assert set(LABEL["event_ids"]) <= cited
    events = pl.read_parquet(folder / "events.parquet")
    assert events["eventID"].to_list() == [json.loads(x)["eventID"] for x in lines]


def test_bundle_records_findings_trace_and_parameters(bundles: tuple[Path, Path]) -> None:
    folder = bundles[0]
    findings = [json.loads(x) for x in (folder / "findings.jsonl").read_text().splitlines()]
    assert {f["signal"] for f in findings} >= {LABEL["signal"]}
    links = [json.loads(x) for x in (folder / "trace.jsonl").read_text().splitlines()]
    assert links and all(x["how"] == "AssumeRole" for x in links if x["depth"] == 1)
    bundle = json.loads((folder / "bundle.json").read_text())
    assert bundle["parameters"]["principal"] == LABEL["principal"]
    assert bundle["parameters"]["before"] == "1h" and "lake_version" in bundle
    assert bundle["counts"]["events"] == len((folder / "events.jsonl").read_text().splitlines())


@pytest.mark.parametrize("damage", ["changed byte", "missing file", "extra file"])
def test_verify_fails_on_any_change(
    bundles: tuple[Path, Path], tmp_path: Path, damage: str
) -> None:
    import shutil

    folder = Path(shutil.copytree(bundles[1], tmp_path / "copy"))
    assert verify_evidence(folder).ok
    if damage == "changed byte":
        data = bytearray((folder / "events.parquet").read_bytes())
        data[len(data) // 2] ^= 1
        (folder / "events.parquet").write_bytes(bytes(data))
        assert verify_evidence(folder).changed == ("events.parquet",)
    elif damage == "missing file":
        (folder / "trace.jsonl").unlink()
        assert verify_evidence(folder).missing == ("trace.jsonl",)
    else:
        (folder / "notes.txt").write_text("added later")
        assert verify_evidence(folder).extra == ("notes.txt",)
    assert not verify_evidence(folder).ok


def test_a_bundle_is_never_written_over_other_files(sample_lake: Path, tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("keep")
    from cloudtrail_hunt.errors import CloudTrailHuntError

    with pytest.raises(CloudTrailHuntError, match="not empty"):
        _bundle(sample_lake, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


def test_a_finding_bundle_holds_the_finding_its_events_and_its_chain(
    sample_lake: Path, tmp_path: Path
) -> None:
    from cloudtrail_hunt.workbench.subject import hunt_all

    chain = next(x for x in LABELS if x["scenario"] == "credential-chain-cross-account")
    findings = hunt_all(sample_lake)
    cites = findings.filter(
        pl.col("evidence")
        .list.eval(pl.element().struct.field("event_id"))
        .list.contains(chain["event_ids"][0])
    )
    fid = cites["id"][0]
    # A lake version known to the caller (here: as a findings column) is recorded.
    tagged = findings.with_columns(pl.lit(7, pl.Int64).alias("lake_version"))
    folder = evidence(sample_lake, tmp_path / "b", finding=fid, findings=tagged)
    listed = [json.loads(x) for x in (folder / "findings.jsonl").read_text().splitlines()]
    assert fid in {f["id"] for f in listed}
    events = [json.loads(x)["eventID"] for x in (folder / "events.jsonl").read_text().splitlines()]
    assert chain["event_ids"][0] in events
    links = [json.loads(x) for x in (folder / "trace.jsonl").read_text().splitlines()]
    assert sorted(x["depth"] for x in links if x["depth"] > 0) == [1, 2, 3]
    bundle = json.loads((folder / "bundle.json").read_text())
    assert bundle["lake_version"] == 7 and bundle["parameters"]["finding"] == fid
    assert verify_evidence(folder).ok
