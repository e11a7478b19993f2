"""Detection benchmark: the rule pack over 30 days of a lake vs equivalent DuckDB SQL.

Usage: ``uv run python bench/detect_bench.py [--events 5000000 1000000] [--rounds 3]``

Uses the lakes bench/query_bench.py builds (20 accounts, 4 regions, 30 days, compacted). Each
contender runs as its own process, in interleaved rounds; peak memory is the process's resident
set sampled every 20 ms. The DuckDB side runs one SQL statement per event signal (filters,
window counts with RANGE frames, distinct counts by self-join, hourly/weekly buckets, the 5-minute
EnableMFADevice guard as an anti-join): the same work our engine does in one scan. Prints
medians, the ratio ours / DuckDB and how time grows from the smaller lake to the larger one.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

OURS = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from datetime import datetime, timedelta, UTC
import polars as pl
from cloudtrail_hunt.detect.hunt import hunt
import cloudtrail_hunt as ch
lake = sys.argv[1]
last = ch.scan(lake).select(pl.col("eventTime").max()).collect().item()
end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
start = end - timedelta(days=30)
found = hunt(lake, start=start, end=end)
print(found.height)
"""

FENCED = "'StopLogging','DeleteTrail','DeleteConfigurationRecorder','StopConfigurationRecorder','ScheduleKeyDeletion','DisableKey'"
DENIED = "'AccessDenied','AccessDeniedException','Client.UnauthorizedOperation','UnauthorizedOperation','UnauthorizedAccess'"
SIGNALS = {
    "01 root login no MFA": """SELECT * FROM w WHERE eventName = 'ConsoleLogin'
        AND "userIdentity.type" = 'Root' AND lower("additionalEventData.MFAUsed") = 'no'""",
    "01 root MFA removed": """SELECT "userIdentity.arn", min(eventTime) FROM w
        WHERE eventName IN ('DeactivateMFADevice','DeleteVirtualMFADevice')
        AND "userIdentity.type" = 'Root' GROUP BY ALL""",
    "02 root key": """SELECT * FROM w WHERE eventName IN ('CreateAccessKey','UpdateAccessKey')
        AND "userIdentity.type" = 'Root' AND errorCode IS NULL""",
    "02 root key denied (hourly)": f"""SELECT "userIdentity.arn", date_trunc('hour', eventTime), count(*)
        FROM w WHERE eventName = 'CreateAccessKey' AND "userIdentity.type" = 'Root'
        AND errorCode IN ({DENIED}) AND lower(errorMessage) LIKE '%service control policy%' GROUP BY ALL""",
    "02 automation allow-list": """SELECT * FROM w WHERE eventName = 'CreateAccessKey'
        AND errorCode IS NULL AND "userIdentity.type" <> 'Root'
        AND coalesce("userIdentity.sessionContext.sessionIssuer.arn", '') NOT IN (
            SELECT coalesce("userIdentity.sessionContext.sessionIssuer.arn", '') FROM b
            WHERE eventName = 'CreateAccessKey' AND errorCode IS NULL)""",
    "03 IAM-user login": """SELECT * FROM w WHERE eventName = 'ConsoleLogin'
        AND "userIdentity.type" = 'IAMUser' AND errorCode IS NULL
        AND NOT starts_with(coalesce("userIdentity.userName", ''), 'break-glass-')""",
    "03 Identity Center tampering": """SELECT * FROM w WHERE eventSource = 'sso.amazonaws.com'
        AND eventName IN ('DisassociatePermissionSet','DeleteAccountAssignment','DeletePermissionSet',
        'DeleteInlinePolicyFromPermissionSet','DetachManagedPolicyFromPermissionSet') AND errorCode IS NULL""",
    "03 new IAM users (weekly)": """SELECT recipientAccountId, date_trunc('week', eventTime), count(*)
        FROM w WHERE eventName = 'CreateUser' AND eventSource = 'iam.amazonaws.com'
        AND errorCode IS NULL GROUP BY ALL""",
    "04 IAM-user login no MFA": """SELECT l.* FROM w l WHERE l.eventName = 'ConsoleLogin'
        AND l."userIdentity.type" = 'IAMUser' AND lower(l."additionalEventData.MFAUsed") = 'no'
        AND NOT EXISTS (SELECT 1 FROM w e WHERE e.eventName = 'EnableMFADevice'
            AND e.errorCode IS NULL AND e."userIdentity.arn" = l."userIdentity.arn"
            AND e.eventTime BETWEEN l.eventTime - INTERVAL 5 MINUTE AND l.eventTime)""",
    "07 boundary deleted": """SELECT * FROM w WHERE eventName = 'DeleteRolePermissionsBoundary'
        AND errorCode IS NULL""",
    "07 roles without boundary (3 in 1h)": """SELECT * FROM (SELECT *, count(*) OVER (
            PARTITION BY "userIdentity.arn" ORDER BY eventTime
            RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND CURRENT ROW) AS n
        FROM w WHERE eventName = 'CreateRole' AND errorCode IS NULL
        AND coalesce("requestParameters.permissionsBoundary", '') = '') WHERE n >= 3""",
    "07 unknown boundary": """SELECT * FROM w WHERE eventName = 'PutRolePermissionsBoundary'
        AND errorCode IS NULL AND coalesce("requestParameters.permissionsBoundary", '') NOT IN (
        'arn:aws:iam::000000000000:policy/dev-permission-boundary')""",
    "08 SCP tampering": """SELECT * FROM w WHERE eventSource = 'organizations.amazonaws.com'
        AND errorCode IS NULL AND ((eventName IN ('DetachPolicy','UpdatePolicy','DeletePolicy')
        AND json_extract_string("requestParameters", '$.policyId') = 'p-00000000')
        OR (eventName = 'DisablePolicyType'
        AND json_extract_string("requestParameters", '$.policyType') = 'SERVICE_CONTROL_POLICY'))""",
    "08 SCP denials (hourly)": f"""SELECT "userIdentity.arn", date_trunc('hour', eventTime), count(*)
        FROM w WHERE eventName IN ({FENCED}) AND errorCode IN ({DENIED})
        AND lower(errorMessage) LIKE '%service control policy%' GROUP BY ALL""",
    "08 5 distinct denials in 30 min": f"""WITH d AS (SELECT "userIdentity.arn" AS p, eventTime AS t, eventName AS e
            FROM w WHERE eventName IN ({FENCED}) AND errorCode IN ({DENIED})
            AND lower(errorMessage) LIKE '%service control policy%')
        SELECT a.p, a.t, count(DISTINCT b.e) AS n FROM d a JOIN d b ON a.p = b.p
            AND b.t BETWEEN a.t - INTERVAL 30 MINUTE AND a.t GROUP BY ALL HAVING n >= 5""",
    "08 fenced API succeeded": f"""SELECT * FROM w WHERE eventName IN ({FENCED})
        AND errorCode IS NULL AND coalesce("userIdentity.accountId", '') <> '000000000000'
        AND coalesce("userIdentity.type", '') <> 'AWSService'""",
    "08 outside allowed regions": """SELECT * FROM w WHERE coalesce("requestParameters.region", awsRegion)
        NOT IN ('eu-west-1','eu-central-1','us-east-1') AND coalesce("userIdentity.type", '') <> 'AWSService'
        AND "userIdentity.invokedBy" IS NULL AND NOT coalesce(readOnly, false)""",
}

DUCKDB = r"""
import sys, duckdb, json
lake, signals = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
con.execute(
    f"CREATE VIEW events AS SELECT * FROM read_parquet('{lake}/events/**/*.parquet', "
    "hive_partitioning = true, hive_types = {'account': VARCHAR, 'region': VARCHAR, 'day': DATE})"
)
last = con.sql("SELECT max(day) FROM events").fetchall()[0][0]
# DuckDB at its best: read the columns the signals need once, then query the in-memory table.
cols = ", ".join(f'"{c}"' for c in (
    "eventTime", "eventName", "eventSource", "errorCode", "errorMessage", "awsRegion", "readOnly",
    "recipientAccountId", "userIdentity.type", "userIdentity.arn", "userIdentity.userName",
    "userIdentity.accountId", "userIdentity.invokedBy",
    "userIdentity.sessionContext.sessionIssuer.arn", "additionalEventData.MFAUsed",
    "requestParameters.permissionsBoundary", "requestParameters.region", "requestParameters"))
con.execute(f"CREATE TABLE w AS SELECT {cols} FROM events WHERE day > DATE '{last}' - INTERVAL 30 DAY")
con.execute(f"CREATE TABLE b AS SELECT {cols} FROM events WHERE day <= DATE '{last}' - INTERVAL 30 DAY "
            f"AND day > DATE '{last}' - INTERVAL 60 DAY")
print(sum(len(con.sql(sql).fetchall()) for sql in signals.values()))
"""


def measure(cmd: list[str]) -> tuple[float, int, str]:
    """Run `cmd`; return wall seconds, peak RSS of its process tree in bytes, stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        msg = f"{cmd[:3]} failed: {err[-2000:]}"
        raise RuntimeError(msg)
    return time.perf_counter() - start, peak, out


def main() -> None:
    import json

    from bench.query_bench import prepare

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[5_000_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lakes = {n: prepare(n) for n in args.events}
    results: dict[tuple[int, str], list[tuple[float, int]]] = {}
    for rnd in range(args.rounds):
        for n, lake in lakes.items():
            runs = {
                "ours": [sys.executable, "-c", OURS, str(lake), str(HERE.parent)],
                "duckdb": [sys.executable, "-c", DUCKDB, str(lake), json.dumps(SIGNALS)],
            }
            for name, cmd in runs.items():
                wall, peak, _ = measure(cmd)
                results.setdefault((n, name), []).append((wall, peak))
                print(
                    f"round {rnd + 1} {n:>9,} {name:7s} {wall:7.2f} s {peak / 2**20:7.0f} MiB",
                    flush=True,
                )
    print(
        f"\n{'events':>10s} {'ours s':>8s} {'MiB':>6s} {'duckdb s':>9s} {'MiB':>6s} {'ratio':>6s}"
    )
    medians = {}
    for n in lakes:
        ours = [r for r in results[(n, "ours")]]
        duck = [r for r in results[(n, "duckdb")]]
        o_t, o_m = statistics.median(t for t, _ in ours), statistics.median(m for _, m in ours)
        d_t, d_m = statistics.median(t for t, _ in duck), statistics.median(m for _, m in duck)
        medians[n] = o_t
        print(
            f"{n:>10,} {o_t:8.2f} {o_m / 2**20:6.0f} {d_t:9.2f} {d_m / 2**20:6.0f} {o_t / d_t:6.2f}"
        )
    if len(medians) > 1:
        small, large = min(medians), max(medians)
        print(
            f"\ntime grows {medians[large] / medians[small]:.2f}x for {large / small:.1f}x the events"
        )


if __name__ == "__main__":
    main()
