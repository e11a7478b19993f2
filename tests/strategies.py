"""Hypothesis strategies for CloudTrail-shaped JSON: unicode, nulls, deep nesting, hostile text."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

#: Text a log may carry: any Unicode scalar (no lone surrogates: log files are UTF-8), plus the
#: hostile shapes of STYLE.md §9 (ANSI escapes, formula prefixes, path traversal).
text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(
        ["\x1b[31mred\x1b[0m", "=cmd|' /C calc'!A0", "../../etc/passwd", "\x00", "\u202e"]
    ),
)
long_text = st.builds(
    lambda c, n: c * n, st.characters(exclude_categories=("Cs",)), st.integers(10_000, 120_000)
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=30,
)

#: Deep nesting: a chain of objects and arrays 20 to 60 levels down.
deep = st.integers(20, 60).map(lambda n: _nest(n))


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record with a valid eventTime and anything at all in every other field."""
    record: dict[str, Any] = {
        "eventTime": draw(
            st.datetimes(
                min_value=__import__("datetime").datetime(2000, 1, 1),
                max_value=__import__("datetime").datetime(2099, 12, 31),
            )
        ).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for name in (
        "eventName",
        "eventSource",
        "userIdentity",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "resources",
        "readOnly",
        "recipientAccountId",
        "awsRegion",
        "errorMessage",
    ):
        if draw(st.booleans()):
            record[name] = draw(json_values)
    extras = draw(st.dictionaries(text, st.one_of(json_values, deep, long_text), max_size=3))
    for key, value in extras.items():
        record.setdefault(key, value)
    return record
