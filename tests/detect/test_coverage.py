"""detections/README.md: the coverage table, generated from the pack, the guide and the tests.

Every log-signal and alert-threshold line of the guide (the synthetic trail's GUIDE table quotes
each one) maps to the signal that implements it and the tests that exercise it: YAML cases
(tests/detect/cases) and test functions that name the signal. The README is generated; this
test fails when it is stale (`CLOUDTRAIL_HUNT_UPDATE=1 pytest tests/detect/test_coverage.py`
rewrites it) or when a guide line has no signal or a signal has no firing and no silent test.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import yaml

from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.model import Computed, Signal
from cloudtrail_hunt.synth.scenarios.base import GUIDE
from tests.conftest import REPO

README = REPO / "detections" / "README.md"
CASES = Path(__file__).parent / "cases"
#: Guide lines that tune another signal rather than being a signal of their own.
TUNES = {"enable-mfa-5-minute-suppression": "iam-user-console-login-mfa-no"}
HEADER = """# The rule pack

One module per control of the AWS IAM hardening guide (`aws_iam_NN_*.py`), each defining a
`DETECTION` (see `cloudtrail_hunt/detect/model.py`). `_guide.py` holds the guide's own words
(initial responses, queries, compliance tables) verbatim.

## Gates: how a hunt stays one scan

The engine reads the lake once per hunt. A signal whose match is costly (JSON paths over
`requestParameters`, trust-policy parsing in Python, case-folded error messages) declares a
`gate`: a cheap necessary condition over plain columns, usually the event names it is about.
The scan keeps the rows that pass some gate and evaluates each match on those rows only; a
signal without a gate is its own gate. A `Computed` signal (baselines, dormancy, side-input
joins) that reads the lake declares its `gate` and the `columns` it reads, and then sees only
those rows and columns in `ctx.events` instead of scanning the lake itself. A gate must hold
wherever the match does: `tests/detect/test_gates.py` checks that on every case, the sample and
the corpus, and that the pack with and without gates finds the same things.

## Coverage

Every log-signal and alert-threshold line of the guide, the signal that implements it, its
tiers, and the tests that exercise it: YAML cases in `tests/detect/cases/` (each threshold has
a case at the boundary and one just outside it) and test functions in `tests/detect/` that name
the signal. `sample_logs/` adds one labelled scenario per firing and near-miss case
(`tests/detect/test_sample_hunt.py`).

"""


def _yaml_cases() -> dict[str, list[str]]:
    by_signal: dict[str, list[str]] = {}
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name, case in data["cases"].items():
            by_signal.setdefault(case["signal"], []).append(f"{path.stem}::{name}")
    return by_signal


def _test_functions() -> dict[str, list[str]]:
    by_signal: dict[str, list[str]] = {}
    # A test names a signal by its name, or a computed signal by its evaluate function.
    spellings = {}
    for detection in registry.load():
        for signal in detection.signals:
            words = [f"['\"]{re.escape(signal.name)}['\"]"]
            if isinstance(signal, Computed):
                words.append(rf"\b{re.escape(signal.evaluate.__name__)}\b")
            spellings[signal.name] = re.compile("|".join(words))
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path.name in {"test_coverage.py", "test_sample_hunt.py", "test_cases.py"}:
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^def (test_\w+)\(.*?(?=^def |\Z)", text, re.S | re.M):
            for name, spelling in spellings.items():
                if spelling.search(match[0]):
                    by_signal.setdefault(name, []).append(f"{path.stem}::{match[1]}")
    return by_signal


def render() -> str:
    cases, functions = _yaml_cases(), _test_functions()
    lines = [HEADER]
    for detection in registry.load():
        lines.append(f"### {detection.id}: {detection.title}\n")
        lines.append("| Guide line | Signal | Tiers | Tests |")
        lines.append("| --- | --- | --- | --- |")
        for signal in detection.signals:
            tiers = (
                [str(t.tier) for t in signal.thresholds]
                if isinstance(signal, Signal)
                else [str(t) for t in signal.tiers]
            )
            quote = GUIDE.get(signal.name, signal.guide or signal.description)
            tests = cases.get(signal.name, []) + functions.get(signal.name, [])
            shown = ", ".join(f"`{t}`" for t in tests[:6])
            more = f" and {len(tests) - 6} more" if len(tests) > 6 else ""
            lines.append(
                f"| {quote.replace('|', '/')} | `{signal.name}` | {', '.join(tiers)} "
                f"| {shown}{more} |"
            )
        tuned = [k for k, v in TUNES.items() if v in {s.name for s in detection.signals}]
        for name in tuned:
            tuning = f"tunes `{TUNES[name]}` (`unless_after`)"
            lines.append(f"| {GUIDE[name]} | {tuning} | | see above |")
        lines.append("")
    body = "\n".join(lines)
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return f"<!-- generated by tests/detect/test_coverage.py; do not edit; {digest} -->\n{body}"


def test_every_guide_line_has_a_signal() -> None:
    signals = {s.name for d in registry.load() for s in d.signals}
    missing = sorted(set(GUIDE) - signals - set(TUNES))
    assert not missing


def test_every_signal_has_tests() -> None:
    cases, functions = _yaml_cases(), _test_functions()
    untested = [
        s.name
        for d in registry.load()
        for s in d.signals
        if len(cases.get(s.name, []) + functions.get(s.name, [])) < 2
    ]
    assert not untested


def test_detections_readme_is_current() -> None:
    text = render()
    if os.environ.get("CLOUDTRAIL_HUNT_UPDATE"):
        README.write_text(text, encoding="utf-8")
    assert README.read_text(encoding="utf-8") == text, "regenerate with CLOUDTRAIL_HUNT_UPDATE=1"


def test_computed_signals_are_listed_with_their_tiers() -> None:
    text = README.read_text(encoding="utf-8")
    for detection in registry.load():
        for signal in detection.signals:
            if isinstance(signal, Computed):
                assert f"`{signal.name}` | {', '.join(map(str, signal.tiers))}" in text
