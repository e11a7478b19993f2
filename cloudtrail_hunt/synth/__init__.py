"""Deterministic generator of an AWS Organizations CloudTrail trail with labelled attack scenarios.

`generate_org_trail` writes, under one output folder:

* ``AWSLogs/o-…/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz``: the org-trail log files
  (benign background, routine activity and the scenarios' records), plus a few
  ``CloudTrail-Digest`` files and the ``CloudTrail-Insight`` events;
* ``labels.jsonl``: one line per scenario (control, signal, expected tier, eventIDs, evidence);
* ``side_inputs/``: credential reports, Access Analyzer findings, Config evaluations, org.json,
  and the audit Lambda's log events (``lambda-logs/``).

Same arguments, same bytes: every random draw comes from streams seeded by `seed`, gzip headers
carry no time, and nothing reads the clock.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cloudtrail_hunt.synth.credential_reports import derive_labels, reports
from cloudtrail_hunt.synth.identities import ALLOWED_REGIONS, build_org
from cloudtrail_hunt.synth.lambda_logs import write_audit_lambda_logs
from cloudtrail_hunt.synth.ledger import write_onboarding_ledger
from cloudtrail_hunt.synth.records import epoch
from cloudtrail_hunt.synth.routine import routine
from cloudtrail_hunt.synth.scenarios import plant_all, run_all
from cloudtrail_hunt.synth.schedule import MIN_DAYS, Schedule
from cloudtrail_hunt.synth.side_inputs import write_side_inputs
from cloudtrail_hunt.synth.trail import Trail
from cloudtrail_hunt.synth.writer import write_trail

__all__ = ["SynthResult", "generate_org_trail"]

_SPARE_REGIONS = ("us-west-2", "ap-southeast-2", "sa-east-1", "ca-central-1")
#: What a previous run leaves in the output folder (removed first, so reruns are identical).
_OUTPUTS = ("AWSLogs", "side_inputs", "labels.jsonl")


@dataclass(frozen=True, slots=True)
class SynthResult:
    """Summary of one generation.

    Attributes
    ----------
    out
        The output folder.
    objects
        Number of ``.json.gz`` objects written under ``AWSLogs/`` (log, digest, Insights files).
    events
        Number of CloudTrail event records in the log files (Insights events not included).
    scenarios
        The ``scenario`` names of labels.jsonl, in file order.
    """

    out: Path
    objects: int
    events: int
    scenarios: list[str]


def generate_org_trail(
    out: str | Path,
    *,
    seed: int = 7,
    start: date = date(2026, 10, 1),
    days: int = 35,
    accounts: int = 3,
    regions: Sequence[str] = ("us-east-1", "eu-west-1"),
    events_per_day: int = 100,
    files_per_day: int = 8,
    scenarios: bool = True,
) -> SynthResult:
    """Generate an organisation trail, its labels and side inputs under `out`.

    Parameters
    ----------
    out
        Output folder (created if needed; earlier ``AWSLogs/``, ``side_inputs/`` and
        ``labels.jsonl`` in it are replaced, anything else is left alone).
    seed
        Seed of every random draw.
    start
        First day of the trail (UTC).
    days
        Number of days; the last five are the hunt window, the rest is baseline.
    accounts
        Number of accounts; the first is the management account, the second's id has a leading
        zero.
    regions
        Regions with background traffic. Global services (IAM, sign-in, Organizations) are
        logged in us-east-1 whatever this says.
    events_per_day
        Background records per account, region and day (routine activity included).
    files_per_day
        Delivery slices per day (288 = one file every 5 minutes, like CloudTrail).
    scenarios
        Plant the labelled scenarios (needs at least 3 accounts and 28 days).

    Returns
    -------
    SynthResult
        Output folder, object and event counts, scenario names.

    Raises
    ------
    ValueError
        For arguments the generator cannot honour.
    """
    if not 1 <= files_per_day <= 1440:
        msg = f"files_per_day must be between 1 and 1440, got {files_per_day}"
        raise ValueError(msg)
    if accounts < 1 or days < 1 or events_per_day < 0 or not regions:
        msg = "accounts and days must be positive, events_per_day >= 0, regions non-empty"
        raise ValueError(msg)
    if scenarios and (accounts < 3 or days < MIN_DAYS):
        msg = f"scenarios need at least 3 accounts and {MIN_DAYS} days"
        raise ValueError(msg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in _OUTPUTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    regions = sorted(set(regions))
    t0 = epoch(start)
    org = build_org(seed, accounts, t0, days)
    sched = Schedule.plan(org, t0, days, scenarios)
    trail = Trail(t0)
    spare = next(r for r in _SPARE_REGIONS if r not in regions and r not in ALLOWED_REGIONS)
    ctx = plant_all(org, sched, trail, seed, spare) if scenarios else None
    routine_labels = routine(org, sched, trail, seed, spare, noisy=scenarios)
    routine_counts = {key: len(v) for key, v in trail.extras.items()}
    if ctx is not None:
        run_all(ctx)
    stats = write_trail(
        out,
        org,
        sched,
        trail,
        seed=seed,
        regions=regions,
        events_per_day=events_per_day,
        files_per_day=files_per_day,
        routine_counts=routine_counts,
        insights=ctx.insights if ctx is not None else [],
    )
    reps = reports(org, trail)
    labels = list(ctx.labels) if ctx is not None else []
    labels += routine_labels
    labels += write_side_inputs(out, org, sched, reps, ctx.findings if ctx else [], seed)
    write_audit_lambda_logs(out, reps)
    write_onboarding_ledger(out, org)
    labels += derive_labels(org, reps)
    with (out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for lab in labels:
            fh.write(json.dumps(lab.to_json(), ensure_ascii=False) + "\n")
    return SynthResult(out, stats.objects, stats.events, [lab.scenario for lab in labels])
