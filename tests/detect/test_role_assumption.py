"""aws-iam-06-role-assumption: each signal firing and silent, the 3x boundary, the guide's query."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.detect import engine
from cloudtrail_hunt.detect.baselines import Variance, daily_distinct, moving_vs_baseline
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.site import Site, site_from_org_json
from cloudtrail_hunt.errors import IngestError
from cloudtrail_hunt.source import records_frame
from detections._guide import QUERIES
from detections.aws_iam_06_role_assumption import DETECTION, ID, VARIANCE
from tests.conftest import SAMPLE_LOGS, make_event

OWN, MEMBER, PARTNER, OUTSIDER = "012345678901", "210987654321", "444455556666", "111122223333"
SITE = Site(accounts=frozenset({OWN, MEMBER}), partner_accounts=frozenset({PARTNER}))
DAY0 = datetime(2026, 10, 1, tzinfo=UTC)
ROLE = f"arn:aws:iam::{OWN}:role/data-export-role"


def _run(
    records: list[dict[str, Any]],
    start: datetime = DAY0,
    end: datetime | None = None,
    site: Site = SITE,
    side_inputs: Path | None = None,
) -> pl.DataFrame:
    found = engine.run(
        records_frame(records),
        [DETECTION],
        start=start,
        end=end or start + timedelta(days=40),
        site=site,
        side_inputs=side_inputs,
    )
    return found


def _signal(found: pl.DataFrame, name: str) -> pl.DataFrame:
    return found.filter(pl.col("signal") == name)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- assume-role-by-iam-user ---------------------------------------------------------------------

_IAM_USER = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLEDEPLOYER",
    "arn": f"arn:aws:iam::{OWN}:user/legacy-deployer",
    "accountId": OWN,
    "accessKeyId": "AKIAEXAMPLEDEPLOYER",
    "userName": "legacy-deployer",
}


def _assume(t: datetime, identity: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    extra = {"userIdentity": identity} if identity is not None else {}
    return make_event(
        eventTime=_iso(t),
        eventSource="sts.amazonaws.com",
        eventName=fields.pop("eventName", "AssumeRole"),
        readOnly=True,
        requestParameters={"roleArn": ROLE, "roleSessionName": "s"},
        eventID=fields.pop("eventID", f"assume-{t.isoformat()}"),
        **extra,
        **fields,
    )


def test_assume_role_by_iam_user_fires_a_ticket() -> None:
    found = _signal(_run([_assume(DAY0, _IAM_USER)]), "assume-role-by-iam-user")
    assert found.select("tier", "principal", "count").rows() == [("ticket", _IAM_USER["arn"], 1)]


def test_assume_role_by_iam_user_is_suppressed_for_a_day() -> None:
    events = [_assume(DAY0 + timedelta(hours=h), _IAM_USER) for h in (0, 5, 23, 25)]
    found = _signal(_run(events), "assume-role-by-iam-user")
    assert found["count"].to_list() == [3, 1]


@pytest.mark.parametrize(
    ("event_name", "identity"),
    [
        pytest.param(
            "AssumeRole",
            {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
            id="service",
        ),
        pytest.param("AssumeRole", None, id="assumed-role-chaining"),
        pytest.param(
            "AssumeRoleWithWebIdentity",
            {"type": "WebIdentityUser", "userName": "repo:acme/x:ref:refs/heads/main"},
            id="web-identity",
        ),
    ],
)
def test_assume_role_by_other_identities_is_silent(
    event_name: str, identity: dict[str, Any] | None
) -> None:
    found = _run([_assume(DAY0, identity, eventName=event_name)])
    assert _signal(found, "assume-role-by-iam-user").is_empty()


# --- trust-policy-principal-wildcard / trust-policy-external-account ---------------------------


def _policy(principal: object, condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    service = {
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [service, statement]}, indent=2)


def _trust(document: str, event: str = "UpdateAssumeRolePolicy", **fields: Any) -> dict[str, Any]:
    key = "policyDocument" if event == "UpdateAssumeRolePolicy" else "assumeRolePolicyDocument"
    return make_event(
        eventTime=_iso(DAY0 + timedelta(hours=10)),
        eventSource="iam.amazonaws.com",
        eventName=event,
        readOnly=False,
        requestParameters={"roleName": "deploy-role", key: document},
        eventID="trust-1",
        **fields,
    )


@pytest.mark.parametrize(
    "principal",
    [
        pytest.param("*", id="principal-string"),
        pytest.param({"AWS": "*"}, id="aws-star"),
        pytest.param({"AWS": [f"arn:aws:iam::{OWN}:role/app", "*"]}, id="star-in-array"),
    ],
)
def test_trust_policy_wildcard_pages(principal: object) -> None:
    found = _signal(_run([_trust(_policy(principal))]), "trust-policy-principal-wildcard")
    assert found.select("tier", "count").rows() == [("page", 1)]


def test_trust_policy_wildcard_in_a_new_role_pages() -> None:
    record = _trust(_policy({"AWS": "*"}), event="CreateRole")
    found = _signal(_run([record]), "trust-policy-principal-wildcard")
    assert found["tier"].to_list() == ["page"]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(_trust(_policy({"AWS": f"arn:aws:iam::{MEMBER}:root"})), id="no-star"),
        pytest.param(
            _trust(_policy({"AWS": "*"}), errorCode="MalformedPolicyDocument"), id="failed-call"
        ),
        pytest.param(
            _trust(json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*"}]})),
            id="deny-star",
        ),
    ],
)
def test_trust_policy_without_an_allowed_wildcard_is_silent(record: dict[str, Any]) -> None:
    assert _signal(_run([record]), "trust-policy-principal-wildcard").is_empty()


@pytest.mark.parametrize(
    "principal",
    [
        pytest.param({"AWS": f"arn:aws:iam::{OUTSIDER}:root"}, id="root-arn"),
        pytest.param({"AWS": OUTSIDER}, id="bare-id"),
        pytest.param({"AWS": [f"arn:aws:iam::{MEMBER}:root", OUTSIDER]}, id="in-array"),
        pytest.param({"AWS": f"arn:aws:iam::{OUTSIDER}:role/x"}, id="role-arn"),
    ],
)
def test_trust_policy_external_account_pages(principal: object) -> None:
    found = _signal(_run([_trust(_policy(principal))]), "trust-policy-external-account")
    assert found.select("tier", "count").rows() == [("page", 1)]


def test_trust_policy_external_account_with_external_id_still_pages() -> None:
    # The partner allow-list is the ledger; an ExternalId does not make an outsider a partner.
    guarded = _policy({"AWS": OUTSIDER}, {"StringEquals": {"sts:ExternalId": "x"}})
    found = _signal(_run([_trust(guarded)]), "trust-policy-external-account")
    assert found["tier"].to_list() == ["page"]


@pytest.mark.parametrize(
    "principal",
    [
        pytest.param({"AWS": f"arn:aws:iam::{PARTNER}:root"}, id="partner"),
        pytest.param({"AWS": f"arn:aws:iam::{MEMBER}:role/security-scanner"}, id="org-member"),
        pytest.param({"AWS": OWN}, id="own-account"),
        pytest.param({"Service": "ec2.amazonaws.com"}, id="service"),
        pytest.param("*", id="wildcard-is-the-other-signal"),
    ],
)
def test_trust_policy_internal_or_partner_account_is_silent(principal: object) -> None:
    assert _signal(_run([_trust(_policy(principal))]), "trust-policy-external-account").is_empty()


def test_trust_policy_own_account_is_internal_without_site_facts() -> None:
    found = _run([_trust(_policy({"AWS": OWN}))], site=Site())
    assert _signal(found, "trust-policy-external-account").is_empty()


@pytest.mark.parametrize(
    "document",
    [
        pytest.param('{"Statement": [' * 20_000, id="deeply-nested-invalid"),
        pytest.param('{"Version": "' + "x" * 200_000 + '"}', id="huge"),
        pytest.param("\x1b[31m not json", id="terminal-escape"),
    ],
)
def test_hostile_trust_documents_do_not_crash_the_hunt(document: str) -> None:
    found = _run([_trust(document)])
    assert _signal(found, "trust-policy-principal-wildcard").is_empty()
    assert _signal(found, "trust-policy-external-account").is_empty()


def test_unparsable_trust_document_falls_back_to_the_text() -> None:
    truncated = f'{{"Statement": [{{"Effect": "Allow", "Principal": {{"AWS": ["{OUTSIDER}", "*"'
    found = _run([_trust(truncated)])
    assert _signal(found, "trust-policy-principal-wildcard")["tier"].to_list() == ["page"]
    assert _signal(found, "trust-policy-external-account")["tier"].to_list() == ["page"]


# --- distinct-role-assumers-3x-baseline ----------------------------------------------------------


def _fan(counts: list[int], role: str = ROLE) -> list[dict[str, Any]]:
    """`counts[d]` distinct role sessions assume `role` on day d (one event each)."""
    events = []
    for day, count in enumerate(counts):
        for k in range(count):
            t = DAY0 + timedelta(days=day, minutes=10 + k)
            source = f"arn:aws:iam::{OWN}:role/worker-{k:03d}"
            events.append(
                make_event(
                    eventTime=_iso(t),
                    eventSource="sts.amazonaws.com",
                    eventName="AssumeRole",
                    readOnly=True,
                    requestParameters={"roleArn": role, "roleSessionName": f"s{k}"},
                    eventID=f"fan-{day}-{k}",
                    **{
                        "userIdentity.arn": f"arn:aws:sts::{OWN}:assumed-role/worker-{k:03d}/i",
                        "userIdentity.sessionContext.sessionIssuer.arn": source,
                    },
                )
            )
    return events


#: 14 days at 2 distinct assumers a day (baseline 2, so more than 6 fires), then six days at 6
#: and a last day at `last`: the 7-day average on the last day is (36 + last) / 7.
def _boundary(last: int) -> list[int]:
    return [2] * 14 + [6] * 6 + [last]


@pytest.mark.parametrize(
    ("last", "fires"),
    [
        pytest.param(7, True, id="just-above-3x"),
        pytest.param(6, False, id="exactly-3x"),
        pytest.param(5, False, id="just-below-3x"),
    ],
)
def test_fan_out_fires_only_above_three_times_the_baseline(last: int, fires: bool) -> None:
    found = _signal(_run(_fan(_boundary(last))), "distinct-role-assumers-3x-baseline")
    assert (not found.is_empty()) is fires
    if fires:
        row = found.row(0, named=True)
        assert (row["tier"], row["principal"], row["count"]) == ("ticket", ROLE, last)
        assert row["first_seen"] == DAY0 + timedelta(days=20, minutes=10)
        assert "2.00 distinct assumers/day over 14 days" in row["baseline"]


def test_fan_out_needs_a_week_of_history() -> None:
    # Sixty assumers on each of the first seven days: no history, no verdict.
    assert _signal(_run(_fan([60] * 7)), "distinct-role-assumers-3x-baseline").is_empty()


@pytest.mark.parametrize(
    ("per_day", "fires"),
    [pytest.param(4, True, id="above-floor"), pytest.param(3, False, id="at-floor")],
)
def test_fan_out_of_a_role_without_history_must_beat_three_a_day(per_day: int, fires: bool) -> None:
    # Other roles give the lake 14 days of history; this one was never assumed before.
    history = _fan([1] * 21, role=f"arn:aws:iam::{OWN}:role/other")
    events = history + _fan([0] * 14 + [per_day] * 7)
    found = _signal(_run(events), "distinct-role-assumers-3x-baseline")
    assert found["principal"].to_list() == ([ROLE] if fires else [])


def test_fan_out_reopens_after_a_week() -> None:
    found = _signal(_run(_fan([1] * 14 + [40] * 10)), "distinct-role-assumers-3x-baseline")
    assert found["first_seen"].to_list() == [
        DAY0 + timedelta(days=14, minutes=10),
        DAY0 + timedelta(days=21, minutes=10),
    ]


def test_fan_out_finding_belongs_to_the_range_it_opened_in() -> None:
    events = _fan([1] * 14 + [40] * 3)
    inside = _run(events, start=DAY0 + timedelta(days=14), end=DAY0 + timedelta(days=17))
    later = _run(events, start=DAY0 + timedelta(days=15), end=DAY0 + timedelta(days=17))
    assert _signal(inside, "distinct-role-assumers-3x-baseline").height == 1
    assert _signal(later, "distinct-role-assumers-3x-baseline").is_empty()


def test_moving_vs_baseline_forgets_days_older_than_the_baseline() -> None:
    start = date(2026, 1, 1)
    counts = [9, 9, 1, 1, 1, 4]  # the 9s are more than `baseline` days before the last window
    daily = pl.DataFrame(
        {"k": "r", "day": [start + timedelta(days=i) for i in range(6)], "distinct": counts}
    )
    rule = Variance(window=1, baseline=3, min_history=3)
    out = moving_vs_baseline(daily, ["k"], start, start + timedelta(days=5), rule)
    last = out.row(-1, named=True)
    assert (last["base"], last["history"], last["fired"]) == (1.0, 3, True)


def test_daily_distinct_ignores_null_values() -> None:
    events = pl.DataFrame(
        {"eventTime": [DAY0, DAY0, DAY0], "k": ["r", "r", "r"], "who": ["a", None, "a"]}
    )
    assert daily_distinct(events, ["k"], "who")["distinct"].to_list() == [1]


def test_variance_rejects_a_history_longer_than_its_baseline() -> None:
    with pytest.raises(ValueError, match="min_history"):
        Variance(baseline=3, min_history=7)


def test_variance_describes_the_guide_threshold() -> None:
    assert VARIANCE.describe().startswith("7-day moving average > 3x the 90-day baseline")


# --- eks-pod-identity-drift ----------------------------------------------------------------------


def _pod(role: str, hour: int, event: str = "DescribePodIdentityAssociation") -> dict[str, Any]:
    association = {"clusterName": "prod-eks", "serviceAccount": "sa", "roleArn": role}
    return make_event(
        eventTime=_iso(DAY0 + timedelta(hours=hour)),
        eventSource="eks.amazonaws.com",
        eventName=event,
        readOnly=event.startswith("Describe"),
        requestParameters={"clusterName": "prod-eks", "associationId": "a-1"},
        responseElements={"association": association},
        eventID=f"pod-{event}-{hour}",
    )


MANAGED = Site(extra={"iac_managed_roles": ["app-runtime-role", "ci-deploy"]})


def test_pod_identity_binding_to_an_unmanaged_role_tickets_once_a_day() -> None:
    role = f"arn:aws:iam::{OWN}:role/debug-admin-role"
    events = [_pod(role, 1, "CreatePodIdentityAssociation"), _pod(role, 2), _pod(role, 30)]
    found = _signal(_run(events, site=MANAGED), "eks-pod-identity-drift")
    assert found.select("tier", "principal", "count").rows() == [
        ("ticket", role, 2),
        ("ticket", role, 1),
    ]


def test_pod_identity_binding_to_a_managed_role_is_silent() -> None:
    events = [_pod(f"arn:aws:iam::{OWN}:role/app-runtime-role", 1)]
    assert _signal(_run(events, site=MANAGED), "eks-pod-identity-drift").is_empty()


def test_pod_identity_managed_roles_come_from_org_json(tmp_path: Path) -> None:
    (tmp_path / "org.json").write_text(json.dumps({"iac_managed_roles": ["app-runtime-role"]}))
    events = [
        _pod(f"arn:aws:iam::{OWN}:role/app-runtime-role", 1),
        _pod(f"arn:aws:iam::{OWN}:role/debug-admin-role", 2),
    ]
    found = _signal(_run(events, site=Site(), side_inputs=tmp_path), "eks-pod-identity-drift")
    assert found["principal"].to_list() == [f"arn:aws:iam::{OWN}:role/debug-admin-role"]


def test_pod_identity_rejects_an_unreadable_org_json(tmp_path: Path) -> None:
    (tmp_path / "org.json").write_text("{not json")
    events = [_pod(f"arn:aws:iam::{OWN}:role/debug-admin-role", 1)]
    with pytest.raises(IngestError, match="invalid org.json"):
        _run(events, site=Site(), side_inputs=tmp_path)


# --- the guide's query against the detection on sample_logs/ -------------------------------------

#: The trust-policy scenarios of sample_logs/ and who returns their event: the guide's query
#: (`"Principal":\s*"\*"` or `:root"`) and the detection's two trust signals.
TRUST_SCENARIOS = {
    # scenario: (guide query returns it, detection fires on it)
    "trust-policy-external-account-root": (True, True),
    # The query wants `"Principal": "*"`: `{"AWS": "*"}` and "*" in an array escape it.
    "trust-policy-wildcard-principal": (False, True),
    "trust-policy-wildcard-in-array": (False, True),
    # A bare 12-digit id has no `:root"`.
    "trust-policy-external-bare-account-id": (False, True),
    # `:root"` also matches the allow-listed partner (with sts:ExternalId): a false page.
    "trust-policy-partner-account": (True, False),
    # An org member's role ARN: neither.
    "trust-policy-org-member-account": (False, False),
}


def test_guide_query_misses_and_over_matches_what_the_detection_reads(sample_lake: Path) -> None:
    text = QUERIES[ID]
    with_ids = "fields eventID\n" + text.split("\n", 1)[1]
    by_query = set(ch.query(with_ids, sample_lake)["eventID"].to_list())
    assert ch.query(text, sample_lake).height == len(by_query)

    site = site_from_org_json(SAMPLE_LOGS / "side_inputs" / "org.json")
    found = hunt(sample_lake, start="2026-10-01", end="2026-11-06", site=site, detections=[ID])
    trust = found.filter(pl.col("signal").str.starts_with("trust-policy-"))
    by_detection = {e["event_id"] for row in trust["evidence"].to_list() for e in row}

    labels = [
        json.loads(line)
        for line in (SAMPLE_LOGS / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    got = {
        lab["scenario"]: (
            bool(by_query & set(lab["event_ids"])),
            bool(by_detection & set(lab["event_ids"])),
        )
        for lab in labels
        if lab["scenario"] in TRUST_SCENARIOS
    }
    assert got == TRUST_SCENARIOS
    labelled = {e for lab in labels for e in lab["event_ids"]}
    assert by_query <= labelled
    assert by_detection <= labelled, "the detection paged on background trust changes"
