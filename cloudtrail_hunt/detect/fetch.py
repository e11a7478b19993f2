"""Fetches the Access Analyzer and Config side inputs with boto3, in the layout the loaders read.

Credential reports: side_inputs.fetch_credential_report. Each function takes a boto3 client for
the account and region, pages through the API, and writes the same JSON the AWS CLI prints, so a
folder filled by `aws accessanalyzer list-findings` or by these functions reads the same.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol


class Pager(Protocol):
    """A boto3 paginator."""

    def paginate(self, **kwargs: Any) -> Any: ...  # noqa: D102


class Client(Protocol):
    """The part of a boto3 client these functions use."""

    def get_paginator(self, operation: str) -> Pager: ...  # noqa: D102


def _json(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    msg = f"cannot write {type(value).__name__} as JSON"
    raise TypeError(msg)


def _collect(client: Client, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def _write(path: Path, body: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2, default=_json) + "\n", encoding="utf-8")
    return path


def fetch_analyzer_findings(
    client: Client, folder: str | Path, *, analyzer_arn: str, account: str, region: str
) -> Path:
    """`list-findings` of one analyzer into ``access-analyzer/list-findings-<acct>-<region>.json``.

    `client` is ``boto3.client("accessanalyzer", region_name=region)``.
    """
    found = _collect(client, "list_findings", "findings", analyzerArn=analyzer_arn)
    target = Path(folder) / "access-analyzer" / f"list-findings-{account}-{region}.json"
    return _write(target, {"findings": found})


def fetch_config_evaluations(
    client: Client, folder: str | Path, *, rule: str, account: str, day: date
) -> Path:
    """A Config rule's evaluations into ``config/<account>-<rule>-<day>.json``.

    `client` is ``boto3.client("config")``; `rule` is the rule's name as deployed, e.g. the
    managed ACCESS_KEYS_ROTATED rule.
    """
    results = _collect(
        client,
        "get_compliance_details_by_config_rule",
        "EvaluationResults",
        ConfigRuleName=rule,
    )
    target = Path(folder) / "config" / f"{account}-{rule}-{day.isoformat()}.json"
    return _write(target, {"EvaluationResults": results})
