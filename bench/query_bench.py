"""Query benchmark: the guide's Logs Insights queries through our compiler vs equivalent DuckDB SQL.

Usage: ``uv run python bench/query_bench.py [--events 5000000] [--rounds 5]``

Both engines read the same compacted lake (Hive-partitioned Parquet) in the same process, in
interleaved rounds; each result is checked to be the same table. Prints per-query medians and
the ratio ours / DuckDB (below 1.0 means we are faster).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
from deltalake import DeltaTable

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE.parent))

import cloudtrail_hunt as ch  # noqa: E402
from tests.query.test_guide_queries import QUERIES  # noqa: E402

FENCED = (
    "'StopLogging','DeleteTrail','DeleteConfigurationRecorder','ScheduleKeyDeletion','DisableKey'"
)
SQL = {
    "aws-iam-02": """
        SELECT eventTime AS "@timestamp", eventName, "userIdentity.arn", sourceIPAddress,
               "requestParameters.userName", errorCode
        FROM events
        WHERE eventName IN ('CreateAccessKey', 'UpdateAccessKey')
          AND ("userIdentity.type" = 'Root'
               OR regexp_matches("requestParameters.userName", ':root$'))
        ORDER BY eventTime DESC LIMIT 50""",
    "aws-iam-03": """
        SELECT "userIdentity.userName", recipientAccountId, count(*) AS logins
        FROM events
        WHERE eventName = 'ConsoleLogin' AND "userIdentity.type" = 'IAMUser'
          AND NOT coalesce(regexp_matches("userIdentity.userName", '^break-glass-'), false)
        GROUP BY ALL ORDER BY logins DESC""",
    "aws-iam-06": """
        SELECT eventTime AS "@timestamp", eventName, "userIdentity.arn",
               "requestParameters.policyDocument", "requestParameters.roleName"
        FROM events
        WHERE eventName = 'UpdateAssumeRolePolicy'
          AND (regexp_matches("requestParameters.policyDocument", '"Principal":\\s*"\\*"')
               OR regexp_matches("requestParameters.policyDocument", ':root"'))
        ORDER BY eventTime DESC LIMIT 50""",
    "aws-iam-07": """
        SELECT eventTime AS "@timestamp", eventName, "userIdentity.arn",
               "requestParameters.roleName", "requestParameters.permissionsBoundary"
        FROM events
        WHERE eventName IN ('CreateRole', 'PutRolePermissionsBoundary',
                            'DeleteRolePermissionsBoundary')
          AND (eventName = 'DeleteRolePermissionsBoundary'
               OR (eventName = 'CreateRole'
                   AND coalesce("requestParameters.permissionsBoundary", '') = ''))
        ORDER BY eventTime DESC LIMIT 100""",
    "aws-iam-08": f"""
        SELECT "userIdentity.arn", eventName, count(*) AS denies
        FROM events
        WHERE errorCode = 'AccessDenied'
          AND regexp_matches(errorMessage, 'service control policy')
          AND eventName IN ({FENCED})
        GROUP BY ALL ORDER BY denies DESC""",
    "events-per-source": """
        SELECT eventSource, count(*) AS n FROM events GROUP BY ALL ORDER BY n DESC""",
    "root-console-no-mfa": """
        SELECT "userIdentity.accountId", count(*) AS n FROM events
        WHERE eventName = 'ConsoleLogin' AND "userIdentity.type" = 'Root'
          AND "additionalEventData.MFAUsed" = 'No'
        GROUP BY ALL ORDER BY n DESC""",
}
INSIGHTS = {
    **QUERIES,
    "events-per-source": "stats count() as n by eventSource | sort n desc",
    "root-console-no-mfa": 'filter eventName = "ConsoleLogin" and userIdentity.type = "Root" '
    'and additionalEventData.MFAUsed = "No" | stats count() as n by userIdentity.accountId '
    "| sort n desc",
}


def prepare(
    events: int, name: str | None = None, extra: Callable[[], list[Path]] | None = None
) -> Path:
    """Ingest and compact (once, cached) a lake of the ingest benchmark's trail of `events`.

    The trail is benign background only: the timing is the scan and the filters; the planted
    scenarios of `sample_logs/` are what the correctness tests use. `extra` makes more trails
    to ingest after it (into the lake called `name`).
    """
    from bench.ingest_bench import generate
    from cloudtrail_hunt.ingest.compact import compact

    lake = OUT / (name or f"query-lake-{events}")
    marker = lake / ".done.json"
    if marker.is_file():
        return lake
    shutil.rmtree(lake, ignore_errors=True)
    print(f"generating {events:,} events …", flush=True)
    trail, _ = generate(events)
    trails = [trail, *(extra() if extra is not None else [])]
    print("ingesting …", flush=True)
    for folder in trails:
        summary = ch.ingest(folder, lake)
    compact(lake)
    marker.write_text(json.dumps(summary.as_dict()))
    return lake


def _same(ours: pl.DataFrame, theirs: pl.DataFrame) -> bool:
    # Compare as multisets of rows (ties may order differently), times at ms precision.
    def rows(frame: pl.DataFrame) -> list[tuple[str, ...]]:
        frame = frame.with_columns(
            pl.col(pl.Datetime).dt.cast_time_unit("ms").dt.replace_time_zone(None)
        )
        return sorted(tuple(str(v) for v in row) for row in frame.iter_rows())

    return rows(ours) == rows(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lake = prepare(args.events)
    rows = ch.scan(lake).select(pl.len()).collect().item()
    print(f"lake: {rows:,} events, {lake}", flush=True)
    con = duckdb.connect()
    # The files live in the events table's latest Delta version (compaction leaves the
    # replaced ones on disk for time travel, so a glob would read them twice).
    files = DeltaTable(str(lake / "events")).file_uris()
    con.execute(
        f"CREATE VIEW events AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true, "
        "hive_types = {'day': DATE})"
    )
    timings: dict[str, dict[str, list[float]]] = {}
    for name, text in INSIGHTS.items():
        ours, theirs = ch.query(text, lake), con.sql(SQL[name]).pl()
        if not _same(ours, theirs):
            print(f"{name}: results differ\nours:\n{ours}\nduckdb:\n{theirs}")
            raise SystemExit(1)
        timings[name] = {"ours": [], "duckdb": []}
        for _ in range(args.rounds):
            start = time.perf_counter()
            ch.query(text, lake)
            timings[name]["ours"].append(time.perf_counter() - start)
            start = time.perf_counter()
            con.sql(SQL[name]).arrow()
            timings[name]["duckdb"].append(time.perf_counter() - start)
    print(f"\n{'query':22s} {'rows':>6s} {'ours s':>8s} {'duckdb s':>9s} {'ratio':>6s}")
    ratios = []
    for name, runs in timings.items():
        ours, theirs = statistics.median(runs["ours"]), statistics.median(runs["duckdb"])
        ratios.append(ours / theirs)
        height = ch.query(INSIGHTS[name], lake).height
        print(f"{name:22s} {height:6d} {ours:8.3f} {theirs:9.3f} {ours / theirs:6.2f}")
    print(f"\nmedian ratio ours/duckdb: {statistics.median(ratios):.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
