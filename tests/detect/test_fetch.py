"""boto3 fetchers write what the loaders read (fake paginating clients; no AWS here)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from cloudtrail_hunt.detect.analyzer import load_findings
from cloudtrail_hunt.detect.fetch import fetch_analyzer_findings, fetch_config_evaluations
from cloudtrail_hunt.detect.side_inputs import load_config_evaluations
from tests.conftest import SAMPLE_LOGS


class _Pager:
    def __init__(self, pages: list[dict[str, Any]], calls: list[dict[str, Any]]) -> None:
        self.pages, self.calls = pages, calls

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        return self.pages


class _Client:
    """Replays the sample's side inputs as paginated API responses, split over two pages."""

    def __init__(self, operation: str, key: str, items: list[Any]) -> None:
        half = len(items) // 2
        self.operation, self.calls = operation, []
        self.pages = [{key: items[:half]}, {key: items[half:]}]

    def get_paginator(self, operation: str) -> _Pager:
        assert operation == self.operation
        return _Pager(self.pages, self.calls)


def _with_datetimes(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # boto3 returns datetimes, not strings.
    out = []
    for item in items:
        copy = dict(item)
        for key, value in item.items():
            if isinstance(value, str) and key.endswith("At"):
                copy[key] = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        out.append(copy)
    return out


def test_fetched_analyzer_findings_load_like_the_cli_output(tmp_path: Path) -> None:
    source = (
        SAMPLE_LOGS
        / "side_inputs"
        / "access-analyzer"
        / "list-findings-099074203064-eu-west-1.json"
    )
    import json

    items = json.loads(source.read_text(encoding="utf-8"))["findings"]
    client = _Client("list_findings", "findings", _with_datetimes(items))
    fetch_analyzer_findings(
        client, tmp_path, analyzer_arn="arn:a", account="099074203064", region="eu-west-1"
    )
    assert client.calls == [{"analyzerArn": "arn:a"}]
    expected = tmp_path / "expected"
    (expected / "access-analyzer").mkdir(parents=True)
    (expected / "access-analyzer" / source.name).write_text(source.read_text(encoding="utf-8"))
    got, want = load_findings(tmp_path), load_findings(expected)
    assert got.height == want.height == len(items) > 0
    assert sorted(got["finding_id"].to_list()) == sorted(want["finding_id"].to_list())
    assert got["created"].to_list() == want["created"].to_list()


def test_fetched_config_evaluations_load_like_the_cli_output(tmp_path: Path) -> None:
    import json

    source = sorted((SAMPLE_LOGS / "side_inputs" / "config").glob("*ACCESS_KEYS_ROTATED*.json"))[0]
    items = json.loads(source.read_text(encoding="utf-8"))["EvaluationResults"]
    client = _Client("get_compliance_details_by_config_rule", "EvaluationResults", items)
    account, day = source.name.split("-")[0], date.fromisoformat(source.stem[-10:])
    path = fetch_config_evaluations(
        client, tmp_path, rule="ACCESS_KEYS_ROTATED", account=account, day=day
    )
    assert path.name == source.name
    assert client.calls == [{"ConfigRuleName": "ACCESS_KEYS_ROTATED"}]
    got = load_config_evaluations(tmp_path)
    assert isinstance(got, pl.DataFrame) and got.height == len(items) > 0
