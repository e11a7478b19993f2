"""timeline(): events in order, findings marked, errors and first sightings flagged."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from cloudtrail_hunt.charts import save_chart
from cloudtrail_hunt.workbench.timeline import timeline, timeline_chart
from tests.conftest import make_event

ROOT = "arn:aws:iam::111122223333:root"
HOSTILE_UA = "</script><script>alert(1)</script>\x1b[2J"


def _records() -> list[dict]:
    who = {
        "userIdentity.type": "Root",
        "userIdentity.arn": ROOT,
        "recipientAccountId": "111122223333",
    }
    return [
        make_event(**who, eventID="e1", eventTime="2026-10-01T10:00:00Z", eventName="ListUsers"),
        make_event(
            **who, eventID="e2", eventTime="2026-10-01T11:00:00Z", eventName="ConsoleLogin",
            eventSource="signin.amazonaws.com", **{"additionalEventData.MFAUsed": "No"},
            sourceIPAddress="203.0.113.77", userAgent=HOSTILE_UA,
        ),
        make_event(
            **who, eventID="e3", eventTime="2026-10-01T11:05:00Z", eventName="StopLogging",
            errorCode="AccessDenied", errorMessage="no", sourceIPAddress="203.0.113.77",
            awsRegion="ap-south-1",
        ),
        make_event(**who, eventID="e4", eventTime="2026-10-03T11:05:00Z", eventName="ListRoles"),
        make_event(eventID="x1", eventTime="2026-10-01T10:30:00Z", eventName="ListBuckets"),
    ]  # fmt: skip


def test_timeline_orders_flags_and_marks_findings(tmp_path: Path) -> None:
    frame = timeline(_records(), principal=ROOT, at="2026-10-01T11:00:00Z", before="2h", after="1d")
    assert frame["eventID"].to_list() == ["e1", "e2", "e3"]  # e4 is past the window, x1 not ROOT
    assert frame["outcome"].to_list() == ["ok", "ok", "denied"]
    assert frame["new_ip"].to_list() == [True, True, False]
    assert frame["new_user_agent"].to_list() == [True, True, False]
    assert frame["new_region"].to_list() == [True, False, True]
    # The root console sign-in without MFA pages (aws-iam-01); its finding cites e2 only.
    marked = dict(zip(frame["eventID"], frame["findings"].to_list(), strict=True))
    assert marked["e1"] == [] and marked["e3"] == [] and len(marked["e2"]) >= 1
    assert "first call in ap-south-1" in frame["notes"][2]
    assert "denied: AccessDenied" in frame["notes"][2]


def test_timeline_of_a_finding_centres_on_it() -> None:
    records = _records()
    first = timeline(records, principal=ROOT, at="2026-10-01T11:00:00Z", before="2h", after="1d")
    fid = next(i for ids in first["findings"] for i in ids)
    around = timeline(records, finding=fid, before="1m", after="10m")
    assert around["eventID"].to_list() == ["e2", "e3"]
    assert fid in around["findings"][0]


def test_timeline_chart_renders_with_hostile_values_escaped(tmp_path: Path) -> None:
    frame = timeline(_records(), principal=ROOT, at="2026-10-01T11:00:00Z", before="2h", after="1d")
    chart = timeline_chart(frame)
    png = save_chart(chart, tmp_path / "t.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    spec = json.loads(save_chart(chart, tmp_path / "t.json").read_text())
    rows = spec["data"]["values"]
    assert [r["api"] for r in rows] == ["iam:ListUsers", "signin:ConsoleLogin", "iam:StopLogging"]
    assert [r["outcome"] for r in rows] == ["ok", "ok", "denied"]
    agents = {r["userAgent"] for r in rows}
    assert "</script><script>alert(1)</script>\\x1b[2J" in agents
    assert not any("\x1b" in a for a in agents)
    assert sum(1 for r in rows if r["finding"]) == 1


def test_unknown_subject_gives_an_empty_timeline() -> None:
    frame = timeline(_records(), access_key="AKIANOTTHERE", before="1h", after="1h")
    assert frame.is_empty() and frame.columns[0] == "eventTime"
    assert isinstance(frame, pl.DataFrame)
