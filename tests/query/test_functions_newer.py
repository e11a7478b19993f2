"""The newer documented functions (CloudWatch docs 2025+): one matching and one other value each."""

from __future__ import annotations

import pytest

import cloudtrail_hunt as ch
from cloudtrail_hunt.errors import QueryUnsupportedError
from tests.conftest import make_event

RECORDS = [
    make_event(eventID="a", sourceIPAddress="10.1.2.3", userAgent="aws-cli/2.15 md/x"),
    make_event(eventID="b", sourceIPAddress="8.8.8.8", userAgent="Mozilla 5.0"),
]

# (expression, value for record "a", value for record "b")
CASES = [
    ('split(userAgent, "/")', '["aws-cli","2.15 md","x"]', '["Mozilla 5.0"]'),
    ("urlencode(userAgent)", "aws-cli%2F2.15%20md%2Fx", "Mozilla%205.0"),
    ('urldecode(replace(userAgent, " ", "%20"))', "aws-cli/2.15 md/x", "Mozilla 5.0"),
    ("base64encode(eventID)", "YQ==", "Yg=="),
    ("base64decode(base64encode(userAgent))", "aws-cli/2.15 md/x", "Mozilla 5.0"),
    ('hexToAscii(if(eventID = "a", "6869", "zz"))', "hi", None),
    ('hexToDec(if(eventID = "a", "ff", "10"))', 255, 16),
    ('decToHex(if(eventID = "a", 255, 16))', "ff", "10"),
    ("messageSize(userAgent)", 17, 11),
    ('case(eventID = "a", "first", eventID = "c", "third", "other")', "first", "other"),
    ('jsonArrayContains(split(userAgent, "/"), "x")', 1, 0),
    ('formatDate(@timestamp, "%Y-%m")', "2026-10", "2026-10"),
    (
        "ipv4ToNumber(sourceIPAddress)",
        10 * 2**24 + 1 * 2**16 + 2 * 2**8 + 3,
        8 * (2**24 + 2**16 + 2**8 + 1),
    ),
    ("isReservedIP(sourceIPAddress)", 1, 0),
    ("isPrivateIP(sourceIPAddress)", 1, 0),
    ("isPublicIP(sourceIPAddress)", 0, 1),
]


@pytest.mark.parametrize(("expression", "for_a", "for_b"), CASES, ids=[c[0] for c in CASES])
def test_newer_function(expression: str, for_a: object, for_b: object) -> None:
    result = ch.query(f"fields eventID, {expression} as v | sort eventID asc", RECORDS)
    assert result["v"].to_list() == [for_a, for_b]


def test_haversine_of_one_degree_along_the_equator_is_111_km() -> None:
    result = ch.query("fields haversine(0, 0, 0, 1) as km, haversine(0, 0, 0, 0) as zero", RECORDS)
    assert result["km"][0] == pytest.approx(111.19, abs=0.01)
    assert result["zero"][0] == 0


@pytest.mark.parametrize("name", ["parseDate", "queryStartTime"])
def test_functions_we_do_not_emulate_fail_clearly(name: str) -> None:
    args = '(eventTime, "yyyy")' if name == "parseDate" else "()"
    with pytest.raises(QueryUnsupportedError, match=name.lower()) as caught:
        ch.query(f"fields {name}{args} as x", RECORDS)
    assert caught.value.column == 8
