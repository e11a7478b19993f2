"""Threshold tuning against 30-day baselines: backtests, recommendations, calibrations, charts.

- :func:`backtest`: what each setting of a grid (count, window, group key, suppression, tier)
  would have fired over a range, through the hunt's own engine (one scan for the grid);
- :func:`recommend`: the setting with the least sensitivity lost within alert budgets, and
  :func:`write_config` to put it in the site's TOML config;
- :func:`calibrate`: the guide's baseline calibration of a control as a frame;
- :mod:`cloudtrail_hunt.tune.charts`: their Altair charts.
"""

from cloudtrail_hunt.tune.backtest import Backtest, Setting, backtest
from cloudtrail_hunt.tune.calibrate import Calibration, calibrate
from cloudtrail_hunt.tune.recommend import Recommendation, recommend, write_config

__all__ = [
    "Backtest",
    "Calibration",
    "Recommendation",
    "Setting",
    "backtest",
    "calibrate",
    "recommend",
    "write_config",
]
