"""Detection benchmark: the rule pack over 30 days of a lake vs equivalent DuckDB SQL.

Usage: ``uv run python bench/detect_bench.py [--events 5000000 1000000] [--rounds 3]``

Uses the lakes bench/query_bench.py builds (20 accounts, 4 regions, 30 days, compacted). Each
contender runs as its own process, in interleaved rounds; peak memory is the process's resident
set sampled every 20 ms. The DuckDB side runs one SQL statement per event signal (filters,
window counts with RANGE frames, distinct counts by self-join, hourly/weekly buckets, the 5-minute
EnableMFADevice guard as an anti-join) and one per computed signal that reads the event lake
(COMPUTED: MFA removed with a login profile, dormant AKIA keys, the distinct-role-assumers moving
average against its baseline, EKS Pod Identity drift, Access Analyzer archives, missed audit
runs; per-user/role suppression episodes included): the same work our engine does. Computed
signals that read only side inputs (credential reports, Config, Access Analyzer findings) have no
SQL, and those above read none: the bench lake has no side inputs, and its site has no audit
roles or IaC-managed roles (SITE), as in our hunt. Prints medians, the ratio ours / DuckDB and how
time grows from the smaller lake to the larger one.
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
from cloudtrail_hunt.detect.hunt import hunt
from deltalake import DeltaTable
lake = sys.argv[1]
# The lake's last day from its Delta log, as the DuckDB side takes max(day) from the partitions.
last = datetime.fromisoformat(max(p["day"] for p in DeltaTable(f"{lake}/events").partitions()))
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

# The computed signals that read the event lake, as SQL over the view `h` (`w`, `b` and any
# older days back to 97 days before the range: the history the rule pack's hunt reads, for
# fan-out's 7 + 90 days). Run after COMPUTED_SETUP, which sets the hunted range, the trail's end,
# the site facts and the `episode_starts` macro (the rule pack's suppression of computed signals:
# a row at least `period` after an episode's first row opens the next episode).
# Event names are matched with `IN (SELECT unnest([...]))`: DuckDB turns that semi-join into a
# filter inside the table scan, so other columns are fetched for the matching rows only (a literal
# IN list is kept as a zone-map hint, and errorCode IS NULL becomes the scan's filter instead).
ASSUME = "'AssumeRole','AssumeRoleWithSAML','AssumeRoleWithWebIdentity'"
POD_IDENTITY = (
    "'DescribePodIdentityAssociation','CreatePodIdentityAssociation','UpdatePodIdentityAssociation'"
)
COMPUTED = {
    # aws-iam-04 iam-user-mfa-removed-with-login-profile (mfa_removed_with_login_profile), without
    # credential reports: a successful MFA removal on an IAM user (DeactivateMFADevice's userName,
    # else the user a DeleteVirtualMFADevice serial names) whose latest successful
    # Create/DeleteLoginProfile before it, if any, is not a delete; one ticket per user per 24 h.
    "04 MFA removed with login profile": """WITH e AS (
            SELECT eventTime, eventName,
                coalesce(recipientAccountId, "userIdentity.accountId") AS account,
                coalesce("requestParameters.userName", nullif(regexp_extract(json_extract_string(
                    requestParameters, '$.serialNumber'), ':mfa/(.+)$', 1), '')) AS "user"
            FROM h WHERE eventName IN (SELECT unnest(['DeactivateMFADevice',
                'DeleteVirtualMFADevice','CreateLoginProfile','DeleteLoginProfile']))
            AND errorCode IS NULL
            AND eventTime < getvariable('hunt_end')
            -- Root removing its own device is control 01's signal.
            AND NOT ("userIdentity.type" IS NOT DISTINCT FROM 'Root'
                AND "requestParameters.userName" IS NULL)),
        -- The latest LoginProfile call up to each removal (one at the same time counts).
        removals AS (SELECT * FROM (SELECT *, last_value(CASE WHEN eventName LIKE '%LoginProfile'
                THEN eventName END IGNORE NULLS) OVER (PARTITION BY account, "user"
                ORDER BY eventTime, eventName NOT LIKE '%LoginProfile') AS profile
            FROM e WHERE "user" IS NOT NULL)
            WHERE eventName LIKE '%MFADevice' AND profile IS DISTINCT FROM 'DeleteLoginProfile'),
        episodes AS (SELECT account, "user", unnest(episode_starts(list(eventTime
            ORDER BY eventTime), INTERVAL 24 HOUR)) AS first_seen FROM removals
            GROUP BY account, "user")
        SELECT p.account, 'arn:aws:iam::' || p.account || ':user/' || p."user" AS principal,
            p.first_seen, max(r.eventTime) AS last_seen, count(*) AS events
        FROM removals r ASOF JOIN episodes p ON r.account IS NOT DISTINCT FROM p.account
            AND r."user" = p."user"
            AND r.eventTime >= p.first_seen
        WHERE p.first_seen >= getvariable('hunt_start') GROUP BY ALL""",
    # aws-iam-05 key-call-volume-dormant (dormant_keys), without credential reports: an AKIA key
    # whose last call is at least 30 days before the end of the trail (and of the range), not
    # deleted or deactivated at or after that call, active > 60 days by then (first call in the
    # trail); fires 30 days after its last call.
    "05 dormant key": """WITH keys AS (
            SELECT "userIdentity.accessKeyId" AS key, max(eventTime) AS last_call,
                min(eventTime) AS first_call, count(*) AS calls,
                arg_max(coalesce(recipientAccountId, "userIdentity.accountId"), eventTime)
                    AS account,
                arg_max("userIdentity.arn", eventTime) AS principal
            FROM h WHERE starts_with("userIdentity.accessKeyId", 'AKIA') GROUP BY key),
        retired AS (SELECT json_extract_string(requestParameters, '$.accessKeyId') AS key,
                eventTime AS retired
            FROM h WHERE eventName IN (SELECT unnest(['DeleteAccessKey','UpdateAccessKey']))
            AND errorCode IS NULL AND (eventName = 'DeleteAccessKey'
                OR json_extract_string(requestParameters, '$.status') = 'Inactive'))
        SELECT account, principal, last_call + INTERVAL 30 DAY AS first_seen,
            least(getvariable('hunt_end'), getvariable('trail_end')) AS last_seen, key, calls
        FROM keys k WHERE last_call + INTERVAL 30 DAY
                <= least(getvariable('hunt_end'), getvariable('trail_end'))
            AND last_call + INTERVAL 30 DAY >= getvariable('hunt_start')
            AND last_call + INTERVAL 30 DAY > first_call + INTERVAL 60 DAY
            AND NOT EXISTS (SELECT 1 FROM retired r WHERE r.key = k.key
                AND r.retired >= k.last_call)""",
    # aws-iam-06 distinct-role-assumers-3x-baseline (fan_out): distinct assumers per (account,
    # role) and UTC day from sts AssumeRole* calls; days are numbered from the first day any role
    # had an assumer, days without a row count zero. A day fires with at least 7 days of history
    # when the 7-day mean exceeds 3 x max(1, mean of up to 90 days before that window). RANGE
    # frames over the day numbers give the zero-filled sums without building the key x day grid.
    # One ticket per role per 7-day episode of the fired days' assumptions.
    "06 distinct role assumers 3x baseline": f"""WITH a AS (
            SELECT eventTime, eventTime::DATE AS day,
                coalesce(recipientAccountId, "userIdentity.accountId") AS account,
                json_extract_string(requestParameters, '$.roleArn') AS role,
                coalesce("userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.arn",
                    "userIdentity.invokedBy", "userIdentity.userName") AS assumer
            FROM h WHERE eventSource = 'sts.amazonaws.com'
            AND eventName IN (SELECT unnest([{ASSUME}]))
            AND eventTime < getvariable('hunt_end')),
        daily AS (SELECT account, role, day, count(DISTINCT assumer) AS n
            FROM a WHERE role IS NOT NULL GROUP BY ALL),
        numbered AS (SELECT *, day - min(day) FILTER (WHERE n > 0) OVER () AS p,
                max(n) OVER (PARTITION BY account, role) > 0 AS judged
            FROM daily),
        windows AS (SELECT account, role, day, p, sum(n) OVER (PARTITION BY account, role
                ORDER BY p RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) / least(p + 1, 7) AS ma,
                least(greatest(p + 1 - 7, 0), 90) AS history,
                coalesce(sum(n) OVER (PARTITION BY account, role ORDER BY p
                    RANGE BETWEEN 96 PRECEDING AND 7 PRECEDING), 0) AS base_sum
            FROM numbered WHERE judged AND p >= 0),
        fired AS (SELECT account, role, day, ma, history,
                CASE WHEN history > 0 THEN base_sum / history END AS base
            FROM windows WHERE history >= 7
            AND ma > 3::DOUBLE * greatest(coalesce(base, 0), 1::DOUBLE)),
        rows AS (SELECT * FROM a JOIN fired USING (account, role, day)),
        episodes AS (SELECT account, role, unnest(episode_starts(list(eventTime
            ORDER BY eventTime), INTERVAL 7 DAY)) AS first_seen FROM rows GROUP BY account, role)
        SELECT e.account, e.role AS principal, e.first_seen, max(r.eventTime) AS last_seen,
            count(*) AS events, arg_min(r.ma, r.eventTime) AS ma,
            arg_min(r.base, r.eventTime) AS base, arg_min(r.history, r.eventTime) AS history
        FROM rows r ASOF JOIN episodes e ON r.account = e.account AND r.role = e.role
            AND r.eventTime >= e.first_seen
        WHERE e.first_seen >= getvariable('hunt_start') GROUP BY ALL""",
    # aws-iam-06 eks-pod-identity-drift (pod_identity_drift): successful Describe/Create/Update
    # PodIdentityAssociation binding a role (response association.roleArn, else the request's
    # roleArn) whose name or ARN is not in the site's IaC-managed roles; one ticket per role per
    # 24 h. `eks_response` is responseElements, loaded for eks.amazonaws.com events only.
    "06 EKS pod identity drift": f"""WITH bindings AS (
            SELECT eventTime, coalesce(recipientAccountId, "userIdentity.accountId") AS account,
                coalesce(json_extract_string(eks_response, '$.association.roleArn'),
                    json_extract_string(requestParameters, '$.roleArn')) AS role
            FROM h WHERE eventSource = 'eks.amazonaws.com'
            AND eventName IN (SELECT unnest([{POD_IDENTITY}]))
            AND errorCode IS NULL AND eventTime < getvariable('hunt_end')),
        unmanaged AS (SELECT * FROM bindings WHERE role IS NOT NULL
            AND NOT list_contains(getvariable('iac_managed_roles'), role)
            AND NOT list_contains(getvariable('iac_managed_roles'), string_split(role, '/')[-1])),
        episodes AS (SELECT role, unnest(episode_starts(list(eventTime ORDER BY eventTime),
            INTERVAL 24 HOUR)) AS first_seen FROM unmanaged GROUP BY role)
        SELECT arg_min(u.account, u.eventTime) AS account, e.role AS principal, e.first_seen,
            max(u.eventTime) AS last_seen, count(*) AS events
        FROM unmanaged u ASOF JOIN episodes e ON u.role = e.role AND u.eventTime >= e.first_seen
        WHERE e.first_seen >= getvariable('hunt_start') GROUP BY e.role, e.first_seen""",
    # aws-iam-09 analyzer-archive-without-ticket (archives_without_ticket), lake part only: each
    # successful access-analyzer UpdateFindings setting status ARCHIVED in the range (the change
    # ledger, a side-input file, is not read: without it every archive is unapproved).
    "09 analyzer archive without ticket": """SELECT
            coalesce(recipientAccountId, "userIdentity.accountId") AS account,
            "userIdentity.arn" AS principal, eventTime AS first_seen
        FROM w WHERE eventSource = 'access-analyzer.amazonaws.com'
            AND eventName = 'UpdateFindings' AND errorCode IS NULL
            AND eventTime >= getvariable('hunt_start') AND eventTime < getvariable('hunt_end')
            AND json_extract_string(requestParameters, '$.status') = 'ARCHIVED'""",
    # aws-iam-10 audit-lambda-missed-over-14-days (audit_missed): for each site audit role, each
    # gap of more than 14 days between its GenerateCredentialReport calls (or from its last call to
    # the end of the trail and range) fires 14 days after the call that began it; evidence adds
    # the account's EventBridge DisableRule / DeleteRule / RemoveTargets inside the gap.
    "10 audit lambda missed over 14 days": """WITH calls AS (
            SELECT "userIdentity.sessionContext.sessionIssuer.arn" AS role, eventTime,
                coalesce(recipientAccountId, "userIdentity.accountId") AS account,
                coalesce(lead(eventTime) OVER (PARTITION BY
                    "userIdentity.sessionContext.sessionIssuer.arn" ORDER BY eventTime), least(
                    getvariable('hunt_end'), getvariable('trail_end'))) AS gap_end
            FROM h WHERE eventName = 'GenerateCredentialReport'
            AND list_contains(getvariable('audit_roles'),
                "userIdentity.sessionContext.sessionIssuer.arn")),
        stops AS (SELECT coalesce(recipientAccountId, "userIdentity.accountId") AS account,
                eventTime
            FROM h WHERE eventSource = 'events.amazonaws.com'
            AND eventName IN (SELECT unnest(['DisableRule','DeleteRule','RemoveTargets'])))
        SELECT c.account, c.role AS principal, c.eventTime + INTERVAL 14 DAY AS first_seen,
            c.gap_end AS last_seen, count(s.eventTime) AS stops
        FROM calls c LEFT JOIN stops s ON s.account = c.account
            AND s.eventTime > c.eventTime AND s.eventTime <= c.gap_end
        WHERE c.gap_end > c.eventTime + INTERVAL 14 DAY
            AND c.eventTime + INTERVAL 14 DAY >= getvariable('hunt_start')
            AND c.eventTime + INTERVAL 14 DAY < getvariable('hunt_end') GROUP BY ALL""",
}

#: Site facts the computed SQL reads; the bench's hunt has none (no org.json beside the lake), so
#: no audit role is judged and every Pod Identity role is unmanaged, as in our hunt.
SITE: dict[str, list[str]] = {"audit_roles": [], "iac_managed_roles": []}

#: Run before COMPUTED, formatted with {start} / {end} (the hunted range's first day and the day
#: after its last), {cols} (the columns of `w` and `b`) and the SITE lists as JSON.
COMPUTED_SETUP = (
    "SET VARIABLE hunt_start = TIMESTAMPTZ '{start} 00:00:00+00'",
    "SET VARIABLE hunt_end = TIMESTAMPTZ '{end} 00:00:00+00'",
    "SET VARIABLE trail_end = (SELECT max(eventTime) FROM w)",
    "SET VARIABLE audit_roles = '{audit_roles}'::JSON::VARCHAR[]",
    "SET VARIABLE iac_managed_roles = '{iac_managed_roles}'::JSON::VARCHAR[]",
    # History back to 97 days before the range, as the rule pack reads it: `w`, `b` and the
    # older days (a partition-pruned read, loaded once like `w` and `b`).
    """CREATE TABLE o AS SELECT {cols} FROM events WHERE day >= DATE '{start}' - INTERVAL 97 DAY
        AND day < DATE '{start}' - INTERVAL 30 DAY""",
    "CREATE VIEW h AS SELECT * FROM w UNION ALL SELECT * FROM b UNION ALL SELECT * FROM o",
    """CREATE MACRO episode_starts(times, period) AS list_reduce(times, lambda starts, t:
        CASE WHEN t >= starts[-1] + period THEN list_append(starts, t) ELSE starts END,
        [times[1]])""",
)

DUCKDB = r"""
import sys, duckdb, json
from datetime import timedelta
lake, signals, setup, site = sys.argv[1], *map(json.loads, sys.argv[2:5])
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")  # days and day intervals in UTC, as the rule pack counts them
from deltalake import DeltaTable
files = DeltaTable(f"{lake}/events").file_uris()  # the live files of the latest version
con.execute(
    f"CREATE VIEW events AS SELECT * FROM read_parquet({files!r}, "
    "hive_partitioning = true, hive_types = {'day': DATE})"
)
last = con.sql("SELECT max(day) FROM events").fetchall()[0][0]
# DuckDB at its best: read the columns the signals need once, then query the in-memory table.
cols = ", ".join(f'"{c}"' for c in (
    "eventTime", "eventName", "eventSource", "errorCode", "errorMessage", "awsRegion", "readOnly",
    "recipientAccountId", "userIdentity.type", "userIdentity.arn", "userIdentity.userName",
    "userIdentity.accountId", "userIdentity.invokedBy",
    "userIdentity.sessionContext.sessionIssuer.arn", "additionalEventData.MFAUsed",
    "requestParameters.permissionsBoundary", "requestParameters.region", "requestParameters",
    # for the computed signals (whose evidence here is counts and times: like the event
    # signals', no eventID, ~200 MB more on the 5M lake)
    "userIdentity.accessKeyId", "requestParameters.userName"))
# The Pod Identity signal reads responseElements of EKS calls: load those alone (the whole JSON
# column is ~320 MB of text on the 5M lake that no other signal reads).
cols += ", CASE WHEN eventSource = 'eks.amazonaws.com' THEN responseElements END AS eks_response"
con.execute(f"CREATE TABLE w AS SELECT {cols} FROM events WHERE day > DATE '{last}' - INTERVAL 30 DAY")
con.execute(f"CREATE TABLE b AS SELECT {cols} FROM events WHERE day <= DATE '{last}' - INTERVAL 30 DAY "
            f"AND day > DATE '{last}' - INTERVAL 60 DAY")
start, end = last - timedelta(days=29), last + timedelta(days=1)  # w's days: the hunted range
site = {k: json.dumps(v) for k, v in site.items()}
for sql in setup:
    con.execute(sql.format(start=start, end=end, cols=cols, **site))
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
                "duckdb": [
                    *(sys.executable, "-c", DUCKDB, str(lake)),
                    *(json.dumps(SIGNALS | COMPUTED), json.dumps(COMPUTED_SETUP), json.dumps(SITE)),
                ],
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
