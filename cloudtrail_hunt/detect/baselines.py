"""Moving averages against a trailing baseline, per key and per day, as Polars frames.

lake events ──► daily counts ──► **baselines** ──► computed signals (aws-iam-06 fan-out).
The guide's behavioural thresholds read "an N-day moving average exceeding the M-day baseline
by more than k×". Each day of each key gets the mean of the last `window` days (that day
included) and the mean of the `baseline` days before them. A hunt rarely has M days of history
(the engine reads 30 days before the range): the baseline is then the mean over the days that
exist, and no day is judged before `min_history` days of history exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

_DAY = "day"


@dataclass(frozen=True, slots=True)
class Variance:
    """A moving-average-versus-baseline rule: ``ma(window) > factor × max(baseline, floor)``.

    ``floor`` keeps a key with no history (baseline 0) from firing on its first use: it must
    exceed ``factor × floor``. ``min_history`` is the fewest baseline days a verdict needs.
    """

    window: int = 7
    baseline: int = 90
    factor: float = 3.0
    floor: float = 1.0
    min_history: int = 7

    def __post_init__(self) -> None:
        for name in ("window", "baseline", "min_history"):
            if getattr(self, name) < 1:
                msg = f"{name} must be at least 1 day, got {getattr(self, name)}"
                raise ValueError(msg)
        if self.min_history > self.baseline:
            msg = f"min_history ({self.min_history}) cannot exceed baseline ({self.baseline})"
            raise ValueError(msg)
        if self.factor <= 0 or self.floor < 0:
            msg = f"factor must be positive and floor non-negative, got {self.factor}, {self.floor}"
            raise ValueError(msg)

    def describe(self) -> str:
        """The rule as a finding's threshold text."""
        return (
            f"{self.window}-day moving average > {self.factor:g}x the {self.baseline}-day "
            f"baseline (at least {self.min_history} days of history; floor {self.floor:g}/day)"
        )


def daily_distinct(
    events: pl.DataFrame | pl.LazyFrame, keys: list[str], value: str, time: str = "eventTime"
) -> pl.DataFrame:
    """Distinct non-null `value`s per key and UTC day: columns `keys`, ``day``, ``distinct``.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> events = pl.DataFrame(
    ...     {
    ...         "eventTime": [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (1, 2, 3)],
    ...         "role": ["r", "r", "r"],
    ...         "who": ["a", "b", "a"],
    ...     }
    ... )
    >>> daily_distinct(events, ["role"], "who")["distinct"].to_list()
    [2]
    """
    counts = (
        events.lazy()
        .filter(pl.col(value).is_not_null())
        .group_by(*keys, pl.col(time).dt.date().alias(_DAY))
        .agg(pl.col(value).n_unique().cast(pl.Int64).alias("distinct"))
        .sort([*keys, _DAY])
    )
    return counts.collect(engine="streaming")  # bounded memory over a large lake


def moving_vs_baseline(
    daily: pl.DataFrame,
    keys: list[str],
    first_day: date,
    last_day: date,
    rule: Variance,
    value: str = "distinct",
) -> pl.DataFrame:
    """Judge every key on every day of ``[first_day, last_day]`` against `rule`.

    Days without a row count zero. Returns `keys`, ``day``, `value`, ``ma`` (mean of the
    `rule.window` days ending on the day), ``base`` (mean of up to `rule.baseline` days before
    that window, from `first_day` on), ``history`` (how many days ``base`` covers) and
    ``fired``.

    Examples
    --------
    >>> from datetime import timedelta
    >>> start = date(2026, 1, 1)
    >>> counts = [1] * 10 + [4, 4, 4, 4, 4, 4, 4]
    >>> daily = pl.DataFrame(
    ...     {"k": "r", "day": [start + timedelta(days=i) for i in range(17)], "distinct": counts}
    ... )
    >>> out = moving_vs_baseline(daily, ["k"], start, date(2026, 1, 17), Variance())
    >>> fired = out.filter(pl.col("fired"))
    >>> fired["day"].dt.day().to_list(), fired["ma"].round(2).to_list(), fired["base"].to_list()
    ([15, 16, 17], [3.14, 3.57, 4.0], [1.0, 1.0, 1.0])
    """
    days = pl.date_range(first_day, last_day, "1d", eager=True).alias(_DAY)
    grid = daily.select(keys).unique().join(days.to_frame(), how="cross")
    filled = (
        grid.join(daily.select(*keys, _DAY, value), on=[*keys, _DAY], how="left")
        .with_columns(pl.col(value).fill_null(0))
        .sort([*keys, _DAY])
    )
    window, span = rule.window, rule.window + rule.baseline
    total = pl.col(value).cum_sum().over(keys)
    position = pl.int_range(pl.len()).over(keys)

    def before(days: int) -> pl.Expr:
        return total.shift(days).over(keys).fill_null(0)

    history = (position + 1 - window).clip(0, rule.baseline)
    in_window = pl.min_horizontal(position + 1, pl.lit(window))
    judged = filled.with_columns(
        ma=(total - before(window)) / in_window,
        history=history.cast(pl.Int64),
        base_sum=before(window) - before(span),
    ).with_columns(
        base=pl.when(pl.col("history") > 0).then(pl.col("base_sum") / pl.col("history")),
    )
    limit = rule.factor * pl.max_horizontal(pl.col("base").fill_null(0.0), pl.lit(rule.floor))
    return judged.with_columns(
        fired=(pl.col("history") >= rule.min_history) & (pl.col("ma") > limit)
    ).drop("base_sum")
