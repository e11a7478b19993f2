"""Threshold tuning against 30-day baselines: backtests, recommendations, calibrations, charts."""
