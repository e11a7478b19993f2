"""The detection engine on tiny hand-made frames: windows, distinct counts, bursts, ranges,
evidence, batches, digests, suppression, learned allow-lists, tuning, and its laws."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudtrail_hunt.detect import engine, registry
from cloudtrail_hunt.detect.engine import Tuning
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.model import (
    ControlType,
    Detection,
    Severity,
    Signal,
    Threshold,
    Tier,
)
from cloudtrail_hunt.detect.site import Site
from cloudtrail_hunt.source import records_frame
from tests.conftest import make_event

T0 = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SOURCE = "s3://trail/AWSLogs/o-x/111122223333/CloudTrail/us-east-1/2026/10/05/a.json.gz"


def _frame(*events: tuple[timedelta, str] | tuple[timedelta, str, str]) -> pl.LazyFrame:
    """Events as (offset from T0, eventName[, principal]); ids e0, e1, … and indexes 0, 1, …."""
    rows = [
        {
            "eventTime": T0 + e[0],
            "eventName": e[1],
            "userIdentity.arn": e[2] if len(e) > 2 else "arn:aws:iam::111122223333:user/bob",
            "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333",
            "account": "111122223333",
            "eventID": f"e{i}",
            "source": SOURCE,
            "source_index": i,
        }
        for i, e in enumerate(events)
    ]
    schema = {
        "eventTime": pl.Datetime("us", "UTC"),
        "eventName": pl.String,
        "userIdentity.arn": pl.String,
        "awsRegion": pl.String,
        "recipientAccountId": pl.String,
        "account": pl.String,
        "eventID": pl.String,
        "source": pl.String,
        "source_index": pl.UInt32,
    }
    return pl.DataFrame(rows, schema=schema).lazy()


def _detection(*thresholds: Threshold, **signal: Any) -> Detection:
    return Detection(
        id="aws-iam-99-engine-test",
        title="engine test",
        control_type=ControlType.DETECTIVE,
        severity=Severity.LOW,
        compliance=(),
        signals=(
            Signal(
                name="hit",
                description="A Hit event.",
                match=pl.col("eventName").is_in(["Hit", "Other", "Third"]),
                thresholds=thresholds,
                **signal,
            ),
        ),
        guide_query=None,
        response=("look",),
    )


def _run(
    frame: pl.LazyFrame,
    detection: Detection,
    start: datetime = T0,
    end: datetime = T0 + DAY,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    return engine.run(frame, [detection], start=start, end=end, **kwargs).to_dicts()


def _ids(finding: dict[str, Any]) -> list[str]:
    return [e["event_id"] for e in finding["evidence"]]


# ── Windows and counts ───────────────────────────────────────────────────────────────────────

TWO_IN_10M = Threshold(Tier.TICKET, count=2, window=10 * MINUTE)


def test_engine_window_is_closed_at_its_far_end() -> None:
    found = _run(_frame((HOUR, "Hit"), (HOUR + 10 * MINUTE, "Hit")), _detection(TWO_IN_10M))
    assert [(f["count"], _ids(f)) for f in found] == [(2, ["e0", "e1"])]


def test_engine_window_excludes_an_event_one_microsecond_past_it() -> None:
    late = HOUR + 10 * MINUTE + timedelta(microseconds=1)
    assert _run(_frame((HOUR, "Hit"), (late, "Hit")), _detection(TWO_IN_10M)) == []


def test_engine_counts_each_group_apart() -> None:
    frame = _frame((HOUR, "Hit", "arn:a"), (HOUR + MINUTE, "Hit", "arn:b"))
    assert _run(frame, _detection(TWO_IN_10M)) == []


@pytest.mark.parametrize(
    ("names", "fires"),
    [(["Hit", "Hit", "Other"], False), (["Hit", "Other", "Third"], True)],
)
def test_engine_distinct_counts_values_not_events(names: list[str], fires: bool) -> None:
    threshold = Threshold(Tier.PAGE, count=3, distinct="eventName", window=30 * MINUTE)
    frame = _frame(*[(HOUR + i * MINUTE, name) for i, name in enumerate(names)])
    assert len(_run(frame, _detection(threshold))) == int(fires)


def test_engine_distinct_ignores_nulls() -> None:
    threshold = Threshold(Tier.PAGE, count=2, distinct="awsRegion", window=30 * MINUTE)
    frame = _frame((HOUR, "Hit"), (HOUR + MINUTE, "Hit")).with_columns(
        awsRegion=pl.Series([None, "us-east-1"], dtype=pl.String)
    )
    assert _run(frame, _detection(threshold)) == []


def test_engine_overlapping_windows_of_one_burst_are_one_finding() -> None:
    frame = _frame(*[(HOUR + i * 5 * MINUTE, "Hit") for i in range(6)])
    found = _run(frame, _detection(TWO_IN_10M))
    assert [(f["count"], f["first_seen"]) for f in found] == [(6, T0 + HOUR)]


def test_engine_bursts_a_window_apart_are_two_findings() -> None:
    frame = _frame(
        (HOUR, "Hit"), (HOUR + MINUTE, "Hit"), (2 * HOUR, "Hit"), (2 * HOUR + MINUTE, "Hit")
    )
    found = _run(frame, _detection(TWO_IN_10M))
    assert [_ids(f) for f in found] == [["e0", "e1"], ["e2", "e3"]]


def test_engine_tuning_overrides_a_threshold() -> None:
    frame = _frame((HOUR, "Hit"), (HOUR + MINUTE, "Hit"))
    tuning = {"aws-iam-99-engine-test": Tuning({("hit", Tier.TICKET): {"count": 3}}, {})}
    assert _run(frame, _detection(TWO_IN_10M), tuning=tuning) == []


# ── Ranges ───────────────────────────────────────────────────────────────────────────────────


def test_engine_burst_straddling_the_start_fires_in_the_range_it_completes() -> None:
    frame = _frame((-5 * MINUTE, "Hit"), (3 * MINUTE, "Hit"))
    detection = _detection(TWO_IN_10M)
    assert _run(frame, detection, start=T0 - DAY, end=T0) == []
    found = _run(frame, detection)
    assert [(f["first_seen"], _ids(f)) for f in found] == [(T0 - 5 * MINUTE, ["e0", "e1"])]


def test_engine_finding_fired_before_the_range_is_not_reported_again() -> None:
    detection = _detection(Threshold(Tier.PAGE, suppress=DAY))
    frame = _frame((-HOUR, "Hit"), (HOUR, "Hit"))
    assert [_ids(f) for f in _run(frame, detection, start=T0 - DAY, end=T0)] == [["e0"]]
    assert _run(frame, detection) == []


def test_engine_range_end_is_exclusive() -> None:
    frame = _frame((DAY, "Hit"))
    assert _run(frame, _detection(Threshold(Tier.PAGE))) == []


# ── Evidence ─────────────────────────────────────────────────────────────────────────────────


def test_engine_evidence_lists_event_id_source_and_index() -> None:
    found = _run(_frame((HOUR, "Hit"), (HOUR + MINUTE, "Hit")), _detection(TWO_IN_10M))
    assert found[0]["evidence"] == [
        {"event_id": "e0", "source": SOURCE, "index": 0},
        {"event_id": "e1", "source": SOURCE, "index": 1},
    ]


def test_engine_evidence_from_records_names_memory_and_position() -> None:
    records = [
        make_event(eventName="Hit", eventID="x", eventTime="2026-10-05T01:00:00Z"),
        make_event(eventName="Hit", eventID="y", eventTime="2026-10-05T01:01:00Z"),
    ]
    found = _run(records_frame(records), _detection(TWO_IN_10M))
    assert found[0]["evidence"] == [
        {"event_id": "x", "source": "memory", "index": 0},
        {"event_id": "y", "source": "memory", "index": 1},
    ]


# ── Suppression, batches, digests ────────────────────────────────────────────────────────────


def test_engine_suppression_period_runs_from_the_finding() -> None:
    frame = _frame((HOUR, "Hit"), (HOUR + 59 * MINUTE, "Hit"), (2 * HOUR, "Hit"))
    found = _run(frame, _detection(Threshold(Tier.PAGE, suppress=HOUR)))
    assert [_ids(f) for f in found] == [["e0", "e1"], ["e2"]]


def test_engine_batches_align_to_the_clock_hour() -> None:
    second = timedelta(seconds=1)
    frame = _frame(
        (10 * HOUR + 30 * MINUTE, "Hit"), (11 * HOUR - second, "Hit"), (11 * HOUR, "Hit")
    )
    found = _run(frame, _detection(Threshold(Tier.INFORMATIONAL, batch=HOUR)))
    assert [_ids(f) for f in found] == [["e0", "e1"], ["e2"]]


def test_engine_digest_weeks_run_monday_to_sunday_and_escalate() -> None:
    threshold = Threshold(Tier.DIGEST, digest=timedelta(weeks=1), escalate_to=Tier.TICKET)
    frame = _frame((timedelta(days=7) - timedelta(seconds=1), "Hit"), (timedelta(days=7), "Hit"))
    found = _run(frame, _detection(threshold), end=T0 + timedelta(weeks=2))
    assert [(f["tier"], _ids(f)) for f in found] == [("digest", ["e0"]), ("ticket", ["e1"])]


def test_engine_batch_fired_before_a_mid_hour_start_is_not_reported() -> None:
    detection = _detection(Threshold(Tier.INFORMATIONAL, batch=HOUR))
    frame = _frame((10 * HOUR + 10 * MINUTE, "Hit"), (10 * HOUR + 40 * MINUTE, "Hit"))
    whole = _run(frame, detection, start=T0 + 10 * HOUR, end=T0 + 11 * HOUR)
    assert [_ids(f) for f in whole] == [["e0", "e1"]]
    # The bucket fired at 10:10; a hunt of [10:30, 11:00) must not report it again.
    assert _run(frame, detection, start=T0 + 10 * HOUR + 30 * MINUTE, end=T0 + 11 * HOUR) == []


# ── unless_after and learned allow-lists ─────────────────────────────────────────────────────


def test_engine_unless_after_drops_a_match_within_the_period() -> None:
    detection = _detection(
        Threshold(Tier.PAGE), unless_after=(pl.col("eventName") == "Enrol", 5 * MINUTE)
    )
    frame = _frame((HOUR, "Enrol"), (HOUR + 5 * MINUTE, "Hit"), (HOUR + 11 * MINUTE, "Hit"))
    assert [_ids(f) for f in _run(frame, detection)] == [["e2"]]


def test_engine_learned_allow_list_uses_the_baseline_given() -> None:
    detection = _detection(Threshold(Tier.PAGE), learn_allow="userIdentity.arn")
    frame = _frame((-2 * DAY, "Hit", "arn:old"), (HOUR, "Hit", "arn:old"), (HOUR, "Hit", "arn:new"))
    learned = _run(frame, detection, baseline=3 * DAY)
    assert [f["principal"] for f in learned] == ["arn:new"]
    forgotten = _run(frame, detection, baseline=DAY)
    assert sorted(f["principal"] for f in forgotten) == ["arn:new", "arn:old"]


# ── Range independence over a month ──────────────────────────────────────────────────────────

#: The detections these tests cover (their peers are written concurrently).
CASED = [
    "aws-iam-01-root-mfa",
    "aws-iam-02-root-access-keys",
    "aws-iam-03-identity-center",
    "aws-iam-04-iam-user-mfa",
    "aws-iam-07-permission-boundary",
    "aws-iam-08-scp-deny-list",
]


SITE = Site(
    management_account="999999999999",
    boundary_arns=frozenset({"arn:aws:iam::012345678901:policy/DeveloperBoundary"}),
    allowed_regions=frozenset({"us-east-1", "eu-west-1"}),
    deny_destructive_policy="arn:aws:organizations::999999999999:policy/o-x/service_control_policy/p-deny1234",
)
FENCED = ["StopLogging", "DeleteTrail", "DeleteConfigurationRecorder", "StopConfigurationRecorder",
          "ScheduleKeyDeletion", "DisableKey"]  # fmt: skip
SCP = "explicit deny in a service control policy"


def _iam_user(name: str) -> dict[str, Any]:
    return {
        "userIdentity.type": "IAMUser",
        "userIdentity.arn": f"arn:aws:iam::012345678901:user/{name}",
        "userIdentity.userName": name,
        "userIdentity.sessionContext": None,
    }


def _role(name: str) -> dict[str, Any]:
    return {
        "userIdentity.arn": f"arn:aws:sts::012345678901:assumed-role/{name}/session",
        "userIdentity.sessionContext.sessionIssuer.arn": f"arn:aws:iam::012345678901:role/{name}",
    }


ROOT = {"userIdentity.type": "Root", "userIdentity.arn": "arn:aws:iam::012345678901:root",
        "userIdentity.sessionContext": None}  # fmt: skip


def _month(seed: int) -> list[dict[str, Any]]:
    """A month of events touching every threshold of the six cased detections, at random times."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []

    def add(when: datetime, name: str, **fields: Any) -> None:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        events.append(
            make_event(eventTime=stamp, eventName=name, eventID=f"m{len(events)}", **fields)
        )

    start = datetime(2026, 10, 1, tzinfo=UTC)
    for day in range(31):
        base = start + day * DAY
        at = lambda base=base: base + timedelta(seconds=rng.randrange(86_400))  # noqa: E731
        no_mfa = {"additionalEventData": {"MFAUsed": "No"}}
        login = {"responseElements": {"ConsoleLogin": "Success"}}
        if rng.random() < 0.15:
            add(at(), "ConsoleLogin", **ROOT, **no_mfa, **login)
        if rng.random() < 0.1:
            add(at(), "DeactivateMFADevice", **ROOT)
        for user in ("bob", "carol"):
            for _ in range(rng.choice([0, 0, 1, 2])):
                add(at(), "ConsoleLogin", **_iam_user(user), **login)
        if rng.random() < 0.3:
            enrol = at()
            add(enrol, "EnableMFADevice", **_iam_user("dave"))
            add(
                enrol + timedelta(seconds=rng.randrange(600)),
                "ConsoleLogin",
                **_iam_user("dave"),
                **no_mfa,
                **login,
            )
        burst = at()
        for _ in range(rng.randrange(5)):
            add(burst + timedelta(seconds=rng.randrange(5400)), "CreateRole", **_role("Developer"))
        walk = at()
        for name in rng.sample(FENCED, rng.randrange(7)):
            add(
                walk + timedelta(seconds=rng.randrange(2400)),
                name,
                **_role("Developer"),
                errorCode="AccessDenied",
                errorMessage=SCP,
            )
        if rng.random() < 0.3:
            add(
                at(),
                "RunInstances",
                **_role("Developer"),
                awsRegion="ap-southeast-2",
                readOnly=False,
            )
        if rng.random() < 0.2:
            add(
                at(),
                "CreateUser",
                eventSource="iam.amazonaws.com",
                requestParameters={"userName": f"u{day}"},
            )
        if rng.random() < 0.2:
            add(at(), "CreateAccessKey", **_role(f"automation-{day}"))
        if rng.random() < 0.1:
            add(
                at(),
                "PutRolePermissionsBoundary",
                **_role("Developer"),
                requestParameters={
                    "roleName": "x",
                    "permissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess",
                },
            )
    return events


def _identity(finding: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("detection", "signal", "tier", "account", "principal", "first_seen")
    return tuple(finding[k] for k in keys)


def _by_day(
    frame: pl.DataFrame, first: datetime, days: int, **kwargs: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    whole = hunt(frame, start=first, end=first + days * DAY, site=SITE, **kwargs).to_dicts()
    daily = []
    for day in range(days):
        lo = first + day * DAY
        daily += hunt(frame, start=lo, end=lo + DAY, site=SITE, **kwargs).to_dicts()
    return whole, daily


@pytest.mark.parametrize("seed", [1, 2])
def test_hunt_day_by_day_finds_what_the_month_finds(seed: int) -> None:
    frame = records_frame(_month(seed)).collect()
    whole, daily = _by_day(frame, datetime(2026, 10, 1, tzinfo=UTC), 31, detections=CASED)
    assert len(whole) > 30  # every kind of threshold fired somewhere in the month
    assert sorted(map(_identity, daily)) == sorted(map(_identity, whole))
    # A day's finding holds the evidence seen by the day's end: a prefix of the month's.
    month = {_identity(f): _ids(f) for f in whole}
    for finding in daily:
        ids = _ids(finding)
        assert month[_identity(finding)][: len(ids)] == ids


def _two_days(events: list[dict[str, Any]], detection: str) -> tuple[set[Any], set[Any]]:
    frame = records_frame(events).collect()
    whole, daily = _by_day(frame, datetime(2026, 10, 1, tzinfo=UTC), 6, detections=[detection])
    return set(map(_identity, whole)), set(map(_identity, daily))


def test_hunt_suppression_chain_is_range_independent() -> None:
    # Root removes an MFA device every 23 h: pages at 0 h, 46 h, 92 h… in a hunt of the week.
    first = datetime(2026, 10, 1, 9, tzinfo=UTC)
    events = [
        make_event(
            eventTime=(first + i * 23 * HOUR).strftime("%Y-%m-%dT%H:%M:%SZ"),
            eventName="DeactivateMFADevice",
            **ROOT,
        )
        for i in range(6)
    ]
    whole, daily = _two_days(events, "aws-iam-01")
    assert daily == whole


def test_hunt_mfa_enrolment_just_before_midnight_is_range_independent() -> None:
    events = [
        make_event(
            eventTime="2026-10-02T23:58:00Z", eventName="EnableMFADevice", **_iam_user("bob")
        ),
        make_event(
            eventTime="2026-10-03T00:01:00Z",
            eventName="ConsoleLogin",
            additionalEventData={"MFAUsed": "No"},
            **_iam_user("bob"),
        ),
    ]
    whole, daily = _two_days(events, "aws-iam-04")
    assert whole == set()
    assert daily == whole


def test_hunt_create_role_stream_is_range_independent() -> None:
    first = datetime(2026, 10, 1, tzinfo=UTC)
    events = [
        make_event(
            eventTime=(first + i * 30 * MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ"),
            eventName="CreateRole",
            **_role("Developer"),
        )
        for i in range(3 * 48)
    ]
    whole, daily = _two_days(events, "aws-iam-07")
    assert daily == whole


def test_hunt_learned_allow_list_is_range_independent() -> None:
    events = [
        make_event(eventTime="2026-10-01T10:00:00Z", eventName="CreateAccessKey", **_role("ci")),
        make_event(eventTime="2026-10-04T10:00:00Z", eventName="CreateAccessKey", **_role("ci")),
    ]
    whole, daily = _two_days(events, "aws-iam-02")
    assert daily == whole


# ── Laws (hypothesis) ────────────────────────────────────────────────────────────────────────

ALLOWED = "arn:aws:sts::012345678901:assumed-role/Contractor/zoe"
_KINDS = {
    "root-login": {**ROOT, "eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": "No"}},
    "user-login": {"eventName": "ConsoleLogin", "userIdentity.type": "IAMUser",
                   "userIdentity.userName": "bob", "responseElements": {"ConsoleLogin": "Success"},
                   "additionalEventData": {"MFAUsed": "No"}},
    "create-role": {"eventName": "CreateRole"},
    "enable-mfa": {"eventName": "EnableMFADevice"},
    "region": {"eventName": "RunInstances", "awsRegion": "sa-east-1", "readOnly": False},
    "key": {"eventName": "CreateAccessKey"},
    **{f"deny-{n}": {"eventName": n, "errorCode": "AccessDenied", "errorMessage": SCP}
       for n in FENCED},
}  # fmt: skip
_PRINCIPALS = ["arn:aws:sts::012345678901:assumed-role/Developer/dana",
               "arn:aws:iam::012345678901:user/bob"]  # fmt: skip

_events = st.lists(
    st.tuples(
        st.integers(0, 2 * 24 * 60), st.sampled_from(sorted(_KINDS)), st.sampled_from(_PRINCIPALS)
    ),
    max_size=25,
)


def _records(spec: Sequence[tuple[int, str, str]], prefix: str) -> list[dict[str, Any]]:
    out = []
    for n, (minute, kind, principal) in enumerate(spec):
        fields = {"userIdentity.arn": principal, **_KINDS[kind]}
        if fields.get("userIdentity.type") == "Root":
            fields["userIdentity.arn"] = f"{principal}-root"
        when = T0 + minute * MINUTE
        out.append(
            make_event(
                eventTime=when.strftime("%Y-%m-%dT%H:%M:%SZ"), eventID=f"{prefix}{n}", **fields
            )
        )
    return out


def _keys(findings: pl.DataFrame) -> list[tuple[Any, ...]]:
    return [(*_identity(f), tuple(_ids(f))) for f in findings.to_dicts()]


@settings(max_examples=30)
@given(base=_events, extra=_events)
def test_hunt_allow_listed_events_never_add_findings(
    base: list[tuple[int, str, str]], extra: list[tuple[int, str, str]]
) -> None:
    allow = Tuning({}, {"userIdentity.arn": frozenset({ALLOWED, f"{ALLOWED}-root"})})
    tuning = dict.fromkeys(CASED, allow)
    pack = [d for d in registry.load() if d.id in CASED]
    allowed = [(m, kind, ALLOWED) for m, kind, _ in extra]

    def run(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        frame = records_frame(records).collect()
        return _keys(hunt(frame, start=T0, end=T0 + 2 * DAY, site=SITE, tuning=tuning, pack=pack))

    without = run(_records(base, "b"))
    with_allowed = run(_records(base, "b") + _records(allowed, "a"))
    assert set(with_allowed) <= set(without)


_minutes = st.lists(st.integers(0, 300), min_size=1, max_size=30).map(sorted)


def _counted(minutes: list[int], count: int) -> list[dict[str, Any]]:
    detection = _detection(Threshold(Tier.TICKET, count=2, window=10 * MINUTE))
    tuning = {detection.id: Tuning({("hit", Tier.TICKET): {"count": count}}, {})}
    return _run(_frame(*[(m * MINUTE, "Hit") for m in minutes]), detection, tuning=tuning)


@settings(max_examples=60)
@given(minutes=_minutes, count=st.integers(1, 5))
def test_engine_lowering_a_count_never_drops_an_alerted_event(
    minutes: list[int], count: int
) -> None:
    lower = {e for f in _counted(minutes, count) for e in _ids(f)}
    higher = [set(_ids(f)) for f in _counted(minutes, count + 1)]
    assert all(ids <= lower for ids in higher)


@settings(max_examples=60)
@given(minutes=_minutes, count=st.integers(1, 5))
@example(minutes=[0, 1, 2, 12, 21, 22], count=2)
def test_engine_raising_a_count_never_adds_findings(minutes: list[int], count: int) -> None:
    assert len(_counted(minutes, count + 1)) <= len(_counted(minutes, count))
