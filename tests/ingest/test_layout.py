"""Tests of cloudtrail_hunt.ingest.layout: key parsing and listing plans over a fake key tree."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudtrail_hunt.errors import ConfigError
from cloudtrail_hunt.ingest.layout import (
    ALL_KINDS,
    EXACT_DAYS_MAX,
    UNKNOWN,
    KeyInfo,
    ListingRequest,
    day_prefixes,
    is_layout_anchor,
    parse_key,
    walk_prefixes,
)

ORG = "o-abc123defg"
A1, A2, A3 = "012345678901", "111122223333", "999988887777"

# --------------------------------------------------------------------------------------------
# parse_key
# --------------------------------------------------------------------------------------------


def test_parse_key_org_layout() -> None:
    key = f"AWSLogs/{ORG}/{A2}/CloudTrail/eu-west-1/2024/05/01/{A2}_CloudTrail_eu-west-1_x.json.gz"
    assert parse_key(key) == KeyInfo(ORG, A2, "eu-west-1", date(2024, 5, 1), "events")


def test_parse_key_single_account_layout() -> None:
    key = f"AWSLogs/{A2}/CloudTrail/us-gov-west-1/2023/12/31/file.json.gz"
    assert parse_key(key) == KeyInfo(None, A2, "us-gov-west-1", date(2023, 12, 31), "events")


@pytest.mark.parametrize(
    ("folder", "kind"), [("CloudTrail-Digest", "digest"), ("CloudTrail-Insight", "insight")]
)
def test_parse_key_digest_and_insight(folder: str, kind: str) -> None:
    key = f"AWSLogs/{ORG}/{A2}/{folder}/ap-southeast-2/2024/02/29/f.json.gz"
    assert parse_key(key) == KeyInfo(ORG, A2, "ap-southeast-2", date(2024, 2, 29), kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["trail/", "a/b/c/", "/abs/path/to/sync/", "AWSLogs/x/"])
def test_parse_key_with_a_prefix_before_awslogs(prefix: str) -> None:
    key = f"{prefix}AWSLogs/{ORG}/{A3}/CloudTrail/us-east-2/2022/01/03/f.json.gz"
    assert parse_key(key) == KeyInfo(ORG, A3, "us-east-2", date(2022, 1, 3), "events")


def test_parse_key_account_keeps_leading_zeros_as_a_string() -> None:
    info = parse_key(f"AWSLogs/{A1}/CloudTrail/us-east-1/2024/01/01/f.json.gz")
    assert isinstance(info.account, str)
    assert info.account == A1


@pytest.mark.parametrize(
    "key",
    [
        f"AWSLogs/{A1}/CloudTrail/us-east-1/2024/13/45/f.json.gz",  # impossible date
        f"AWSLogs/{A1}/CloudTrail/us-east-1/2023/02/29/f.json.gz",  # not a leap year
        f"AWSLogs/{A1}/CloudTrail/us-east-1/24/01/01/f.json.gz",  # two-digit year
        f"AWSLogs/{A1}/CloudTrail/us-east-1/2024/1/01/f.json.gz",  # unpadded month
        f"AWSLogs/{A1[:-1]}/CloudTrail/us-east-1/2024/01/01/f.json.gz",  # 11-digit account
        f"AWSLogs/{A1}/Config/us-east-1/2024/01/01/f.json.gz",  # another service
        f"AWSLogs/{A1}/CloudTrail/US-EAST-1/2024/01/01/f.json.gz",  # not a region code
        f"AWSLogs/{A1}/CloudTrail/../2024/01/01/f.json.gz",
        f"AWSLogs/{A1}/CloudTrail/us-east-1/2024/01/01/",  # a folder, not an object
        f"AWSLogs/{A1}/CloudTrail/us-east-1/2024/01/01/sub/f.json.gz",  # one level too deep
        f"AWSLogs/o-short/{A1}/CloudTrail/us-east-1/2024/01/01/f.json.gz",  # bad org id
        f"Logs/{A1}/CloudTrail/us-east-1/2024/01/01/f.json.gz",
        "README.md",
        "",
        f"{A1}_CloudTrail_us-east-1_20240101T0000Z_x.json.gz",
    ],
)
def test_parse_key_off_layout_is_unknown(key: str) -> None:
    assert parse_key(key) == UNKNOWN
    assert KeyInfo(None, None, None, None, "unknown") == UNKNOWN


def test_day_prefixes_span_month_ends_and_leap_days() -> None:
    assert day_prefixes(date(2024, 2, 28), date(2024, 3, 1)) == [
        "2024/02/28/",
        "2024/02/29/",
        "2024/03/01/",
    ]
    assert day_prefixes(date(2024, 3, 1), date(2024, 2, 28)) == []


# --------------------------------------------------------------------------------------------
# ListingRequest
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key", "match"),
    [
        ({"accounts": ["12345"]}, "accounts", "invalid account id '12345'"),
        ({"accounts": [123456789012]}, "accounts", "invalid account id 123456789012"),
        ({"regions": ["../etc"]}, "regions", "invalid region '../etc'"),
        ({"kinds": ["events", "cloudwatch"]}, "kinds", "invalid kind 'cloudwatch'"),
        ({"start": date(2024, 2, 2), "end": date(2024, 2, 1)}, "start", "is after end"),
    ],
)
def test_listing_request_rejects_bad_values(kwargs: dict, key: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        ListingRequest.build(**kwargs)
    assert info.value.key == key


def test_listing_request_accepts_a_bare_string_as_one_value() -> None:
    request = ListingRequest.build(accounts=A1, regions="us-east-1")
    assert request.accounts == frozenset({A1})
    assert request.regions == frozenset({"us-east-1"})


# --------------------------------------------------------------------------------------------
# walk_prefixes over a fake tree
# --------------------------------------------------------------------------------------------


class FakeTree:
    """Keys in memory; `list_dirs` answers like a delimited listing and records every call."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.calls: list[str] = []

    def list_dirs(self, prefix: str) -> list[str]:
        self.calls.append(prefix)
        names = {k[len(prefix) :].split("/", 1)[0] for k in self.keys if k.startswith(prefix)}
        return [n for n in names if any(k.startswith(f"{prefix}{n}/") for k in self.keys)]

    def under(self, prefixes: list[str]) -> list[str]:
        return [k for p in prefixes for k in self.keys if k.startswith(p)]


def _key(
    account: str, region: str, day: date, *, org: str | None = ORG, folder: str = "CloudTrail"
) -> str:
    base = f"AWSLogs/{org}/" if org else "AWSLogs/"
    name = f"{account}_{folder}_{region}_{day:%Y%m%d}.json.gz"
    return f"{base}{account}/{folder}/{region}/{day:%Y/%m/%d}/{name}"


def _tree() -> FakeTree:
    days = [date(2023, 12, 30) + timedelta(days=i) for i in range(70)]  # into March 2024
    keys = [_key(a, r, d) for a in (A1, A2) for r in ("eu-west-1", "us-east-1") for d in days]
    keys += [_key(A3, "us-east-1", d, org=None) for d in days[:5]]  # single-account trail
    keys += [_key(A2, "us-east-1", d, folder="CloudTrail-Digest") for d in days[::7]]
    keys += [_key(A1, "eu-west-1", d, folder="CloudTrail-Insight") for d in days[:3]]
    keys += ["AWSLogs/README.txt", f"AWSLogs/{ORG}/{A1}/Config/us-east-1/2024/01/01/c.json"]
    return FakeTree(keys)


def _expected(tree: FakeTree, request: ListingRequest) -> list[str]:
    return [k for k in tree.keys if request.matches(parse_key(k))]


def test_walk_one_day_one_account_one_region_lists_exactly_that_day() -> None:
    tree = _tree()
    day = date(2024, 1, 15)
    request = ListingRequest.build(start=day, end=day, accounts=[A2], regions=["us-east-1"])
    leaves = list(walk_prefixes(tree.list_dirs, request))
    assert leaves == [
        f"AWSLogs/{ORG}/{A2}/CloudTrail-Digest/us-east-1/2024/01/15/",
        f"AWSLogs/{ORG}/{A2}/CloudTrail/us-east-1/2024/01/15/",
    ]
    # AWSLogs/ finds the org; the account folder says which kinds exist; nothing else is listed.
    assert tree.calls == ["AWSLogs/", f"AWSLogs/{ORG}/{A2}/"]


def test_walk_one_kind_skips_the_account_level_listing() -> None:
    tree = _tree()
    day = date(2024, 1, 15)
    request = ListingRequest.build(
        start=day, end=day, accounts=[A1], regions=["eu-west-1"], kinds=["events"]
    )
    leaves = list(walk_prefixes(tree.list_dirs, request))
    assert leaves == [f"AWSLogs/{ORG}/{A1}/CloudTrail/eu-west-1/2024/01/15/"]
    assert tree.calls == ["AWSLogs/"]


def test_walk_bounded_range_uses_exact_day_prefixes_without_date_discovery() -> None:
    tree = _tree()
    start, end = date(2024, 1, 30), date(2024, 2, 2)
    request = ListingRequest.build(start=start, end=end, kinds=["events"])
    leaves = list(walk_prefixes(tree.list_dirs, request))
    days = day_prefixes(start, end)
    org_leaves = [
        f"AWSLogs/{ORG}/{a}/CloudTrail/{r}/{d}"
        for a in (A1, A2)
        for r in ("eu-west-1", "us-east-1")
        for d in days
    ]
    single = [f"AWSLogs/{A3}/CloudTrail/us-east-1/{d}" for d in days]
    assert leaves == sorted(single + org_leaves)
    # Regions are discovered (not given); no year, month or day folder is ever listed.
    assert all(c.count("/") <= 5 for c in tree.calls), tree.calls
    assert f"AWSLogs/{ORG}/{A1}/CloudTrail/" in tree.calls


def test_walk_unbounded_range_yields_whole_months_after_discovery() -> None:
    tree = _tree()
    request = ListingRequest.build(accounts=[A1], regions=["us-east-1"], kinds=["events"])
    leaves = list(walk_prefixes(tree.list_dirs, request))
    base = f"AWSLogs/{ORG}/{A1}/CloudTrail/us-east-1/"
    assert leaves == [f"{base}2023/12/", f"{base}2024/01/", f"{base}2024/02/", f"{base}2024/03/"]
    assert tree.calls == ["AWSLogs/", base, f"{base}2023/", f"{base}2024/"]


def test_walk_half_bounded_range_prunes_years_months_and_days() -> None:
    tree = _tree()
    request = ListingRequest.build(
        start=date(2024, 2, 27), accounts=[A1], regions=["us-east-1"], kinds=["events"]
    )
    leaves = list(walk_prefixes(tree.list_dirs, request))
    base = f"AWSLogs/{ORG}/{A1}/CloudTrail/us-east-1/"
    assert leaves == [
        f"{base}2024/02/27/",
        f"{base}2024/02/28/",
        f"{base}2024/02/29/",
        f"{base}2024/03/",
    ]
    # 2023 is outside the range: its months are never listed.
    assert f"{base}2023/" not in tree.calls
    assert f"{base}2024/02/" in tree.calls
    assert f"{base}2024/01/" not in tree.calls


def test_walk_long_bounded_range_discovers_instead_of_one_prefix_per_day() -> None:
    tree = _tree()
    start, end = date(2024, 1, 10), date(2024, 3, 31)
    assert (end - start).days >= EXACT_DAYS_MAX
    request = ListingRequest.build(
        start=start, end=end, accounts=[A2], regions=["eu-west-1"], kinds=["events"]
    )
    leaves = list(walk_prefixes(tree.list_dirs, request))
    base = f"AWSLogs/{ORG}/{A2}/CloudTrail/eu-west-1/"
    january = [f"{base}{d}" for d in day_prefixes(start, date(2024, 1, 31))]
    # January is cut by the range (one prefix per day); February and March lie wholly inside.
    assert leaves == [*january, f"{base}2024/02/", f"{base}2024/03/"]
    assert tree.calls == ["AWSLogs/", base, f"{base}2024/", f"{base}2024/01/"]
    assert tree.under(leaves) == _expected(tree, request)


def test_walk_from_an_anchor_inside_awslogs() -> None:
    tree = _tree()
    # A source rooted at AWSLogs/<org>/<account>/: prefixes are relative to that root.
    inner = FakeTree(
        [
            k.removeprefix(f"AWSLogs/{ORG}/{A1}/")
            for k in tree.keys
            if k.startswith(f"AWSLogs/{ORG}/{A1}/")
        ]
    )
    day = date(2024, 1, 1)
    request = ListingRequest.build(start=day, end=day, regions=["eu-west-1"])
    leaves = list(walk_prefixes(inner.list_dirs, request, base="", anchor=(ORG, A1)))
    assert leaves == [
        "CloudTrail-Insight/eu-west-1/2024/01/01/",
        "CloudTrail/eu-west-1/2024/01/01/",
    ]
    other = ListingRequest.build(accounts=[A2])
    assert list(walk_prefixes(inner.list_dirs, other, base="", anchor=(ORG, A1))) == []


@pytest.mark.parametrize(
    ("segs", "expected"),
    [
        ((), True),
        ((ORG,), True),
        ((A1,), True),
        ((ORG, A1, "CloudTrail-Digest", "us-east-1", "2024", "02", "29"), True),
        ((A1, "CloudTrail", "us-east-1", "2024", "12"), True),
        ((A1, "CloudTrail", "us-east-1", "2024", "13"), False),
        ((ORG, A1, "CloudTrail", "us-east-1", "2024", "02", "29", "x"), False),
        (("notes",), False),
        ((ORG, "notes"), False),
        ((A1, "Config"), False),
    ],
)
def test_is_layout_anchor(segs: tuple[str, ...], expected: bool) -> None:
    assert is_layout_anchor(segs) is expected


def test_walk_from_a_non_layout_anchor_yields_nothing() -> None:
    tree = _tree()
    assert list(walk_prefixes(tree.list_dirs, ListingRequest(), base="", anchor=("x",))) == []
    assert tree.calls == []


def test_walk_ignores_non_layout_folders() -> None:
    tree = _tree()
    request = ListingRequest.build(accounts=[A1], kinds=["events"])
    leaves = list(walk_prefixes(tree.list_dirs, request))
    assert not any("/Config/" in leaf for leaf in leaves)


_DAYS = st.dates(min_value=date(2023, 12, 1), max_value=date(2024, 3, 31))


@given(
    start=st.none() | _DAYS,
    span=st.none() | st.integers(0, 90),
    accounts=st.none() | st.sets(st.sampled_from([A1, A2, A3, "555555555555"]), min_size=1),
    regions=st.none()
    | st.sets(st.sampled_from(["eu-west-1", "us-east-1", "sa-east-1"]), min_size=1),
    kinds=st.sets(st.sampled_from(sorted(ALL_KINDS)), min_size=1),
)
def test_walk_lists_exactly_the_requested_keys_in_order(
    start: date | None,
    span: int | None,
    accounts: set[str] | None,
    regions: set[str] | None,
    kinds: set,
) -> None:
    tree = _tree()
    end = None if span is None else (start or date(2024, 1, 1)) + timedelta(days=span)
    request = ListingRequest.build(
        start=start, end=end, accounts=accounts, regions=regions, kinds=kinds
    )
    leaves = list(walk_prefixes(tree.list_dirs, request))
    assert leaves == sorted(leaves)
    assert all(leaf.endswith("/") for leaf in leaves)
    # Leaves never overlap, and what they cover, filtered by the request, is the exact answer.
    assert len({k for k in tree.under(leaves)}) == len(tree.under(leaves))
    listed = [k for k in tree.under(leaves) if request.matches(parse_key(k))]
    assert listed == _expected(tree, request)
