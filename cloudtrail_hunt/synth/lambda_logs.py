"""The audit Lambda's own log group: what `credential-report-audit` prints on each scheduled run.

The guide's control-10 query reads these lines (`STALE_USER user=… days_idle=…`). They are
derived from the same credential reports the Lambda read, with the stale rule of
credential_reports.py (an active credential idle >= 45 days), and written the way
`aws logs filter-log-events --log-group-name /aws/lambda/credential-report-audit` prints them,
one file per run under ``side_inputs/lambda-logs/<account>/aws/lambda/credential-report-audit/``.
Lambda names its streams ``YYYY/MM/DD/[$LATEST]<id>``.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from cloudtrail_hunt.synth.credential_reports import Report, RowState, _stale
from cloudtrail_hunt.synth.trail import DAY

FUNCTION = "credential-report-audit"
LOG_GROUP = f"/aws/lambda/{FUNCTION}"


def _idle_days(row: RowState, t: int) -> int:
    idle = []
    if row.password:
        idle.append(row.password_used or row.user.password_changed or row.user.created)
    idle += [k.used[0] if k.used else k.rotated for k in row.keys if k.active]
    return max((t - x) // DAY for x in idle)


def _events(rep: Report) -> list[dict[str, Any]]:
    digest = hashlib.sha256(rep.run.event_id.encode()).hexdigest()
    stream = time.strftime("%Y/%m/%d/", time.gmtime(rep.run.t)) + f"[$LATEST]{digest[:32]}"
    request = f"{digest[32:40]}-{digest[40:44]}-{digest[44:48]}-{digest[48:52]}-{digest[52:64]}"
    stale = sorted((r for r in rep.rows if _stale(r, rep.run.t)), key=lambda r: r.user.name)
    lines = [f"START RequestId: {request} Version: $LATEST"]
    lines += [f"STALE_USER user={r.user.name} days_idle={_idle_days(r, rep.run.t)}" for r in stale]
    lines += [f"audit complete: {len(rep.rows)} rows, {len(stale)} stale"]
    lines += [f"END RequestId: {request}", f"REPORT RequestId: {request}\tDuration: 812.40 ms"]
    start_ms = (rep.run.t + 30) * 1000  # the report is read a few seconds after it is generated
    return [
        {
            "logStreamName": stream,
            "timestamp": start_ms + 40 * i,
            "message": line + "\n",
            "ingestionTime": start_ms + 40 * i + 1500,
            "eventId": str(int(digest[:15], 16) * 1000 + i),
        }
        for i, line in enumerate(lines)
    ]


def write_audit_lambda_logs(out: Path, reports: list[Report]) -> None:
    """Write the log events of every scheduled audit run, one file per run."""
    for rep in reports:
        if not rep.run.scheduled:
            continue
        path = out / "side_inputs" / "lambda-logs" / rep.run.account / LOG_GROUP.lstrip("/")
        path = path / f"{rep.date}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"events": _events(rep), "searchedLogStreams": []}
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
