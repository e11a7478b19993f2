"""Tuning benchmark: a 10-setting backtest of one signal vs one hunt of that signal, 30 days.

Usage: ``uv run python bench/tune_bench.py [--events 5000000] [--matches 20000] [--rounds 3]``

The lake is the ingest benchmark's trail of `events` (20 accounts, 4 regions, 30 days, benign)
plus `matches` unbounded CreateRole calls by 400 principals in bursts of 1 to 6 (a benign trail
matches no signal, and a backtest's cost beyond the scan is the windowing of the matches). The
anchor is ``hunt(detections=[aws-iam-07])`` restricted to the signal, over the same 30 days; the
contender is ``backtest`` with a grid of 10 settings (count 2..6 x window 30m, 1h). Each runs as
its own process, in interleaved rounds (the 2-core machine is shared); prints medians, peak
memory and the ratio backtest / hunt (target: at most 2).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.detect_bench import measure  # noqa: E402

OUT = HERE / "out"
SIGNAL = "aws-iam-07-permission-boundary/create-role-without-boundary-burst"
ACCOUNT = "123456789012"

COMMON = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from dataclasses import replace
from datetime import datetime, timedelta, UTC
from cloudtrail_hunt.lake import Lake
lake, signal = sys.argv[1], sys.argv[3]
last = Lake.open(lake).latest_event()  # the last day partition alone
end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
start = end - timedelta(days=30)
"""

HUNT = (
    COMMON
    + r"""
import polars as pl
from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.tune.backtest import resolve_signal
detection, sig = resolve_signal(signal)
alone = replace(detection, signals=(sig,))  # one hunt of that signal
found = hunt(lake, start=start, end=end, pack=[alone])
print(found.height)
"""
)

BACKTEST = (
    COMMON
    + r"""
from cloudtrail_hunt.tune.backtest import backtest
result = backtest(lake, signal, ["count=2..6", "window=30m,1h"], start=start, end=end)
assert len(result.settings) == 10, len(result.settings)
print(result.summary.filter(result.summary["current"])["alerts"].item())
"""
)


def _create_role(when: datetime, who: str, n: int) -> dict[str, object]:
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{who}"
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "arn": session, "accountId": ACCOUNT},
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateRole",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.9",
        "userAgent": "Boto3/1.35",
        "requestParameters": {"roleName": f"bench-{n}", "assumeRolePolicyDocument": "{}"},
        "responseElements": None,
        "requestID": f"00000000-0000-4000-8000-{n:012d}",
        "eventID": f"10000000-0000-4000-8000-{n:012d}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def _noise(folder: Path, matches: int, start: datetime, days: int) -> None:
    """`matches` unbounded CreateRoles by 400 principals in bursts, one object per day."""
    rng = random.Random(13)
    by_day: dict[int, list[dict[str, object]]] = {}
    n = 0
    while n < matches:
        day, who = rng.randrange(days), f"dev-{rng.randrange(400)}"
        at = start + timedelta(days=day, seconds=rng.randrange(86_000))
        for _ in range(min(rng.randint(1, 6), matches - n)):
            by_day.setdefault(day, []).append(_create_role(at, who, n))
            at += timedelta(minutes=rng.randint(1, 25))
            n += 1
    for day, records in by_day.items():
        when = start + timedelta(days=day)
        path = (
            folder / f"AWSLogs/o-bench00001/{ACCOUNT}/CloudTrail/us-east-1/{when:%Y/%m/%d}"
            f"/{ACCOUNT}_CloudTrail_us-east-1_{when:%Y%m%d}T2359Z_bench{day:04d}.json.gz"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        records.sort(key=lambda r: str(r["eventTime"]))
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))


def prepare(events: int, matches: int) -> Path:
    """The benchmark trail of `events` plus the CreateRole noise, ingested (once, cached)."""
    from bench.query_bench import prepare as prepare_lake

    def noise() -> list[Path]:
        folder = OUT / f"tune-noise-{matches}"
        shutil.rmtree(folder, ignore_errors=True)
        _noise(folder, matches, datetime(2026, 10, 1, tzinfo=UTC), 30)
        return [folder]

    return prepare_lake(events, name=f"tune-lake-{events}-{matches}", extra=noise)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--matches", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lake = prepare(args.events, args.matches)
    runs = {"hunt": HUNT, "backtest": BACKTEST}
    results: dict[str, list[tuple[float, int]]] = {}
    outputs: dict[str, str] = {}
    for rnd in range(args.rounds):
        for name, code in runs.items():
            cmd = [sys.executable, "-c", code, str(lake), str(HERE.parent), SIGNAL]
            wall, peak, out = measure(cmd)
            results.setdefault(name, []).append((wall, peak))
            outputs[name] = out.strip()
            print(f"round {rnd + 1} {name:8s} {wall:7.2f} s {peak / 2**20:7.0f} MiB", flush=True)
    # The backtest's current setting fires what the hunt fires: same work, same answer.
    assert outputs["hunt"] == outputs["backtest"], outputs
    hunt_t = statistics.median(t for t, _ in results["hunt"])
    back_t = statistics.median(t for t, _ in results["backtest"])
    hunt_m = statistics.median(m for _, m in results["hunt"])
    back_m = statistics.median(m for _, m in results["backtest"])
    print(
        f"\n{args.events:,} events + {args.matches:,} matches, {outputs['hunt']} findings: "
        f"hunt {hunt_t:.2f} s ({hunt_m / 2**20:.0f} MiB), 10-setting backtest {back_t:.2f} s "
        f"({back_m / 2**20:.0f} MiB), ratio {back_t / hunt_t:.2f} (target <= 2)"
    )


if __name__ == "__main__":
    main()
