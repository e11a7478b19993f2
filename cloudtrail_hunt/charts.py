"""Altair charts of log data, rendered offline: PNG and SVG with vl-convert, HTML self-contained.

Every chart of the project passes its data through :func:`chart_values` and is written by
:func:`save_chart`. Log values are attacker-controlled, and both steps matter:

- a control character in a label makes vl-convert's text layout panic and abort the whole
  process (seen with ESC in a nominal axis), so string values are escaped as on a terminal;
- vl-convert's HTML embeds the spec in a ``<script>`` element without escaping ``</script>``,
  so the HTML writer puts in the spec itself, with ``<``, ``>`` and ``&`` as JSON escapes.

Values stay what the analyst should read: ``<script>`` shows as that text, never runs.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudtrail_hunt.escape import escape_for_terminal, html_script_safe

if TYPE_CHECKING:
    import altair as alt
    import polars as pl

__all__ = ["CHART_FORMATS", "chart_values", "save_chart"]

CHART_FORMATS = ("png", "svg", "html", "json")
#: Longest label kept in a chart; ARNs and user agents are cut, not wrapped over the plot.
LABEL_LIMIT = 120
#: vl-convert's HTML is rendered around this stand-in, then the real, escaped spec replaces it.
_PLACEHOLDER = {"__cloudtrail_hunt_spec__": 0}


def _chart_value(value: Any) -> Any:
    if isinstance(value, str):
        return escape_for_terminal(value, LABEL_LIMIT)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_chart_value(v) for v in value]
    return value


def chart_values(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows of `frame` as chart data: text escaped and cut, instants as ISO text.

    Pass the result as ``alt.Data(values=…)`` (or ``alt.Chart(alt.Data(values=…))``): data
    given as values is embedded in the spec, so a rendered file needs nothing beside it.
    Aggregate first: a chart of more than a few thousand marks says nothing more.

    >>> import polars as pl
    >>> chart_values(pl.DataFrame({"ua": ["curl\\x1b[2J"], "n": [3]}))
    [{'ua': 'curl\\\\x1b[2J', 'n': 3}]
    """
    return [{k: _chart_value(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def save_chart(chart: alt.TopLevelMixin, path: str | Path, fmt: str | None = None) -> Path:
    """Render `chart` to `path` offline; the format is `fmt` or the file's suffix.

    PNG and SVG come from vl-convert (no browser, no network); HTML is one self-contained page
    with the Vega libraries inlined; JSON is the Vega-Lite spec.
    """
    import vl_convert as vlc

    path = Path(path)
    kind = (fmt or path.suffix.lstrip(".")).lower()
    if kind not in CHART_FORMATS:
        msg = f"unknown chart format {kind!r}; expected one of {', '.join(CHART_FORMATS)}"
        raise ValueError(msg)
    spec = chart.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "png":
        path.write_bytes(vlc.vegalite_to_png(spec, scale=2))
    elif kind == "svg":
        path.write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
    elif kind == "json":
        path.write_text(json.dumps(spec, indent=1, ensure_ascii=False), encoding="utf-8")
    else:
        page = vlc.vegalite_to_html(_PLACEHOLDER, bundle=True)
        stand_in = json.dumps(_PLACEHOLDER, separators=(",", ":"))
        if page.count(stand_in) != 1:  # vl-convert changed how it embeds the spec
            msg = "cannot place the chart spec in vl-convert's HTML page"
            raise RuntimeError(msg)
        safe = html_script_safe(json.dumps(spec, separators=(",", ":")))
        path.write_text(page.replace(stand_in, safe), encoding="utf-8")
    return path
