"""Every finding names its subject (issue 12, acceptance 4), and root is named only when it acted.

Over every signal that fires on `sample_logs/` and on a second generated trail: `principal` or
`resource` is set, and a root ARN as principal means root acted: every CloudTrail event of the
evidence was root's, and every credential-report row of the evidence is the root row.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.ingest.lake import scan
from cloudtrail_hunt.ingest.pipeline import ingest
from cloudtrail_hunt.synth import generate_org_trail
from tests.conftest import make_event

ROOT_ARN = re.compile(r"arn:aws:iam::\d{12}:root")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A second trail (another seed and shape than the sample), ingested with its side inputs."""
    root = tmp_path_factory.mktemp("generated")
    generate_org_trail(root / "trail", seed=11, days=30, events_per_day=20, files_per_day=4)
    ingest(root / "trail", root / "lake")
    return root / "trail" / "side_inputs", root / "lake"


def _cases(sample_lake: Path, generated: tuple[Path, Path]) -> list[tuple[Path, Path, str]]:
    from tests.conftest import SAMPLE_LOGS

    return [
        (sample_lake, SAMPLE_LOGS / "side_inputs", "2026-10-01"),
        (generated[1], generated[0], "2026-10-01"),
    ]


def _identity_types(lake: Path, ids: set[str]) -> dict[str, str | None]:
    rows = (
        scan(lake)
        .filter(pl.col("eventID").is_in(sorted(ids)))
        .select("eventID", "userIdentity.type")
        .collect()
    )
    return dict(rows.iter_rows())


def _report_user(side: Path, source: str, index: int) -> str:
    return pl.read_csv(side / source, infer_schema=False)["user"][index]


def test_every_finding_names_a_subject_and_root_only_when_root_acted(
    sample_lake: Path, generated: tuple[Path, Path]
) -> None:
    for lake, side, start in _cases(sample_lake, generated):
        found = hunt(lake, start=start).to_dicts()
        assert found, lake
        signals = {f["signal"] for f in found}
        assert len(signals) >= 10, signals  # the check covers many signals, not a few
        for finding in found:
            what = (finding["detection"], finding["signal"], finding["principal"])
            assert finding["principal"] or finding["resource"], what
            names = (finding["principal"] or "").replace(" ", "").split(",")
            if not any(ROOT_ARN.fullmatch(n) for n in names):
                continue
            events = {e["event_id"] for e in finding["evidence"] if e["event_id"]}
            types = _identity_types(lake, events)
            assert set(types) == events, what
            assert set(types.values()) <= {"Root"}, (what, types)
            for entry in finding["evidence"]:
                if entry["source"].endswith(".csv"):
                    user = _report_user(side, entry["source"], entry["index"])
                    assert user == "<root_account>", (what, entry)


def test_generated_trail_fires_root_and_user_findings(generated: tuple[Path, Path]) -> None:
    found = hunt(generated[1], start="2026-10-01")
    principals = found["principal"].drop_nulls().to_list()
    assert any(ROOT_ARN.fullmatch(p) for p in principals)
    assert any(":user/" in p for p in principals)


ACCOUNT = "012345678901"
ROOT = {
    "userIdentity.type": "Root",
    "userIdentity.arn": f"arn:aws:iam::{ACCOUNT}:root",
    "userIdentity.principalId": ACCOUNT,
    # Root signs in itself: no role session behind it.
    "userIdentity.sessionContext": {"attributes": {"mfaAuthenticated": "true"}},
}


def _mfa_call(name: str, time: str, **request: str) -> dict[str, object]:
    return make_event(
        eventName=name,
        eventTime=time,
        eventSource="iam.amazonaws.com",
        recipientAccountId=ACCOUNT,
        requestParameters=request,
        **ROOT,
    )


def test_root_removing_its_own_mfa_pages_control_01_and_not_control_04() -> None:
    # As CloudTrail records it: root is `AWS ROOT USER`, its device `root-account-mfa-device`.
    device = f"arn:aws:iam::{ACCOUNT}:mfa/root-account-mfa-device"
    events = [
        _mfa_call("DeactivateMFADevice", "2026-10-06T10:00:00Z", userName="AWS ROOT USER",
                  serialNumber=device),
        _mfa_call("DeleteVirtualMFADevice", "2026-10-06T10:00:05Z", serialNumber=device),
    ]  # fmt: skip
    found = hunt(
        events, start="2026-10-06", end="2026-10-07", detections=["aws-iam-01", "aws-iam-04"]
    )
    assert found["detection"].to_list() == ["aws-iam-01-root-mfa"]
    assert found["resource"].to_list() == [device]


def test_root_removing_an_iam_users_mfa_is_control_04_about_that_user() -> None:
    events = [
        _mfa_call("DeleteVirtualMFADevice", "2026-10-06T10:00:00Z",
                  serialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/alice"),
    ]  # fmt: skip
    found = hunt(events, start="2026-10-06", end="2026-10-07", detections=["aws-iam-04"])
    assert found.select("principal", "resource").rows() == [
        (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:user/alice")
    ]


def test_root_creating_an_iam_users_key_names_that_user_as_resource() -> None:
    # The guide pages on any CreateAccessKey from root; the resource says whose key it is.
    own = make_event(
        eventName="CreateAccessKey", eventTime="2026-10-06T10:00:00Z",
        eventSource="iam.amazonaws.com", recipientAccountId=ACCOUNT, requestParameters=None,
        **ROOT,
    )  # fmt: skip
    for_alice = {**own, "eventID": "for-alice", "requestParameters": {"userName": "alice"}}
    found = hunt([own, for_alice], start="2026-10-06", end="2026-10-07", detections=["aws-iam-02"])
    rows = sorted(found.select("signal", "principal", "resource").rows(), key=str)
    root = f"arn:aws:iam::{ACCOUNT}:root"
    assert rows == [
        ("root-create-access-key", root, "alice"),
        ("root-create-access-key", root, None),
    ]


def test_root_re_activating_an_iam_users_key_is_not_a_root_key() -> None:
    def update(user: str | None, at: str) -> dict[str, object]:
        request = {"accessKeyId": "AKIAEXAMPLE", "status": "Active"}
        if user is not None:
            request["userName"] = user
        return make_event(
            eventName="UpdateAccessKey", eventTime=at, eventSource="iam.amazonaws.com",
            recipientAccountId=ACCOUNT, requestParameters=request, **ROOT,
        )  # fmt: skip

    events = [update("alice", "2026-10-06T10:00:00Z"), update(None, "2026-10-06T11:00:00Z")]
    found = hunt(events, start="2026-10-06", end="2026-10-07", detections=["aws-iam-02"])
    pages = found.filter(pl.col("signal") == "root-update-access-key")
    assert pages["first_seen"].dt.hour().to_list() == [11]  # root's own key only
