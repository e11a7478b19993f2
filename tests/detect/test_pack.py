"""Pack lint (STYLE §9): walk the registry, gather every problem, then fail once with the list."""

from __future__ import annotations

import dataclasses
import importlib
import re
from datetime import timedelta
from pathlib import Path

import polars as pl

import cloudtrail_hunt
from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.model import (
    ComplianceRef,
    Computed,
    ControlType,
    Detection,
    Severity,
    Signal,
    Tier,
)
from cloudtrail_hunt.query.parser import parse
from cloudtrail_hunt.source import records_frame
from detections import _guide
from tests.conftest import make_event
from tests.detect.test_cases import Case, load_cases

#: The detections whose case files this suite owns; each must have one, covering every signal.
CASED = (
    "aws-iam-01-root-mfa",
    "aws-iam-02-root-access-keys",
    "aws-iam-03-identity-center",
    "aws-iam-04-iam-user-mfa",
    "aws-iam-07-permission-boundary",
    "aws-iam-08-scp-deny-list",
)
_KEBAB = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def _small_frame() -> pl.DataFrame:
    """A few events every guide query can run on (CloudTrail fields and Logs Insights ones)."""
    stale = {
        "@logStream": "2026/10/05/[$LATEST]credential-report-audit",
        "@message": "STALE_USER user=bob days_idle=50",
    }
    records = [
        make_event(
            eventName="ConsoleLogin",
            **{"userIdentity.type": "IAMUser", "userIdentity.userName": "bob"},
            **stale,
        ),
        make_event(eventName="CreateAccessKey", **{"userIdentity.type": "Root"}),
        make_event(
            eventName="StopLogging",
            errorCode="AccessDenied",
            errorMessage="explicit deny in a service control policy",
        ),
        make_event(eventName="DeleteRolePermissionsBoundary", requestParameters={"roleName": "a"}),
    ]
    return records_frame(records).collect()


def _thresholds(detection: Detection, signal: Signal) -> list[str]:
    problems = []
    where = f"{detection.id}/{signal.name}"
    if not signal.thresholds:
        problems.append(f"{where}: no thresholds")
    for threshold in signal.thresholds:
        tier = threshold.tier
        if not isinstance(tier, Tier):
            problems.append(f"{where}: tier {tier!r} is not a Tier")
        if threshold.escalate_to is not None and not isinstance(threshold.escalate_to, Tier):
            problems.append(f"{where}: escalate_to {threshold.escalate_to!r} is not a Tier")
        if threshold.count < 1:
            problems.append(f"{where} [{tier}]: count {threshold.count} is not positive")
        for name in ("window", "suppress", "batch", "digest"):
            value = getattr(threshold, name)
            if value is not None and value <= timedelta(0):
                problems.append(f"{where} [{tier}]: {name} {value} is not positive")
        if threshold.count > 1 and threshold.window is None:
            problems.append(f"{where} [{tier}]: count {threshold.count} without a window")
    return problems


def _signals(detection: Detection) -> list[str]:
    problems = []
    for signal in detection.signals:
        where = f"{detection.id}/{signal.name}"
        if not _KEBAB.fullmatch(signal.name):
            problems.append(f"{where}: signal name is not kebab-case")
        if not signal.description.strip() or "\n" in signal.description:
            problems.append(f"{where}: description is not one non-empty line")
        if isinstance(signal, Signal):
            problems += _thresholds(detection, signal)
        elif isinstance(signal, Computed):
            bad = [t for t in signal.tiers if not isinstance(t, Tier)]
            if not signal.tiers or bad:
                problems.append(f"{where}: computed tiers {signal.tiers!r} are not Tiers")
        else:
            problems.append(f"{where}: {type(signal).__name__} is neither Signal nor Computed")
    return problems


def _metadata(detection: Detection) -> list[str]:
    problems = []
    where = detection.id
    if not isinstance(detection.control_type, ControlType):
        problems.append(f"{where}: control_type {detection.control_type!r} is not a ControlType")
    if not isinstance(detection.severity, Severity):
        problems.append(f"{where}: severity {detection.severity!r} is not a Severity")
    if not detection.title.strip():
        problems.append(f"{where}: empty title")
    for ref in detection.compliance:
        if not isinstance(ref, ComplianceRef) or ref.framework not in _guide.FRAMEWORKS:
            problems.append(f"{where}: unknown compliance framework in {ref!r}")
        elif not ref.ref.strip():
            problems.append(f"{where}: empty compliance ref for {ref.framework!r}")
    if (
        detection.id in _guide.COMPLIANCE
        and detection.compliance != _guide.COMPLIANCE[detection.id]
    ):
        problems.append(f"{where}: compliance differs from the guide's table")
    if not detection.response or not all(step.strip() for step in detection.response):
        problems.append(f"{where}: response is empty or has an empty step")
    if detection.id in _guide.RESPONSES and detection.response != _guide.RESPONSES[detection.id]:
        problems.append(f"{where}: response is not the guide's initial response, verbatim")
    return problems


def _file(detection: Detection) -> list[str]:
    name = detection.id.replace("-", "_")
    try:
        module = importlib.import_module(f"detections.{name}")
    except ImportError:
        return [f"{detection.id}: no file detections/{name}.py"]
    if getattr(module, "DETECTION", None) is not detection:
        return [f"{detection.id}: detections/{name}.py defines another DETECTION"]
    if Path(module.__file__ or "").name != f"{name}.py":
        return [f"{detection.id}: loaded from {module.__file__}, not {name}.py"]
    return []


def _query(detection: Detection, frame: pl.DataFrame) -> list[str]:
    text = detection.guide_query
    if text is None:
        return []
    problems = []
    if detection.id in _guide.QUERIES and text != _guide.QUERIES[detection.id]:
        problems.append(f"{detection.id}: guide query is not the guide's, verbatim")
    try:
        parse(text)
        cloudtrail_hunt.query(text, frame)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, not raised
        problems.append(f"{detection.id}: guide query fails: {type(exc).__name__}: {exc}")
    return problems


def _coverage(detection: Detection, cases: list[Case]) -> list[str]:
    mine = [c for c in cases if c.detection == detection.id]
    if not mine:
        return [f"{detection.id}: no case file tests/detect/cases/{detection.id}.yaml"]
    problems = []
    names = {s.name for s in detection.signals}
    for case in mine:
        if case.signal not in names:
            problems.append(f"{case.file}::{case.name}: unknown signal {case.signal!r}")
    for signal in detection.signals:
        if isinstance(signal, Computed):
            continue  # built from side inputs, not events: tested with its side-input fixtures
        about = [c for c in mine if c.signal == signal.name]
        if not any(c.fires for c in about):
            problems.append(f"{detection.id}/{signal.name}: no firing case")
        if all(c.fires for c in about):
            problems.append(f"{detection.id}/{signal.name}: no non-firing case")
    return problems


def lint(pack: list[Detection], cases: list[Case], cased: tuple[str, ...] = CASED) -> list[str]:
    """Every problem of the pack, as `<where>: <what>` lines."""
    problems = []
    ids = [d.id for d in pack]
    problems += [
        f"{i}: id defined {ids.count(i)} times" for i in sorted(set(ids)) if ids.count(i) > 1
    ]
    missing = sorted(set(cased) - set(ids))
    problems += [f"{i}: has a case file owner but is not in the registry" for i in missing]
    frame = _small_frame()
    for detection in pack:
        problems += _file(detection)
        problems += _metadata(detection)
        problems += _signals(detection)
        problems += _query(detection, frame)
        if detection.id in cased or any(c.detection == detection.id for c in cases):
            problems += _coverage(detection, cases)
    return problems


def test_pack_lint() -> None:
    problems = lint(registry.load(), load_cases())
    assert not problems, "pack lint:\n" + "\n".join(problems)


def test_pack_references_are_non_empty() -> None:
    empty = [d.id for d in registry.load() if not d.references]
    assert not empty, f"no references: {empty}"


def test_pack_lint_reports_every_problem_at_once() -> None:
    good = next(d for d in registry.load() if d.id == "aws-iam-07-permission-boundary")
    signal = good.signals[1]
    assert isinstance(signal, Signal)
    threshold = dataclasses.replace(signal.thresholds[0])
    object.__setattr__(threshold, "window", timedelta(0))  # what __post_init__ would refuse
    broken = dataclasses.replace(
        good,
        guide_query="fields @timestamp | filter (",
        compliance=(ComplianceRef("CIS AWS Foundations v9", "1.1"),),
        signals=(dataclasses.replace(signal, name="Burst_Roles", thresholds=(threshold,)),),
    )
    problems = lint([broken, broken], [], cased=(broken.id,))
    assert problems[0] == "aws-iam-07-permission-boundary: id defined 2 times"
    text = "\n".join(problems)
    for expected in (
        "defines another DETECTION",
        "unknown compliance framework",
        "Burst_Roles: signal name is not kebab-case",
        "window 0:00:00 is not positive",
        "guide query fails: QuerySyntaxError",
        "no case file",
    ):
        assert expected in text


def test_pack_lint_requires_a_non_firing_case_per_signal() -> None:
    detection = next(d for d in registry.load() if d.id == "aws-iam-04-iam-user-mfa")
    firing = [c for c in load_cases() if c.detection == detection.id and c.fires]
    problems = lint([detection], firing, cased=(detection.id,))
    assert problems == ["aws-iam-04-iam-user-mfa/iam-user-console-login-mfa-no: no non-firing case"]
