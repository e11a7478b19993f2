"""`--explain`: the guide's queries read only the columns they need and filter inside the scan."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.query.test_guide_queries import QUERIES


def _explain(lake: Path, text: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cloudtrail_hunt", "query", str(lake), text, "--explain"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("control", sorted(QUERIES))
def test_guide_query_plan_pushes_projection_and_predicate_into_the_scan(
    control: str, sample_lake: Path
) -> None:
    plan = _explain(sample_lake, QUERIES[control])
    scan = plan[plan.index("Parquet SCAN") :]
    projected = re.search(r"PROJECT (\d+)/(\d+) COLUMNS", scan)
    assert projected is not None, plan
    assert int(projected[1]) <= 8 < int(projected[2])
    selection = re.search(r"SELECTION: (.*)", scan)
    assert selection is not None, plan
    assert "eventName" in selection[1]
    # Nothing filters above the scan: the whole predicate went down into it.
    assert "FILTER" not in plan[: plan.index("Parquet SCAN")]
