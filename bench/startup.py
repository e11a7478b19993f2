"""Start-up: per command, the time to its first work, next to `python -c "import polars"`.

"First work" is the first thing a command does with its input, after every import it needs:
each command is run on an input that does not exist (or, for those that take none, run
whole, as they are quick), so the process ends right where the work would start: ingest,
query, hunt, quarantine and compact have loaded their modules (and hunt its rule pack) and
checked the source; `detections` lists the rule pack; `cache list` lists an empty cache.
`--help` and `--version` must not import Polars at all (checked here too).

Each command and the anchor run as their own process, interleaved over the rounds, in one batch;
the report gives medians and the difference to the anchor (issue 12's target: at most +0.15 s).

    uv run python bench/startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANCHOR = ("import polars", [sys.executable, "-c", "import polars"])


def commands(tmp: Path) -> dict[str, list[str]]:
    """Each command, on an input that stops it where its work would begin."""
    nope = str(tmp / "nope")
    return {
        "--help": ["--help"],
        "--version": ["--version"],
        "ingest": ["ingest", nope, str(tmp / "lake")],
        "query": ["query", nope, "fields @timestamp"],
        "hunt": ["hunt", nope],
        "quarantine": ["quarantine", nope],
        "compact": ["compact", nope],
        "detections": ["detections", "--json"],
        "cache list": ["cache", "list"],
    }


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=REPO, capture_output=True, check=False)
    return time.perf_counter() - start


def _imports_polars(args: list[str], env: dict[str, str]) -> bool:
    probe = (
        "import sys; from cloudtrail_hunt.cli import main; code = main(sys.argv[1:]); "
        "print('polars' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], env=env, cwd=REPO, capture_output=True, text=True
    )
    return done.stdout.strip().endswith("True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = {**os.environ, "PYTHONPATH": str(REPO), "CLOUDTRAIL_HUNT_CACHE": str(tmp / "cache")}
        runs = {ANCHOR[0]: ANCHOR[1]} | {
            name: [sys.executable, "-m", "cloudtrail_hunt", *args]
            for name, args in commands(tmp).items()
        }
        for argv in runs.values():  # warm the file cache once
            _time(argv, env)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(options.rounds):
            for name, argv in runs.items():
                times[name].append(_time(argv, env))
        anchor = statistics.median(times[ANCHOR[0]])
        print(f"{'command':<22}{'median s':>10}{'vs import polars':>18}  polars imported")
        for name, values in times.items():
            median = statistics.median(values)
            loads = "" if name == ANCHOR[0] else str(_imports_polars(runs[name][3:], env))
            print(f"{name:<22}{median:>10.3f}{median - anchor:>+18.3f}  {loads}")
        print(f"({options.rounds} rounds, interleaved; anchor {anchor:.3f} s)")


if __name__ == "__main__":
    main()
