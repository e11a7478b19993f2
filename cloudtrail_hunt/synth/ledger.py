"""The IT onboarding ledger (``side_inputs/onboarding-ledger.csv``) that control 03's calibration
checks console identities against.

It lists the IAM users IT set up with a console password before the trail starts: the
break-glass users and the legacy cohort (``legacy-*``), plus one planted hire who never signs
in. Console users made by hand (j.doe) or during the trail are not in it: their sign-ins show
as unknown.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cloudtrail_hunt.synth.identities import BREAK_GLASS_PREFIX, Org
from cloudtrail_hunt.synth.records import iso

__all__ = ["LEDGER", "NEVER_SEEN", "write_onboarding_ledger"]

LEDGER = Path("side_inputs") / "onboarding-ledger.csv"
#: The planted ledger entry with no console sign-in in the trail.
NEVER_SEEN = "m.rossi"


def write_onboarding_ledger(out: Path, org: Org) -> Path:
    """Write the ledger under `out` and return its path."""
    rows = [
        (user.account, user.name, iso(user.created)[:10], f"IT-{1000 + n}")
        for n, user in enumerate(sorted(org.users.values(), key=lambda u: (u.account, u.name)))
        if user.created < org.start
        and any(v for _, v in user.password.points)
        and user.name.startswith((BREAK_GLASS_PREFIX, "legacy-"))
    ]
    rows.append((org.members[0].id, NEVER_SEEN, iso(org.start)[:10], "IT-2001"))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("account", "user", "onboarded", "ticket"))
    writer.writerows(rows)
    path = out / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.getvalue(), encoding="utf-8")
    return path
