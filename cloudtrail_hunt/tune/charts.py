"""Charts of backtests and calibrations (Altair; rendered with cloudtrail_hunt.charts.save_chart).

Every chart aggregates first (a few hundred marks at most: top entities, one point per setting
or day) and passes its data through chart_values, so log text shows escaped and the chart
never meets Altair's row limit. The kinds: the trade-off curve (:func:`tradeoff`), the
per-entity distribution a threshold cuts (:func:`entity_distribution`, :func:`peaks`), daily
alerts per setting (:func:`daily_alerts`), the 7d/90d ratio series (:func:`ratio_series`) and
the root-login cadence heatmap (:func:`cadence_heatmap`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from cloudtrail_hunt.charts import chart_values, save_chart

if TYPE_CHECKING:
    import altair as alt

    from cloudtrail_hunt.tune.backtest import Backtest
    from cloudtrail_hunt.tune.calibrate import Calibration
    from cloudtrail_hunt.tune.recommend import Recommendation

__all__ = [
    "cadence_heatmap",
    "calibration_chart",
    "daily_alerts",
    "entity_distribution",
    "peaks",
    "ratio_series",
    "save_charts",
    "tradeoff",
]

#: Most entities (principals, roles, accounts) a chart names; the rest are summed as "other".
TOP = 12
_WIDTH, _HEIGHT = 640, 280


def _data(frame: pl.DataFrame) -> alt.Data:
    import altair as alt

    return alt.Data(values=chart_values(frame))


def _rule(name: str, value: float, axis: str) -> alt.Chart:
    """A dashed red line at `value` across the plot (a budget, a threshold, the 3x line)."""
    import altair as alt

    rule = alt.Chart(_data(pl.DataFrame({name: [value]}))).mark_rule(
        color="#e45756", strokeDash=[6, 3]
    )
    return rule.encode(**{axis: f"{name}:Q"})


def _top(frame: pl.DataFrame, entity: str, weight: str, top: int = TOP) -> pl.DataFrame:
    """`frame` with all but the `top` heaviest entities renamed ``other``."""
    ranked = (
        frame.group_by(entity)
        .agg(pl.col(weight).max().alias("__w"))
        .sort(["__w", entity], descending=[True, False])
    )
    keep = ranked.head(top)[entity]
    return frame.with_columns(
        pl.when(pl.col(entity).is_in(keep.implode()))
        .then(pl.col(entity).cast(pl.String))
        .otherwise(pl.lit("other"))
        .alias(entity)
    )


def tradeoff(result: Backtest, recommendation: Recommendation | None = None) -> alt.LayerChart:
    """Alerts against the setting: the busiest period against the budget (drawn as a rule)
    when a recommendation is given, else alerts per day; the current setting highlighted."""
    import altair as alt

    order = [s.label for s in result.settings]
    if recommendation is not None and recommendation.budgets:
        budget = recommendation.budgets[0]
        measure, limit = budget.text, budget.limit
        frame = recommendation.table.select("setting", pl.col(measure).alias("alerts"))
        title = f"Busiest period against the budget {budget.text}"
    else:
        measure, limit = "alerts per day", None
        frame = result.summary.select("setting", pl.col("alerts_per_day").alias("alerts"))
        title = "Alerts per day by setting"
    current = result.current.label
    frame = frame.with_columns(current=pl.col("setting") == current)
    base = alt.Chart(_data(frame)).encode(
        x=alt.X("setting:N", sort=order, title="setting"),
        y=alt.Y("alerts:Q", title=measure),
        tooltip=["setting:N", "alerts:Q"],
    )
    layers = [
        base.mark_line(color="#4c78a8"),
        base.mark_point(filled=True, size=80).encode(
            color=alt.Color("current:N", title="current setting")
        ),
    ]
    if limit is not None:
        layers.append(_rule("budget", limit, "y"))
    return alt.layer(*layers).properties(
        title=f"{result.detection}/{result.signal}: {title}", width=_WIDTH, height=_HEIGHT
    )


def daily_alerts(result: Backtest) -> alt.Chart:
    """Alerts per UTC day of the range, one line per setting."""
    import altair as alt

    frame = result.daily.select("setting", "day", "alerts", "pages", "tickets")
    return (
        alt.Chart(_data(frame))
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title="day (UTC)"),
            y=alt.Y("alerts:Q", title="alerts"),
            color=alt.Color("setting:N", sort=[s.label for s in result.settings]),
            tooltip=["setting:N", "day:T", "alerts:Q", "pages:Q", "tickets:Q"],
        )
        .properties(
            title=f"{result.detection}/{result.signal}: alerts per day by setting",
            width=_WIDTH,
            height=_HEIGHT,
        )
    )


def entity_distribution(
    frame: pl.DataFrame,
    entity: str,
    value: str,
    threshold: float | None = None,
    title: str = "",
) -> alt.LayerChart:
    """How many observations (rows of `frame`) reach each `value`, stacked by `entity` (the
    top few), with the threshold the guide sets on `value` drawn as a rule."""
    import altair as alt

    frame = frame.drop_nulls(value)
    if frame.height and frame[value].dtype.is_float():
        frame = frame.with_columns(pl.col(value).round(1))
    counted = (
        _top(frame.select(entity, value).with_columns(pl.lit(1).alias("__n")), entity, value)
        .group_by(entity, value)
        .agg(pl.len().alias("observations"))
        .sort(value, entity)
    )
    layers = [
        alt.Chart(_data(counted))
        .mark_bar()
        .encode(
            x=alt.X(f"{value}:Q", title=value),
            y=alt.Y("observations:Q", stack=True),
            color=alt.Color(f"{entity}:N", title=entity),
            tooltip=[f"{entity}:N", f"{value}:Q", "observations:Q"],
        )
    ]
    if threshold is not None:
        layers.append(_rule("threshold", threshold, "x"))
    return alt.layer(*layers).properties(title=title, width=_WIDTH, height=_HEIGHT)


def peaks(result: Backtest) -> pl.DataFrame:
    """Per match, how many matches of its entity fall in the current setting's window ending
    at it (the count the threshold compares): ``principal``, ``account``, ``eventTime``,
    ``in_window``."""
    window = result.current.threshold.window or timedelta(0)
    rows = []
    for (account, principal), group in result.matches.sort("eventTime").group_by(
        ["account", "principal"], maintain_order=True
    ):
        times = group["eventTime"].to_list()
        first = 0
        for last, at in enumerate(times):
            while times[first] < at - window:
                first += 1
            rows.append((account, principal, at, last - first + 1))
    return pl.DataFrame(
        rows,
        schema={
            "account": pl.String,
            "principal": pl.String,
            "eventTime": pl.Datetime("us", "UTC"),
            "in_window": pl.Int64,
        },
        orient="row",
    )


def ratio_series(frame: pl.DataFrame, factor: float = 3.0) -> alt.LayerChart:
    """The 7-day average of distinct assumers over the baseline, per role and day (the top
    roles by peak ratio), with the 3x line."""
    import altair as alt

    top = _top(frame.select("role", "day", "ratio", "distinct"), "role", "ratio")
    series = top.group_by("role", "day").agg(pl.col("ratio").max(), pl.col("distinct").max())
    layers = [
        alt.Chart(_data(series.sort("role", "day")))
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title="day (UTC)"),
            y=alt.Y("ratio:Q", title="7-day average / baseline"),
            color=alt.Color("role:N"),
            tooltip=["role:N", "day:T", "ratio:Q", "distinct:Q"],
        ),
        _rule("line", factor, "y"),
    ]
    return alt.layer(*layers).properties(
        title="Distinct role-assumers: 7-day average against the 90-day baseline",
        width=_WIDTH,
        height=_HEIGHT,
    )


def cadence_heatmap(frame: pl.DataFrame, top: int = 50) -> alt.Chart:
    """Root console sign-ins per account (rows, the `top` busiest) and day (columns)."""
    import altair as alt

    busiest = (
        frame.group_by("account")
        .agg(pl.col("logins").sum())
        .sort(["logins", "account"], descending=[True, False])
        .head(top)["account"]
    )
    shown = frame.filter(pl.col("account").is_in(busiest.implode()))
    accounts = frame["account"].n_unique()
    title = "Root console sign-ins per account and day"
    if accounts > top:
        title += f" (the {top} busiest of {accounts} accounts)"
    return (
        alt.Chart(_data(shown.select("account", "day", "logins", "without_mfa")))
        .mark_rect()
        .encode(
            x=alt.X("day:O", timeUnit="utcyearmonthdate", title="day (UTC)"),
            y=alt.Y("account:N"),
            color=alt.Color("logins:Q", scale=alt.Scale(scheme="oranges")),
            tooltip=["account:N", "day:T", "logins:Q", "without_mfa:Q"],
        )
        .properties(title=title, width=_WIDTH)
    )


def calibration_chart(calibration: Calibration) -> alt.TopLevelMixin:
    """The chart of one calibration: the heatmap (01), the ratio series (06), else the
    distribution of its value per entity with the guide's threshold."""
    if calibration.detection.startswith("aws-iam-01"):
        return cadence_heatmap(calibration.frame)
    if calibration.detection.startswith("aws-iam-06"):
        return ratio_series(calibration.frame, calibration.threshold or 3.0)
    return entity_distribution(
        calibration.frame,
        calibration.entity,
        calibration.value,
        calibration.threshold,
        calibration.title,
    )


def save_charts(
    charts: Iterable[tuple[str, alt.TopLevelMixin]], folder: str | Path, fmt: str = "png"
) -> list[Path]:
    """Render each (name, chart) to ``folder/name.fmt``; returns the files written."""
    return [save_chart(chart, Path(folder) / f"{name}.{fmt}") for name, chart in charts]
