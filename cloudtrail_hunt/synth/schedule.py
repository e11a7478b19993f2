"""The run's calendar: baseline and hunt window, the weekly audit cadence and where it breaks."""

from __future__ import annotations

from dataclasses import dataclass

from cloudtrail_hunt.synth.identities import Org
from cloudtrail_hunt.synth.trail import DAY

__all__ = ["HUNT_DAYS", "MIN_DAYS", "Schedule"]

#: The last five days are the hunt window; everything before is baseline.
HUNT_DAYS = 5
#: Scenarios need three weeks of history before the hunt window (weekly digests, audit gap).
MIN_DAYS = 28
AUDIT_HOUR = 5  # the audit Lambda's EventBridge schedule fires at 05:00 UTC


@dataclass(frozen=True, slots=True)
class Schedule:
    """Day indices (0 = first day of the trail) shared by routine traffic, scenarios and reports.

    Attributes
    ----------
    hunt
        First day of the hunt window.
    run_day
        ``hunt + 1``: the day of the scheduled audit run inside the hunt window. The weekly
        cadence is aligned on it, so the run before it is ``run_day - 7``.
    audit_stop
        Account whose audit Lambda stops (None without scenarios), and `audit_last` the day of
        its last run: ``run_day - 14``, so the gap passes 14 days on ``run_day`` (aws-iam-10).
    throttled
        ``(account, day)`` of the audit run that fails with Throttling / ServiceFailure first.
    """

    start: int
    days: int
    hunt: int
    run_day: int
    audit_stop: str | None
    audit_last: int | None
    throttled: tuple[str, int] | None

    @classmethod
    def plan(cls, org: Org, start: int, days: int, scenarios: bool) -> Schedule:
        """The schedule of a run; without scenarios the audit cadence never breaks."""
        hunt = max(days - HUNT_DAYS, 0)
        run_day = hunt + 1
        if not scenarios:
            return cls(start, days, hunt, run_day, None, None, None)
        return cls(
            start,
            days,
            hunt,
            run_day,
            org.management.id,
            run_day - 14,
            (org.accounts[2].id, run_day),
        )

    def t(self, day: int, hh: int = 0, mm: int = 0, ss: int = 0) -> int:
        """Epoch second of `day` (index) at hh:mm:ss UTC."""
        return self.start + day * DAY + hh * 3600 + mm * 60 + ss

    def audit_days(self, account: str | None = None) -> list[int]:
        """Days the audit Lambda is scheduled in `account` (all of them when None)."""
        first = self.run_day % 7
        runs = list(range(first, self.days, 7))
        if account is not None and account == self.audit_stop and self.audit_last is not None:
            runs = [d for d in runs if d <= self.audit_last]
        return runs

    def audit_time(self, account_index: int, day: int) -> int:
        """When the audit Lambda calls GenerateCredentialReport (a few seconds per account)."""
        return self.t(day, AUDIT_HOUR, 0, 7 + 3 * account_index)
