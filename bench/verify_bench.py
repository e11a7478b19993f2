"""Verify benchmark: `cloudtrail-hunt verify` against just reading and hashing the same log files.

Usage: ``uv run python bench/verify_bench.py [--events 1000000] [--rounds 3]``

The trail is the ingest benchmark's (`ingest_bench.generate`: 20 accounts, 4 regions, 30 days,
generated once into ``bench/out/``), whose synth now delivers a signed digest for every log file.
Contenders, each its own process, in interleaved rounds (the machines are shared and noisy):

* ``read+sha256``: read every log file and SHA-256 its bytes as stored (the anchor);
* ``read+gunzip+sha256``: read, inflate and SHA-256 the uncompressed content, which is what
  CloudTrail's digests record, so the least work any check of them must do;
* ``verify``: the whole command (listing, digests, signatures, chain, every file), ``--json``.

Anchors and ``verify (work)`` time their work after their imports; ``verify (CLI)`` is the
wall time of the whole command, interpreter start and imports included. Prints the medians and
the ratios of both ``verify`` figures to both anchors.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ingest_bench import generate  # noqa: E402

_ANCHOR = r"""
import hashlib, json, sys, time
from pathlib import Path
from isal import isal_zlib
started = time.perf_counter()
inflate = sys.argv[2] == "inflate"
n = 0
for path in sorted(Path(sys.argv[1]).glob("AWSLogs/*/*/CloudTrail/*/*/*/*/*.json.gz")):
    data = path.read_bytes()
    if inflate:
        data = isal_zlib.decompress(data, wbits=31)
    hashlib.sha256(data).hexdigest()
    n += 1
print(json.dumps({"seconds": time.perf_counter() - started, "files": n}))
"""

# The same work as `cloudtrail-hunt verify TRAIL`, timed after the imports (the CLI's import
# time, about 1 s of CPU, is the same for every command and is timed by the process wall).
_VERIFY = r"""
import json, sys, time
from cloudtrail_hunt.custody import load_public_keys, load_signatures, verify_source
from cloudtrail_hunt.ingest.sources import open_source
started = time.perf_counter()
root = sys.argv[1]
report = verify_source(
    open_source(root),
    load_public_keys([root + "/side_inputs/cloudtrail-public-keys.json"]),
    signatures=load_signatures([root + "/side_inputs/cloudtrail-digest-signatures.json"]),
)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "ok": report.ok, "files": len(report.files)}))
"""


def _timed(cmd: list[str]) -> tuple[float, float, str]:
    """Run `cmd`; return its wall and CPU time (interpreter start included) and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode not in (0, 1):
        msg = f"{cmd[:4]} failed ({done.returncode}): {done.stderr[-2000:]}"
        raise RuntimeError(msg)
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trail, events = generate(args.events)
    if not any(trail.glob("AWSLogs/*/*/CloudTrail-Digest")):
        msg = f"{trail} has no digests (made before synth signed them); delete it and rerun"
        raise SystemExit(msg)
    files = len(list(trail.glob("AWSLogs/*/*/CloudTrail/*/*/*/*/*.json.gz")))
    contenders = {
        "read+sha256": [sys.executable, "-c", _ANCHOR, str(trail), "raw"],
        "read+gunzip+sha256": [sys.executable, "-c", _ANCHOR, str(trail), "inflate"],
        "verify (work)": [sys.executable, "-c", _VERIFY, str(trail)],
        "verify (CLI)": [sys.executable, "-m", "cloudtrail_hunt", "verify", str(trail), "--json"],
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, cmd in contenders.items():
            wall, cpu, out = _timed(cmd)
            cpus[name].append(cpu)
            result = json.loads(out)
            # In-process work time where the contender reports it; the CLI's wall otherwise.
            times[name].append(result.get("seconds", wall))
            if name.startswith("verify") and result["ok"] is not True:
                msg = f"verify did not find the trail valid: {out[:500]}"
                raise SystemExit(msg)
    size = sum(p.stat().st_size for p in trail.glob("AWSLogs/*/*/CloudTrail/*/*/*/*/*.json.gz"))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{events:,} events in {files:,} log files ({size / 1e6:,.1f} MB gzipped)")
    for name, median in medians.items():
        cpu = statistics.median(cpus[name])
        print(
            f"  {name:<20} median {median:6.2f} s  ({files / median:,.0f} files/s), "
            f"process CPU {cpu:6.2f} s"
        )
    for name in ("verify (work)", "verify (CLI)"):
        for anchor in ("read+sha256", "read+gunzip+sha256"):
            print(f"  {name} / {anchor:<20} {medians[name] / medians[anchor]:.2f}")


if __name__ == "__main__":
    main()
