"""Golden detection cases: `tests/detect/cases/<detection-id>.yaml`, one test per case.

A case file names its `detection` and holds `cases`, each a mapping with:

* ``signal``: the signal the case is about (the pack lint checks every signal has a firing and
  a non-firing case);
* ``events``: partial CloudTrail records for `make_event` (dotted keys set nested fields; ``as``
  merges a named entry of the file's ``identities``; ``eventID`` defaults to ``<case>-<n>``);
* ``start`` / ``end``: the hunted range (defaults from the file's ``defaults``);
* ``site``: Site overrides, as in the ``[site]`` config table;
* ``allow``: allow-list entries, field → values, as a site's tuning adds them;
* ``expect``: every finding of the detection, in the engine's order (first_seen, signal, tier,
  principal): ``signal`` (defaults to the case's), ``tier``, ``count`` and optionally
  ``principal``, ``resource`` and ``evidence`` (event ids). An empty list means nothing fires.

The files are read with PyYAML's safe loader. Quote ``"No"``/``"Yes"`` and times, which YAML 1.1
would otherwise turn into booleans and dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.engine import Tuning
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.detect.site import site_from_table
from tests.conftest import make_event

CASES = Path(__file__).parent / "cases"

# ── Loading the cases ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Case:
    """One named case of a case file."""

    file: str
    name: str
    detection: str
    body: dict[str, Any]
    identities: dict[str, dict[str, Any]]
    defaults: dict[str, Any]

    @property
    def signal(self) -> str:
        """The signal the case is about."""
        return str(self.body["signal"])

    def get(self, key: str) -> Any:
        """A case key, falling back on the file's defaults."""
        return self.body.get(key, self.defaults.get(key))

    def events(self) -> list[dict[str, Any]]:
        """The case's events as complete CloudTrail records."""
        records = []
        for n, partial in enumerate(self.body.get("events") or []):
            fields = dict(self.defaults.get("event") or {})
            partial = dict(partial)
            if "as" in partial:
                fields.update(self.identities[partial.pop("as")])
            fields.update(partial)
            fields.setdefault("eventID", f"{self.name}-{n}")
            records.append(make_event(**fields))
        return records

    @property
    def fires(self) -> bool:
        """True when the case expects its own signal to produce a finding."""
        expect = self.body.get("expect") or []
        return any(e.get("signal", self.signal) == self.signal for e in expect)


_KNOWN = {"signal", "description", "events", "start", "end", "site", "allow", "expect"}


def load_cases(folder: Path = CASES) -> list[Case]:
    """Every case of every case file, in file order."""
    cases = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        detection = data["detection"]
        for name, body in data["cases"].items():
            unknown = set(body) - _KNOWN
            if unknown:
                msg = f"{path.name}::{name}: unknown keys {sorted(unknown)}"
                raise ValueError(msg)
            cases.append(
                Case(
                    path.name,
                    name,
                    detection,
                    body,
                    data.get("identities") or {},
                    data.get("defaults") or {},
                )
            )
    return cases


def _summary(row: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    out = {"signal": row["signal"], "tier": row["tier"], "count": row["count"]}
    if "principal" in keys:
        out["principal"] = row["principal"]
    if "resource" in keys:
        out["resource"] = row["resource"]
    if "evidence" in keys:
        out["evidence"] = [e["event_id"] for e in row["evidence"]]
    return out


def _when(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `case` with every case, as `<file>::<case>`."""
    if "case" in metafunc.fixturenames:
        cases = load_cases()
        metafunc.parametrize("case", cases, ids=[f"{c.file}::{c.name}" for c in cases])


def test_case(case: Case) -> None:
    pack = [d for d in registry.load() if d.id == case.detection]
    assert pack, f"no detection {case.detection!r} in the registry"
    site = site_from_table(case.get("site") or {}, case.file)
    allow = {k: frozenset(v) for k, v in (case.get("allow") or {}).items()}
    tuning = {case.detection: Tuning({}, allow)} if allow else None
    findings = hunt(
        case.events(),
        start=_when(case.get("start")),
        end=_when(case.get("end")),
        site=site,
        tuning=tuning,
        pack=pack,
    )
    expect = [{"signal": case.signal, **e} for e in case.body.get("expect") or []]
    got = [
        _summary(row, set(want))
        for row, want in zip(findings.to_dicts(), expect + [{}] * len(findings), strict=False)
    ]
    assert got == expect


def test_case_files_name_their_detection() -> None:
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["detection"] == path.stem
