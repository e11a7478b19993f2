"""The lake's record of custody: which source objects were verified, against which digest.

Part of the chain-of-custody check (digest → keys → verify → report → **lake**). `write_custody`
stores a `VerifyReport` as the Delta table ``<lake>/custody``, one row per digest and log file,
replacing the rows of an earlier run on the same source in one commit; `coverage` says how much
of what a hunt read (the lake's ``source`` URIs) a valid digest chain covers. Rows hold only
what the check found (no clock time), so the same source verified twice gives the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from cloudtrail_hunt.custody.report import DigestCheck, FileCheck, FileStatus, VerifyReport

__all__ = ["CUSTODY_SCHEMA", "TABLE", "coverage", "read_custody", "write_custody"]

TABLE = "custody"

#: One row per verified object. ``source`` is the root that was verified (a folder or an
#: ``s3://`` prefix); ``uri`` the object where it was found (null when missing); ``key`` its path
#: from ``AWSLogs/`` on; ``digest`` the digest that listed a log file; ``proof`` where a valid
#: digest's signature came from.
CUSTODY_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "kind": pl.String(),
    "uri": pl.String(),
    "key": pl.String(),
    "account": pl.String(),
    "region": pl.String(),
    "etag": pl.String(),
    "status": pl.String(),
    "digest": pl.String(),
    "proof": pl.String(),
    "hour_start": pl.String(),
    "hour_end": pl.String(),
    "detail": pl.String(),
}


def _row(source: str, check: DigestCheck | FileCheck) -> dict[str, Any]:
    if isinstance(check, DigestCheck):
        return {
            "source": source,
            "kind": "digest",
            "uri": check.uri,
            "key": check.key,
            "account": check.account,
            "region": check.region,
            "etag": None,
            "status": str(check.status),
            "digest": check.key,
            "proof": None if check.proof is None else str(check.proof),
            "hour_start": check.start,
            "hour_end": check.end,
            "detail": check.detail,
        }
    return {
        "source": source,
        "kind": "log",
        "uri": check.uri,
        "key": check.key,
        "account": check.account,
        "region": check.region,
        "etag": check.etag,
        "status": str(check.status),
        "digest": check.digest,
        "proof": None,
        "hour_start": check.hour_start,
        "hour_end": check.hour_end,
        "detail": check.detail,
    }


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def write_custody(lake: str | Path, report: VerifyReport) -> int:
    """Store `report` in ``<lake>/custody``, replacing that source's earlier rows; return the
    number of rows written."""
    from deltalake import DeltaTable, write_deltalake

    checks: list[DigestCheck | FileCheck] = [*report.digests, *report.files]
    rows = [_row(report.source, c) for c in checks]
    frame = pl.DataFrame(rows, schema=CUSTODY_SCHEMA).sort("kind", "key")
    target = str(Path(lake) / TABLE) if "://" not in str(lake) else f"{lake}/{TABLE}"
    if DeltaTable.is_deltatable(target):
        predicate = f"source = {_sql_text(report.source)}"
        write_deltalake(target, frame.to_arrow(), mode="overwrite", predicate=predicate)
    else:
        write_deltalake(target, frame.to_arrow(), mode="append")
    return frame.height


def read_custody(lake: str | Path) -> pl.DataFrame:
    """The custody table of `lake` (empty, with its schema, when nothing was verified yet)."""
    from deltalake import DeltaTable

    target = str(Path(lake) / TABLE) if "://" not in str(lake) else f"{lake}/{TABLE}"
    if not DeltaTable.is_deltatable(target):
        return pl.DataFrame(schema=CUSTODY_SCHEMA)
    return pl.read_delta(target)


def coverage(lake_path: str | Path, sources: Iterable[str]) -> dict[str, Any]:
    """How much of the data a hunt read is covered by a valid digest chain.

    Parameters
    ----------
    lake_path
        The lake whose ``custody`` table `verify --lake` wrote.
    sources
        The source object URIs the hunt read, as the lake's ``source`` column gives them; one
        per event row gives event-weighted figures, one per object object-weighted ones.

    Returns
    -------
    dict
        ``objects`` and ``rows`` read; ``covered_objects`` and ``covered_rows`` whose object is
        a log file a valid digest lists with a matching SHA-256; the ``fraction`` of rows
        covered (1.0 for nothing read); ``by_status`` rows per custody status (``unverified``
        when the object was never checked); and up to 20 ``uncovered`` URIs.
    """
    counts = Counter(sources)
    table = read_custody(lake_path).filter(pl.col("kind") == "log", pl.col("uri").is_not_null())
    status = dict(zip(table["uri"].to_list(), table["status"].to_list(), strict=True))
    by_status: Counter[str] = Counter()
    covered_objects = covered_rows = 0
    uncovered: list[str] = []
    for uri, n in sorted(counts.items()):
        verdict = status.get(uri, "unverified")
        by_status[verdict] += n
        if verdict == FileStatus.VALID:
            covered_objects += 1
            covered_rows += n
        elif len(uncovered) < 20:
            uncovered.append(uri)
    rows = sum(counts.values())
    return {
        "objects": len(counts),
        "rows": rows,
        "covered_objects": covered_objects,
        "covered_rows": covered_rows,
        "fraction": covered_rows / rows if rows else 1.0,
        "by_status": dict(sorted(by_status.items())),
        "uncovered": uncovered,
    }
