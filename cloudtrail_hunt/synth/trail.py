"""The record collector shared by routine traffic and scenarios, credential-use tracking, labels."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cloudtrail_hunt.synth.records import iso

__all__ = ["DAY", "Label", "ReportRun", "Trail"]

DAY = 86400


@dataclass(slots=True)
class Label:
    """One line of ``labels.jsonl``: a scenario, the guide line it exercises and its evidence.

    `tier` is the tier the guide assigns (None for a near-miss that must stay silent); `expect` is
    ``"fire"`` or ``"silent"``. `evidence` lists side-input files (relative to the output root)
    for signals that come from credential reports, Config or Access Analyzer rather than CloudTrail.
    """

    scenario: str
    control: str
    signal: str
    tier: str | None
    expect: str
    account: str
    principal: str
    description: str
    records: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    first: int | None = None
    last: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to labels.jsonl (times from the records unless set)."""
        times = [r["eventTime"] for r in self.records]
        first = iso(self.first) if self.first is not None else min(times, default=None)
        last = iso(self.last) if self.last is not None else max(times, default=None)
        return {
            "scenario": self.scenario,
            "control": self.control,
            "signal": self.signal,
            "tier": self.tier,
            "expect": self.expect,
            "account": self.account,
            "principal": self.principal,
            "event_ids": [r["eventID"] for r in self.records],
            "first_time": first,
            "last_time": last,
            "description": self.description,
            "evidence": self.evidence,
        }


@dataclass(frozen=True, slots=True)
class ReportRun:
    """A credential report generated at `t`, by the scheduled audit Lambda or ad hoc."""

    account: str
    t: int
    scheduled: bool
    principal: str
    event_id: str


class Trail:
    """Collects the records built one by one (routine traffic, scenarios) for the writer.

    Records are filed by ``(account, region, day index)``. Every IAM-user or root credential use is
    also noted, so the credential reports say exactly what the trail shows.
    """

    def __init__(self, start: int) -> None:
        self.start = start
        self.extras: dict[tuple[str, str, int], list[tuple[int, int, dict[str, Any]]]] = (
            defaultdict(list)
        )
        self._seq = 0
        #: access key id -> day -> (time, region, service) of the day's last use.
        self.key_use: dict[str, dict[int, tuple[int, str, str]]] = defaultdict(dict)
        #: (account, user name or "<root_account>") -> successful console sign-in times.
        self.logins: dict[tuple[str, str], list[int]] = defaultdict(list)
        #: Credential reports generated during the trail, in order of generation.
        self.reports: list[ReportRun] = []

    def add(self, t: int, rec: dict[str, Any]) -> dict[str, Any]:
        """File `rec` (whose eventTime is `t`) and note the credential it used; returns it."""
        day = (t - self.start) // DAY
        key = (rec["recipientAccountId"], rec["awsRegion"], day)
        self._seq += 1
        self.extras[key].append((t, self._seq, rec))
        ident = rec.get("userIdentity") or {}
        kind = ident.get("type")
        if kind in ("IAMUser", "Root") and ident.get("accountId") == rec["recipientAccountId"]:
            if rec["eventName"] == "ConsoleLogin":
                if (rec.get("responseElements") or {}).get("ConsoleLogin") == "Success":
                    name = (
                        ident.get("userName", "<root_account>")
                        if kind == "IAMUser"
                        else ("<root_account>")
                    )
                    self.logins[(ident["accountId"], name)].append(t)
            elif str(ident.get("accessKeyId", "")).startswith("AKIA"):
                service = rec["eventSource"].split(".", 1)[0]
                self.note_key(ident["accessKeyId"], t, rec["awsRegion"], service)
        return rec

    def note_key(self, key_id: str, t: int, region: str, service: str) -> None:
        """Record a use of a long-lived key (the bulk generator calls this directly)."""
        day = (t - self.start) // DAY
        days = self.key_use[key_id]
        prev = days.get(day)
        if prev is None or prev[0] <= t:
            days[day] = (t, region, service)

    def last_key_use(self, key_id: str, t: int) -> tuple[int, str, str] | None:
        """The last use of `key_id` at or before `t` seen in the trail."""
        best = None
        for use in self.key_use.get(key_id, {}).values():
            if use[0] <= t and (best is None or use[0] > best[0]):
                best = use
        return best

    def last_login(self, account: str, name: str, t: int) -> int | None:
        """The last successful console sign-in of a user at or before `t` seen in the trail."""
        times = [x for x in self.logins.get((account, name), ()) if x <= t]
        return max(times) if times else None

    def count(self) -> int:
        """Number of records collected."""
        return sum(len(v) for v in self.extras.values())
