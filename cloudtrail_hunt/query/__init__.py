"""Logs Insights on the lake: grammar → IR → Polars lazy plan (see reference/logs-insights.md)."""
