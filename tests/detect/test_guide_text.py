"""detections/_guide.py quotes the hardening guide verbatim: every string is in the guide."""

from __future__ import annotations

import pytest

from detections import _guide
from tests.conftest import GUIDE

TEXT = GUIDE.read_text(encoding="utf-8")
LINES = set(TEXT.splitlines())


@pytest.mark.parametrize("control", sorted(_guide.RESPONSES))
def test_initial_response_lines_are_the_guides(control: str) -> None:
    assert len(_guide.RESPONSES[control]) == 3
    assert set(_guide.RESPONSES[control]) <= LINES


@pytest.mark.parametrize("control", sorted(_guide.QUERIES))
def test_queries_are_the_guides(control: str) -> None:
    assert _guide.QUERIES[control] in TEXT


@pytest.mark.parametrize("control", sorted(_guide.COMPLIANCE))
def test_compliance_table_is_the_guides(control: str) -> None:
    # The guide prints the seven framework names, then the seven cells, one per line.
    lines = TEXT.splitlines()
    names = list(_guide.FRAMEWORKS)
    cells = [ref.ref for ref in _guide.COMPLIANCE[control]]
    tables = [lines[i + 7 : i + 14] for i in range(len(lines) - 14) if lines[i : i + 7] == names]
    assert cells in tables
