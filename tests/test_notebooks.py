"""Notebooks run end to end on `sample_logs/` (each checks its own results in a final cell), and
triage also on another generated trail that has no side inputs beside it."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _execute(path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> list[dict]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the kernel inherits the environment
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # Charts reach the page as PNG images, never as HTML carrying log text in a script.
    assert not [o for o in outputs if "<script" in str(o.get("data", {}).get("text/html", ""))]
    return outputs


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_sample(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = _execute(path, monkeypatch, CLOUDTRAIL_HUNT_CACHE=str(tmp_path / "cache"))
    assert any("page" in str(o.get("data", {})) for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    # The lake went to the cache the environment names, not to a new temporary folder.
    assert list((tmp_path / "cache" / "lakes").iterdir())


@pytest.mark.notebook
def test_triage_runs_on_another_trail_without_side_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cloudtrail_hunt.synth import generate_org_trail

    trail = tmp_path / "trail"
    generate_org_trail(trail, seed=23, start=date(2026, 3, 2), days=28, accounts=3,
                       events_per_day=15, files_per_day=2)  # fmt: skip
    shutil.rmtree(trail / "side_inputs")
    lake = tmp_path / "my-lake"
    outputs = _execute(
        REPO / "notebooks" / "triage.ipynb", monkeypatch,
        CLOUDTRAIL_HUNT_TRAIL=str(trail), CLOUDTRAIL_HUNT_LAKE=str(lake),
    )  # fmt: skip
    text = "".join(str(o.get("text", "")) for o in outputs)
    assert "events from 2026-03-02" in text and "side inputs: None" in text
    assert (lake / "events" / "_delta_log").is_dir()  # the lake is where the user said
    assert "verified" in text  # a finding was followed through to a verified bundle


def test_there_are_notebooks() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"triage", "hunting"}
