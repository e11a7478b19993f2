"""Side inputs beside the trail: dated IAM credential reports and AWS Config evaluations, as frames.

side_inputs/ (files or boto3) ──► **side_inputs** ──► detect/reports.py ──► computed signals.
Layout, relative to the side-inputs folder (the synthetic trail writes the same)::

    credential-reports/<account>/<YYYY-MM-DD>.csv   one IAM credential report per run
    credential-reports/index.json                   per run: generated_at, scheduled, generated_by
    config/<account>-<rule>-<YYYY-MM-DD>.json       `get-compliance-details-by-config-rule` output

Evidence addresses a report row as (path relative to the folder, row index from 0).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import polars as pl

from cloudtrail_hunt.errors import IngestError, RecordError

REPORTS, CONFIG, INDEX = "credential-reports", "config", "index.json"
_BOOLS: tuple[str, ...] = ("password_enabled", "mfa_active", "access_key_1_active")
_BOOLS += ("access_key_2_active", "cert_1_active", "cert_2_active")
_TIMES: tuple[str, ...] = ("user_creation_time", "password_last_used", "password_last_changed")
_TIMES += ("password_next_rotation",)
_TIMES += tuple(f"access_key_{n}_{c}" for n in (1, 2) for c in ("last_rotated", "last_used_date"))
_TIMES += ("cert_1_last_rotated", "cert_2_last_rotated")
#: Values IAM writes for "no value": N/A, `not_supported` (root password fields) and
#: `no_information` (root password never used since tracking began).
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html
_ABSENT = ["N/A", "not_supported", "no_information", ""]
_REPORT_NAME = re.compile(r"\d{4}-\d{2}-\d{2}\.csv")


@dataclass(frozen=True, slots=True)
class SideInputs:
    """Everything loaded from one side-inputs folder."""

    reports: pl.DataFrame
    config: pl.DataFrame


def load(folder: str | Path) -> SideInputs:
    """Load the credential reports and Config evaluations of `folder` (missing parts are empty)."""
    folder = Path(folder)
    return SideInputs(load_credential_reports(folder), load_config_evaluations(folder))


def _parse_time(column: pl.Expr) -> pl.Expr:
    text = column.str.replace(r"Z$", "+00:00")
    return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_zone="UTC", strict=False)


def _absent(name: str) -> pl.Expr:
    return pl.col(name).is_null() | pl.col(name).is_in(_ABSENT)


def _typed(name: str) -> pl.Expr:
    if name in _BOOLS:
        text = pl.col(name).str.to_lowercase()
        return pl.when(text == "true").then(True).when(text == "false").then(False)
    return pl.when(~_absent(name)).then(_parse_time(pl.col(name)))


def _read_report(path: Path, rel: str) -> pl.DataFrame:
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise IngestError(rel, f"unreadable credential report: {exc}") from None
    missing = [c for c in ("user", "arn", *_BOOLS, *_TIMES) if c not in raw.columns]
    if missing:
        what = f"not a credential report: missing column {missing[0]!r}"
        raise IngestError(rel, what, "expected the CSV of `aws iam get-credential-report`")
    names = (*_BOOLS, *_TIMES)
    typed = raw.with_columns(_typed(c).alias(c) for c in names)
    # A value that is neither absent nor parseable is an error, named by row and column.
    bad = raw.select(
        pl.int_range(pl.len()).alias("row"),
        *((_typed(c).is_null() & ~_absent(c)).alias(c) for c in names),
    ).filter(pl.any_horizontal(names))
    if not bad.is_empty():
        first = bad.row(0, named=True)
        name = next(c for c in names if first[c])
        hint = "expected true or false" if name in _BOOLS else "expected an ISO 8601 time"
        raise RecordError(rel, first["row"], f"invalid {name}", raw[name][first["row"]], hint)
    return typed.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))


def _index(folder: Path) -> dict[str, dict[str, object]]:
    path = folder / REPORTS / INDEX
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        # Entries name the file from the trail root (`side_inputs/credential-reports/…`).
        return {str(e["file"]).split(f"{REPORTS}/", 1)[1]: e for e in entries}
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        rel = f"{REPORTS}/{INDEX}"
        raise IngestError(
            rel, f"invalid report index: {exc!r}", "expected a list of runs"
        ) from None


def _report_day(path: Path, rel: str) -> datetime:
    hint = "expected `credential-reports/<account id>/<YYYY-MM-DD>.csv`"
    if not _REPORT_NAME.fullmatch(path.name) or not re.fullmatch(r"\d{12}", path.parent.name):
        raise IngestError(rel, "unexpected report path", hint)
    try:
        return datetime.strptime(path.stem, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise IngestError(rel, f"invalid report date {path.stem!r}", hint) from None


def _generated(value: object, rel: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        what = f"invalid generated_at {value!r} in {REPORTS}/{INDEX}"
        raise IngestError(rel, what, "expected an ISO 8601 time") from None


def load_credential_reports(folder: str | Path) -> pl.DataFrame:
    """Every credential report under `folder`, one row per report row, typed.

    Columns: the report's own (booleans and UTC times parsed, absent values null), plus
    ``account``, ``report_date``, ``generated_at`` (from index.json, else the file's date),
    ``scheduled``, ``generated_by``, ``path`` (from `folder`), ``row`` (from 0) and ``seq``
    (the report's position among its account's reports, by time, from 0).
    """
    folder = Path(folder)
    index = _index(folder)
    frames = []
    for path in sorted((folder / REPORTS).glob("*/*.csv")):
        rel = path.relative_to(folder).as_posix()
        entry = index.get(rel.split("/", 1)[1], {})
        day = _report_day(path, rel)
        at = entry.get("generated_at")
        frames.append(
            _read_report(path, rel).with_columns(
                account=pl.lit(path.parent.name),
                report_date=pl.lit(day.date()),
                generated_at=pl.lit(_generated(at, rel) if at else day, pl.Datetime("us", "UTC")),
                scheduled=pl.lit(bool(entry.get("scheduled", True))),
                generated_by=pl.lit(entry.get("generated_by"), pl.String),
                path=pl.lit(rel),
            )
        )
    if not frames:
        return pl.DataFrame()
    reports = pl.concat(frames, how="diagonal_relaxed")
    runs = reports.select("account", "generated_at", "path").unique().sort("generated_at", "path")
    runs = runs.with_columns(seq=pl.int_range(pl.len()).over("account").cast(pl.Int64))
    return reports.join(runs.select("path", "seq"), on="path")


def pair_consecutive(reports: pl.DataFrame, *, scheduled_only: bool = False) -> pl.DataFrame:
    """Each report run with the run before it in the same account (null for the first).

    Columns: ``account``, ``path``, ``generated_at``, ``previous_path``,
    ``previous_generated_at``. With `scheduled_only`, manual runs are left out of the pairing.
    """
    runs = reports.select("account", "path", "generated_at", "scheduled").unique()
    if scheduled_only:
        runs = runs.filter(pl.col("scheduled"))
    runs = runs.sort("account", "generated_at").drop("scheduled")
    return runs.with_columns(
        previous_path=pl.col("path").shift().over("account"),
        previous_generated_at=pl.col("generated_at").shift().over("account"),
    )


_RESULT = {
    "rule": "EvaluationResultIdentifier.EvaluationResultQualifier.ConfigRuleName",
    "resource_type": "EvaluationResultIdentifier.EvaluationResultQualifier.ResourceType",
    "resource_id": "EvaluationResultIdentifier.EvaluationResultQualifier.ResourceId",
    "compliance": "ComplianceType",
    "invoked": "ConfigRuleInvokedTime",
    "annotation": "Annotation",
}


def _dig(item: dict[str, object], dotted: str) -> object:
    value: object = item
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def load_config_evaluations(folder: str | Path) -> pl.DataFrame:
    """AWS Config evaluation results under `folder`/config, one row per result.

    Columns: ``account`` (the file name's prefix), ``rule``, ``resource_type``,
    ``resource_id``, ``compliance``, ``evaluated_at`` (ConfigRuleInvokedTime), ``annotation``,
    ``path`` and ``index``. EventBridge compliance-change files (JSON lists) are skipped.
    """
    folder = Path(folder)
    rows = []
    for path in sorted((folder / CONFIG).glob("*.json")):
        rel = path.relative_to(folder).as_posix()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise IngestError(rel, f"unreadable Config evaluations: {exc}") from None
        if isinstance(data, list):
            continue
        results = data.get("EvaluationResults") if isinstance(data, dict) else None
        account = re.match(r"(\d{12})-", path.name)
        if not isinstance(results, list) or account is None:
            what = "not Config evaluations of an account"
            hint = "expected `<account>-<rule>-<date>.json` holding `EvaluationResults`"
            raise IngestError(rel, what, hint)
        for index, item in enumerate(results):
            row = {k: _dig(item, v) if isinstance(item, dict) else None for k, v in _RESULT.items()}
            if not row["resource_id"] or not row["compliance"] or not row["invoked"]:
                raise RecordError(rel, index, "incomplete evaluation result", str(item)[:80])
            rows.append({**row, "account": account[1], "path": rel, "index": index})
    if not rows:
        return pl.DataFrame()
    frame = pl.DataFrame(rows, schema_overrides={k: pl.String for k in _RESULT})
    evaluated = _parse_time(pl.col("invoked")).dt.cast_time_unit("us")
    bad = frame.filter(evaluated.is_null())
    if not bad.is_empty():
        first = bad.row(0, named=True)
        what = "invalid ConfigRuleInvokedTime"
        raise RecordError(
            first["path"], first["index"], what, first["invoked"], "expected ISO 8601"
        )
    return frame.with_columns(evaluated_at=evaluated, index=pl.col("index").cast(pl.Int64)).drop(
        "invoked"
    )


class IamClient(Protocol):
    """The two calls of a boto3 IAM client that fetch_credential_report uses."""

    def generate_credential_report(self) -> dict[str, object]: ...  # noqa: D102
    def get_credential_report(self) -> dict[str, object]: ...  # noqa: D102


def fetch_credential_report(
    iam: IamClient, folder: str | Path, account: str, *, caller: str | None = None
) -> Path:
    """Generate and download `account`'s credential report into `folder`, updating index.json.

    `iam` is ``boto3.client("iam")`` in that account; `caller` is who runs it (the ARN from
    ``sts get-caller-identity``), recorded as ``generated_by``. Runs are recorded as manual
    (``scheduled: false``); the audit Lambda's scheduled runs are the ones to mark scheduled.
    """
    while iam.generate_credential_report().get("State") != "COMPLETE":
        time.sleep(2)  # IAM builds the report asynchronously: STARTED, INPROGRESS, COMPLETE
    report = iam.get_credential_report()
    content, generated = report["Content"], report["GeneratedTime"]
    if not isinstance(content, bytes) or not isinstance(generated, datetime):
        where = f"iam:{account}"
        raise IngestError(where, "unexpected GetCredentialReport response")
    folder = Path(folder)
    rel = f"{REPORTS}/{account}/{generated.astimezone(UTC):%Y-%m-%d}.csv"
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_bytes(content)
    index_path = folder / REPORTS / INDEX
    entries = json.loads(index_path.read_text(encoding="utf-8")) if index_path.is_file() else []
    entries = [e for e in entries if not str(e["file"]).endswith(rel)]
    entries.append(
        {
            "account": account,
            "file": f"side_inputs/{rel}",
            "generated_at": f"{generated.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "scheduled": False,
            "generated_by": caller,
            "generate_event_id": None,
        }
    )
    index_path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    return folder / rel
