"""Runs a Logs Insights query on a lake, raw logs or a frame: parse → check → compile → collect."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

import polars as pl

from cloudtrail_hunt.query.parser import parse
from cloudtrail_hunt.query.to_polars import Compiled, compile_query
from cloudtrail_hunt.source import Source, open_source


def compile(  # noqa: A001 - the verb users expect, as re.compile
    text: str,
    source: Source,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    now: float | None = None,
    as_of: int | datetime | str | None = None,
) -> Compiled:
    """Parse `text` and compile it into a lazy plan over `source` without running it."""
    query = parse(text)
    frame = open_source(
        source, start=start, end=end, accounts=accounts, regions=regions, as_of=as_of
    )
    return compile_query(query, frame, now=now)


def query(
    text: str,
    source: Source,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    now: float | None = None,
    as_of: int | datetime | str | None = None,
) -> pl.DataFrame:
    """Run a CloudWatch Logs Insights query and return its result table.

    Parameters
    ----------
    text
        The query, as pasted from CloudWatch or the hardening guide.
    source
        A lake folder, raw CloudTrail logs (folder, file or ``s3://`` prefix; ingested on the
        fly into a cache lake), or a Polars frame in the lake schema.
    start, end
        Event-time range (start inclusive, end exclusive), the query's time window.
    accounts, regions
        Restrict to these accounts and regions.
    now
        The query start time in epoch seconds, for `now()`; defaults to the clock.
    as_of
        Read a lake as it was at this version (int) or time.

    Returns
    -------
    pl.DataFrame
        One column per result field. Booleans are 1/0 and timestamps UTC datetimes, as
        CloudWatch shows them.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame({"eventName": ["ConsoleLogin", "GetObject", "ConsoleLogin"],
    ...                        "sourceIPAddress": ["1.2.3.4", "5.6.7.8", "1.2.3.4"]})
    >>> query('stats count() as n by eventName | sort n desc', events)
    shape: (2, 2)
    ┌──────────────┬─────┐
    │ eventName    ┆ n   │
    │ ---          ┆ --- │
    │ str          ┆ u32 │
    ╞══════════════╪═════╡
    │ ConsoleLogin ┆ 2   │
    │ GetObject    ┆ 1   │
    └──────────────┴─────┘
    """
    compiled = compile(
        text, source, start=start, end=end, accounts=accounts, regions=regions, now=now, as_of=as_of
    )
    return compiled.plan.collect()
