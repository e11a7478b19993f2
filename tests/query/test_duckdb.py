"""Representative Logs Insights queries agree with hand-written DuckDB SQL on `sample_logs/`.

The lake is built once (the session `sample_lake` fixture) and DuckDB reads the very same rows as
an Arrow table, so the only thing under test is the translation. Each SQL statement spells out
the Logs Insights semantics it relies on (reference/logs-insights.md): `!=`/`not like` are true on
a missing field (§7) — `IS DISTINCT FROM`, `IS NULL OR NOT` —, `like "x"` is a substring test,
`/re/` a search (DuckDB's RE2), `isempty` is true for missing or "", `count(f)` counts present
values, a missing `by` key forms its own group, `sort` puts missing values last, `dedup` keeps the
most recent record per key and every record whose key is missing (§5.8).

Results are compared as display strings (tests/query/test_differential.py `cell`): as multisets,
plus, for queries that sort, the sequence of sort-key values (ties may come in any order).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

import cloudtrail_hunt as ch
from tests.query.test_differential import cell
from tests.query.test_guide_queries import QUERIES

GUIDE = {f"guide-{name}": text for name, text in QUERIES.items()}


def _rp(key: str) -> str:
    """A requestParameters leaf read straight from the JSON text (not the promoted column)."""
    return f"""json_extract_string("requestParameters", '$.{key}')"""


#: id → (Logs Insights query, equivalent DuckDB SQL, sort-key columns or () when unordered).
CASES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "guide-aws-iam-02": (
        GUIDE["guide-aws-iam-02"],
        f"""
        SELECT "eventTime" AS "@timestamp", "eventName", "userIdentity.arn", "sourceIPAddress",
               {_rp("userName")} AS "requestParameters.userName", "errorCode"
        FROM ct
        WHERE "eventName" IN ('CreateAccessKey', 'UpdateAccessKey')
          AND ("userIdentity.type" = 'Root'
               OR coalesce(regexp_matches({_rp("userName")}, ':root$'), false))
        ORDER BY "eventTime" DESC LIMIT 50""",
        ("@timestamp",),
    ),
    "guide-aws-iam-03": (
        GUIDE["guide-aws-iam-03"],
        """
        SELECT "userIdentity.userName", "recipientAccountId", count(*) AS logins
        FROM ct
        WHERE "eventName" = 'ConsoleLogin' AND "userIdentity.type" = 'IAMUser'
          AND ("userIdentity.userName" IS NULL
               OR NOT regexp_matches("userIdentity.userName", '^break-glass-'))
        GROUP BY ALL ORDER BY logins DESC""",
        ("logins",),
    ),
    "guide-aws-iam-06": (
        GUIDE["guide-aws-iam-06"],
        f"""
        SELECT "eventTime" AS "@timestamp", "eventName", "userIdentity.arn",
               {_rp("policyDocument")} AS "requestParameters.policyDocument",
               {_rp("roleName")} AS "requestParameters.roleName"
        FROM ct
        WHERE "eventName" = 'UpdateAssumeRolePolicy'
          AND coalesce(regexp_matches({_rp("policyDocument")}, '"Principal":\\s*"\\*"')
                       OR regexp_matches({_rp("policyDocument")}, ':root"'), false)
        ORDER BY "eventTime" DESC LIMIT 50""",
        ("@timestamp",),
    ),
    "guide-aws-iam-07": (
        GUIDE["guide-aws-iam-07"],
        f"""
        SELECT "eventTime" AS "@timestamp", "eventName", "userIdentity.arn",
               {_rp("roleName")} AS "requestParameters.roleName",
               {_rp("permissionsBoundary")} AS "requestParameters.permissionsBoundary"
        FROM ct
        WHERE "eventName" IN ('CreateRole', 'PutRolePermissionsBoundary',
                              'DeleteRolePermissionsBoundary')
          AND ("eventName" = 'DeleteRolePermissionsBoundary'
               OR ("eventName" = 'CreateRole'
                   AND coalesce({_rp("permissionsBoundary")}, '') = ''))
        ORDER BY "eventTime" DESC LIMIT 100""",
        ("@timestamp",),
    ),
    "guide-aws-iam-08": (
        GUIDE["guide-aws-iam-08"],
        """
        SELECT "userIdentity.arn", "eventName", count(*) AS denies
        FROM ct
        WHERE "errorCode" = 'AccessDenied'
          AND coalesce(regexp_matches("errorMessage", 'service control policy'), false)
          AND "eventName" IN ('StopLogging', 'DeleteTrail', 'DeleteConfigurationRecorder',
                              'ScheduleKeyDeletion', 'DisableKey')
        GROUP BY ALL ORDER BY denies DESC""",
        ("denies",),
    ),
    "top-event-sources": (
        "stats count(*) by eventSource | sort count(*) desc | limit 10",
        """
        SELECT "eventSource", count(*) AS "count(*)" FROM ct
        GROUP BY ALL ORDER BY 2 DESC LIMIT 10""",
        ("count(*)",),
    ),
    "identity-types": (
        "stats count() as n, count_distinct(sourceIPAddress) as ips, count(errorCode) as errors"
        " by userIdentity.type | sort n desc",
        """
        SELECT "userIdentity.type", count(*) AS n, count(DISTINCT "sourceIPAddress") AS ips,
               count("errorCode") AS errors
        FROM ct GROUP BY ALL ORDER BY n DESC""",
        ("n",),
    ),
    "hourly-bins": (
        "filter ispresent(errorCode) | stats count() as failures by bin(1h) as hour"
        " | sort hour asc",
        """
        SELECT date_trunc('hour', "eventTime") AS hour, count(*) AS failures
        FROM ct WHERE "errorCode" IS NOT NULL GROUP BY ALL ORDER BY hour""",
        ("hour",),
    ),
    "not-equal-keeps-missing": (
        'filter errorCode != "AccessDenied" | stats count() as n by errorCode',
        """
        SELECT "errorCode", count(*) AS n FROM ct
        WHERE "errorCode" IS DISTINCT FROM 'AccessDenied' GROUP BY ALL""",
        (),
    ),
    "substring-like-by-region": (
        'filter errorCode like "AccessDenied" | stats count() as n by awsRegion, errorCode',
        """
        SELECT "awsRegion", "errorCode", count(*) AS n FROM ct
        WHERE contains("errorCode", 'AccessDenied') GROUP BY ALL""",
        (),
    ),
    "functions-then-stats": (
        'fields toupper(eventSource) as src, strlen(userAgent) as len | filter readOnly = "false"'
        " | stats max(len) as longest, min(len) as shortest, avg(len) as mean by src"
        " | sort longest desc, src asc | limit 5",
        """
        SELECT upper("eventSource") AS src, max(length("userAgent")) AS longest,
               min(length("userAgent")) AS shortest, avg(length("userAgent")) AS mean
        FROM ct WHERE NOT "readOnly" GROUP BY ALL ORDER BY longest DESC, src LIMIT 5""",
        ("longest", "src"),
    ),
    "numeric-json-leaves": (
        "stats count(requestParameters.durationSeconds) as c,"
        " sum(requestParameters.durationSeconds) as total,"
        " max(requestParameters.durationSeconds) as longest,"
        " avg(additionalEventData.bytesTransferredOut) as mean_out,"
        " min(requestParameters.metricDataQueries.0.metricStat.period) as period by eventSource",
        f"""
        SELECT "eventSource", count({_rp("durationSeconds")}) AS c,
               coalesce(sum(TRY_CAST({_rp("durationSeconds")} AS DOUBLE)), 0) AS total,
               max(TRY_CAST({_rp("durationSeconds")} AS DOUBLE)) AS longest,
               avg(TRY_CAST(json_extract_string("additionalEventData",
                   '$.bytesTransferredOut') AS DOUBLE)) AS mean_out,
               min(TRY_CAST({_rp("metricDataQueries[0].metricStat.period")} AS DOUBLE)) AS period
        FROM ct GROUP BY ALL""",
        (),
    ),
    "dedup-latest-per-principal": (
        'fields @timestamp, userIdentity.arn | filter eventName = "ConsoleLogin"'
        " | dedup userIdentity.arn",
        """
        SELECT "eventTime" AS "@timestamp", "userIdentity.arn" FROM (
            SELECT *, row_number() OVER (PARTITION BY "userIdentity.arn"
                                         ORDER BY "eventTime" DESC) AS k
            FROM ct WHERE "eventName" = 'ConsoleLogin')
        WHERE k = 1 OR "userIdentity.arn" IS NULL""",
        (),
    ),
    "not-in-and-or": (
        'filter (userIdentity.type not in ["AssumedRole", "AWSService"] or errorCode like /Denied/)'
        ' and not (sourceIPAddress = "AWS Internal") | stats count() as n by userIdentity.type',
        """
        SELECT "userIdentity.type", count(*) AS n FROM ct
        WHERE (coalesce("userIdentity.type" NOT IN ('AssumedRole', 'AWSService'), true)
               OR coalesce(regexp_matches("errorCode", 'Denied'), false))
          AND NOT coalesce("sourceIPAddress" = 'AWS Internal', false)
        GROUP BY ALL""",
        (),
    ),
}


@pytest.fixture(scope="module")
def duck(sample_lake: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake's rows registered as the table `ct`, clock in UTC."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("ct", ch.scan(sample_lake).collect().to_arrow())
    return con


def _rows(records: list[tuple[Any, ...]]) -> list[tuple[str | None, ...]]:
    return [tuple(map(cell, row)) for row in records]


@pytest.mark.parametrize("case", list(CASES))
def test_query_matches_duckdb(
    case: str, sample_lake: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    text, sql, sort_columns = CASES[case]
    frame = ch.query(text, sample_lake)
    relation = duck.sql(sql)
    assert frame.columns == relation.columns
    got, want = _rows(frame.rows()), _rows(relation.fetchall())
    assert want, "the SQL selects nothing: the case would test nothing"
    assert Counter(got) == Counter(want)
    if sort_columns:
        index = [frame.columns.index(c) for c in sort_columns]
        assert [tuple(r[i] for i in index) for r in got] == [
            tuple(r[i] for i in index) for r in want
        ]
