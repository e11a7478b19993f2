"""Ingest benchmark: our ingest, the DuckDB anchor and the gzip+JSON floor on the same files.

After each run of our ingest it also counts the lake's data files, compacts it
(`cloudtrail-hunt compact`, timed) and counts them again.

Usage: ``uv run python bench/ingest_bench.py [--events 1000000] [--rounds 3]``

Each contender runs as its own process, in interleaved rounds (the machines are shared and
noisy, so ratios within a round mean more than seconds). Peak memory is the highest sum of the
resident set of the process and all its children, sampled every 20 ms. Prints medians and the
ratios against the DuckDB anchor (reference/performance.md describes the anchor and the floor).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

# Both DuckDB contenders read the records with this explicit schema (its `json_transform`).
_DUCKDB_PRELUDE = r"""
import sys, duckdb
src, dst = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET preserve_insertion_order=false")
record = '''{"eventVersion":"VARCHAR","eventTime":"VARCHAR","eventSource":"VARCHAR","eventName":"VARCHAR",
"awsRegion":"VARCHAR","sourceIPAddress":"VARCHAR","userAgent":"VARCHAR","errorCode":"VARCHAR",
"errorMessage":"VARCHAR","requestID":"VARCHAR","eventID":"VARCHAR","eventType":"VARCHAR",
"readOnly":"BOOLEAN","managementEvent":"BOOLEAN","recipientAccountId":"VARCHAR","eventCategory":"VARCHAR",
"userIdentity":{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR",
"accessKeyId":"VARCHAR","userName":"VARCHAR","invokedBy":"VARCHAR",
"sessionContext":{"sessionIssuer":{"type":"VARCHAR","arn":"VARCHAR","userName":"VARCHAR","accountId":"VARCHAR"},
"attributes":{"creationDate":"VARCHAR","mfaAuthenticated":"VARCHAR"}}},
"requestParameters":"JSON","responseElements":"JSON","additionalEventData":"JSON","resources":"JSON",
"tlsDetails":"JSON","serviceEventDetails":"JSON"}'''
"""

# The anchor: DuckDB at its best (reference/performance.md): read_json_objects over the glob,
# json_transform with an explicit {"Records": [...]} schema, unnest, flatten userIdentity,
# variable parts as JSON text, COPY to zstd Parquet.
DUCKDB_ANCHOR = (
    _DUCKDB_PRELUDE
    + r"""
con.execute(f'''
COPY (
  WITH f AS (
    SELECT unnest(json_transform(json, '{{"Records":[{record}]}}').Records) AS r
    FROM read_json_objects('{src}/AWSLogs/*/*/CloudTrail/*/*/*/*/*.json.gz', format='auto')
  )
  SELECT CAST(r.eventTime AS TIMESTAMPTZ) AS eventTime, r.eventVersion, r.eventSource, r.eventName,
         r.awsRegion, r.sourceIPAddress, r.userAgent, r.errorCode, r.errorMessage, r.requestID,
         r.eventID, r.eventType, r.readOnly, r.managementEvent, r.recipientAccountId, r.eventCategory,
         r.userIdentity.type AS ui_type, r.userIdentity.principalId AS ui_principal,
         r.userIdentity.arn AS ui_arn, r.userIdentity.accountId AS ui_account,
         r.userIdentity.accessKeyId AS ui_key, r.userIdentity.userName AS ui_user,
         r.userIdentity.invokedBy AS ui_invoked_by,
         r.userIdentity.sessionContext.sessionIssuer.arn AS issuer_arn,
         r.userIdentity.sessionContext.attributes.mfaAuthenticated AS mfa,
         CAST(r.requestParameters AS VARCHAR) AS requestParameters,
         CAST(r.responseElements AS VARCHAR) AS responseElements,
         CAST(r.additionalEventData AS VARCHAR) AS additionalEventData,
         CAST(r.resources AS VARCHAR) AS resources, CAST(r.tlsDetails AS VARCHAR) AS tlsDetails,
         CAST(r.serviceEventDetails AS VARCHAR) AS serviceEventDetails
  FROM f
) TO '{dst}/events.parquet' (FORMAT parquet, COMPRESSION zstd)
''')
"""
)

# DuckDB doing the job our ingest does: the same typed columns plus the record's JSON text and
# Hive partitions by account, region and day (the anchor above writes one unpartitioned file and
# drops what its schema does not name). Not the target, but the like-for-like comparison.
DUCKDB_SAME_OUTPUT = (
    _DUCKDB_PRELUDE
    + r"""
con.execute(f'''
COPY (
  WITH f AS (
    SELECT unnest(CAST(json->'Records' AS JSON[])) AS msg
    FROM read_json_objects('{src}/AWSLogs/*/*/CloudTrail/*/*/*/*/*.json.gz', format='auto')
  ), t AS (SELECT msg, json_transform(msg, '{record}') AS r FROM f)
  SELECT CAST(r.eventTime AS TIMESTAMPTZ) AS eventTime, r.eventVersion, r.eventSource, r.eventName,
         r.awsRegion, r.sourceIPAddress, r.userAgent, r.errorCode, r.errorMessage, r.requestID,
         r.eventID, r.eventType, r.readOnly, r.managementEvent, r.recipientAccountId, r.eventCategory,
         r.userIdentity.type AS ui_type, r.userIdentity.arn AS ui_arn,
         r.userIdentity.sessionContext.sessionIssuer.arn AS issuer_arn,
         CAST(r.requestParameters AS VARCHAR) AS requestParameters,
         CAST(r.responseElements AS VARCHAR) AS responseElements,
         CAST(r.additionalEventData AS VARCHAR) AS additionalEventData,
         CAST(r.resources AS VARCHAR) AS resources,
         CAST(msg AS VARCHAR) AS message,
         r.recipientAccountId AS account, r.awsRegion AS region,
         CAST(CAST(r.eventTime AS TIMESTAMPTZ) AS DATE) AS day
  FROM t
) TO '{dst}/events' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day))
''')
"""
)

# The floor: inflate and parse every record with orjson, in one process, and keep nothing.
FLOOR = r"""
import sys, gzip, orjson
from pathlib import Path
n = 0
for p in sorted(Path(sys.argv[1]).rglob("*_CloudTrail_*.json.gz")):
    n += len(orjson.loads(gzip.decompress(p.read_bytes()))["Records"])
print(n)
"""

# Data files of the lake's `events` table (live in its latest Delta version).
FILES = r"""
import sys
from deltalake import DeltaTable
print(len(DeltaTable(sys.argv[1]).file_uris()))
"""


def measure(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int, str]:
    """Run `cmd` in `cwd`; return wall and CPU seconds, peak RSS of its process tree, stdout.

    CPU is user+sys of the whole tree (workers included): steadier than wall on a busy machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    pipe = subprocess.PIPE
    proc = subprocess.Popen(cmd, stdout=pipe, stderr=pipe, text=True, cwd=cwd)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [ps, *ps.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode != 0:
        msg = f"{cmd[:4]} failed ({proc.returncode}): {err[-2000:]}"
        raise RuntimeError(msg)
    return wall, cpu, peak, out


def generate(events: int) -> tuple[Path, int]:
    """Generate (once, cached) a synthetic org trail of about `events` events."""
    from cloudtrail_hunt.synth import generate_org_trail

    target = OUT / f"trail-{events}"
    marker = target / ".done.json"
    if marker.is_file():
        return target, json.loads(marker.read_text())["events"]
    shutil.rmtree(target, ignore_errors=True)
    # The shape of reference/performance.md: 20 accounts, 4 regions, 30 days, about 150
    # records per delivered object.
    accounts, regions, days = 20, ("us-east-1", "eu-west-1", "eu-central-1", "us-west-2"), 30
    per_day = max(1, events // (accounts * len(regions) * days))
    result = generate_org_trail(
        target,
        seed=11,
        days=days,
        accounts=accounts,
        regions=regions,
        events_per_day=per_day,
        files_per_day=max(1, per_day // 150),
        scenarios=False,
    )
    marker.write_text(json.dumps({"events": result.events, "objects": result.objects}))
    return target, result.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run the ingest of another checkout of the project (its root folder), "
        "interleaved with this one, for before/after figures from the same rounds",
    )
    args = parser.parse_args()
    trail, events = generate(args.events)
    size = sum(p.stat().st_size for p in trail.rglob("*.json.gz"))
    print(f"trail: {events:,} events, {size / 1e6:,.0f} MB gz, {trail}", flush=True)
    ingest = [sys.executable, "-m", "cloudtrail_hunt", "ingest", str(trail)]
    contenders = {
        "cloudtrail-hunt ingest": lambda d: [*ingest, str(d / "lake"), "--json"],
        **(
            {"baseline ingest": lambda d: [*ingest, str(d / "lake"), "--json"]}
            if args.baseline is not None
            else {}
        ),
        "duckdb anchor": lambda d: [sys.executable, "-c", DUCKDB_ANCHOR, str(trail), str(d)],
        "duckdb, same output": lambda d: [
            sys.executable,
            "-c",
            DUCKDB_SAME_OUTPUT,
            str(trail),
            str(d),
        ],
        "floor (1 process)": lambda d: [sys.executable, "-c", FLOOR, str(trail)],
    }
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in contenders}
    compactions: list[tuple[int, int, float]] = []
    for rnd in range(args.rounds):
        for name, cmd in contenders.items():
            work = OUT / "run"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            # `python -m` imports the package from the working folder first.
            cwd = args.baseline if name == "baseline ingest" else None
            try:
                wall, cpu, peak, out = measure(cmd(work), cwd)
            except RuntimeError as exc:
                if name.endswith("ingest"):
                    raise
                # DuckDB has crashed here (SIGSEGV) on the same-output query; keep the rest.
                print(f"round {rnd + 1} {name:24s} failed: {str(exc)[-200:]}", flush=True)
                continue
            if name.endswith("ingest"):
                assert json.loads(out)["records"] == events, out
            if name == "cloudtrail-hunt ingest":
                compactions.append(_compaction(work))
            results[name].append((wall, cpu, peak))
            print(
                f"round {rnd + 1} {name:24s} {wall:7.2f} s {cpu:7.2f} cpu s "
                f"{peak / 2**20:8.0f} MiB",
                flush=True,
            )
    median = {
        name: tuple(statistics.median(run[i] for run in runs) for i in range(3))
        for name, runs in results.items()
        if runs
    }
    median.setdefault("duckdb, same output", (float("nan"),) * 3)
    anchor, _, anchor_mem = median["duckdb anchor"]
    same, _, same_mem = median["duckdb, same output"]
    floor, _, _ = median["floor (1 process)"]
    print(
        f"\n{'contender':24s} {'median s':>9s} {'cpu s':>7s} {'events/s':>10s} {'peak MiB':>9s} "
        f"{'time/anchor':>11s} {'mem/anchor':>10s} {'time/same':>9s} {'mem/same':>8s} "
        f"{'time/floor':>10s}"
    )
    for name, (wall, cpu, mem) in median.items():
        print(
            f"{name:24s} {wall:9.2f} {cpu:7.2f} {events / wall:10,.0f} {mem / 2**20:9.0f} "
            f"{wall / anchor:11.2f} {mem / anchor_mem:10.2f} {wall / same:9.2f} "
            f"{mem / same_mem:8.2f} {wall / floor:10.2f}"
        )
    before, after, took = compactions[-1]
    print(
        f"\nour lake's data files after ingest: {before}, after `compact`: {after} "
        f"(compaction {statistics.median(c[2] for c in compactions):.2f} s, median)"
    )


def _files(lake: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", FILES, str(lake / "events")], capture_output=True, text=True
    )
    return int(out.stdout)


def _compaction(work: Path) -> tuple[int, int, float]:
    """Data files of the lake our ingest left in `work`, before and after compaction."""
    before = _files(work / "lake")
    wall, *_ = measure([sys.executable, "-m", "cloudtrail_hunt", "compact", str(work / "lake")])
    after = _files(work / "lake")
    print(f"        data files: {before} after ingest, {after} after compact ({wall:.2f} s)")
    return before, after, wall


if __name__ == "__main__":
    main()
