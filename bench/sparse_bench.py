"""Acceptance 4: a one-day hunt on a sparse one-year lake vs the same hunt on a lake of that day.

Usage: ``uv run python bench/sparse_bench.py [--events-per-day 20] [--rounds 5]``

Generates (once, cached) a synthetic trail of 365 days, ingests it whole into one lake and only
the days the hunt of its last day reads (that day and the history window before it: the longest
baseline or lookback of the rule pack, 97 days) into another,
then times the same hunt of the last day on both, interleaved, in this process. Prints medians
and the ratio year/day (target <= 1.2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
OUT = HERE / "out"

import cloudtrail_hunt as ch  # noqa: E402
from cloudtrail_hunt.detect.hunt import hunt  # noqa: E402

FIRST = date(2025, 10, 1)
DAYS = 365


def prepare(per_day: int) -> tuple[Path, Path]:
    """The trail, its whole-year lake and its last-31-days lake (cached)."""
    from cloudtrail_hunt.synth import generate_org_trail

    base = OUT / f"sparse-{per_day}-v2"
    marker = base / ".done.json"
    if marker.is_file():
        return base / "year", base / "day"
    shutil.rmtree(base, ignore_errors=True)
    trail = base / "trail"
    result = generate_org_trail(
        trail,
        seed=5,
        start=FIRST,
        days=DAYS,
        accounts=3,
        regions=("us-east-1", "eu-west-1"),
        events_per_day=per_day,
        files_per_day=2,
        scenarios=False,
    )
    from cloudtrail_hunt.detect import registry
    from cloudtrail_hunt.detect.hunt import BASELINE
    from cloudtrail_hunt.detect.model import Computed

    pack = registry.load()
    history = max(
        [BASELINE] + [s.lookback for d in pack for s in d.signals if isinstance(s, Computed)]
    )
    last = FIRST + timedelta(days=DAYS - 1)
    ch.ingest(trail, base / "year")
    # Delivery runs minutes behind event time: one more day either side.
    window = (last - history - timedelta(days=1), last + timedelta(days=1))
    ch.ingest(trail, base / "day", start=window[0], end=window[1])
    marker.write_text(json.dumps({"events": result.events}))
    return base / "year", base / "day"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-day", type=int, default=20, help="per account and region")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    year, day = prepare(args.events_per_day)
    last = ch.Lake.open(year).latest_event()
    start = datetime(last.year, last.month, last.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    lakes = {"year": ch.Lake.open(year).pinned(), "day": ch.Lake.open(day).pinned()}
    for name, lake in lakes.items():
        rows = lake.scan().select("day").collect()
        print(f"{name}: {rows.height:,} events over {rows['day'].n_unique()} days", flush=True)
    found = {name: hunt(lake, start=start, end=end) for name, lake in lakes.items()}
    same = found["year"].drop("lake_version").equals(found["day"].drop("lake_version"))
    times: dict[str, list[float]] = {name: [] for name in lakes}
    for _ in range(args.rounds):
        for name, lake in lakes.items():
            began = time.perf_counter()
            hunt(lake, start=start, end=end)
            times[name].append(time.perf_counter() - began)
    year_s, day_s = statistics.median(times["year"]), statistics.median(times["day"])
    print(
        f"one-day hunt of {start:%Y-%m-%d}: year lake {year_s:.3f} s, day lake {day_s:.3f} s, "
        f"ratio {year_s / day_s:.2f} (target <= 1.2); findings: year {found['year'].height}, "
        f"day {found['day'].height}, {'the same' if same else 'DIFFERENT'}"
    )


if __name__ == "__main__":
    main()
