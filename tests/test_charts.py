"""Charts render offline, and log values in them show escaped in every format."""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import polars as pl
import pytest

from cloudtrail_hunt.charts import chart_values, save_chart

HOSTILE = "</script><script>alert(1)</script>\x1b[31m\u202e"


def _chart() -> alt.Chart:
    frame = pl.DataFrame({"agent": [HOSTILE, "aws-cli/2"], "calls": [3, 5]})
    data = alt.Data(values=chart_values(frame))
    return alt.Chart(data).mark_bar().encode(x="agent:N", y="calls:Q", tooltip=["agent:N"])


def test_chart_values_escape_control_characters_and_keep_the_rest() -> None:
    rows = chart_values(pl.DataFrame({"agent": [HOSTILE], "calls": [3]}))
    assert rows == [{"agent": "</script><script>alert(1)</script>\\x1b[31m\\u202e", "calls": 3}]


@pytest.mark.parametrize("fmt", ["png", "svg", "html", "json"])
def test_a_chart_with_hostile_labels_renders(tmp_path: Path, fmt: str) -> None:
    out = save_chart(_chart(), tmp_path / f"chart.{fmt}")
    data = out.read_bytes()
    assert len(data) > 200
    if fmt == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    if fmt == "svg":
        assert b"<script" not in data
        assert b"&lt;/script&gt;" in data


def test_html_page_never_closes_its_script_element_on_log_text(tmp_path: Path) -> None:
    page = save_chart(_chart(), tmp_path / "chart.html").read_text()
    assert "<script>alert" not in page
    spec_text = page.split("const spec = ", 1)[1].split(";\n", 1)[0]
    spec = json.loads(spec_text)
    assert spec["data"]["values"][0]["agent"].startswith("</script><script>alert(1)")
