"""The CloudTrail S3 key layout: parse a key into (org, account, region, day, kind), plan listings.

First stage of ingest (**list** → decode → normalize → lake). This is the one module that knows
how CloudTrail names its objects; `sources.py` only does I/O. CloudTrail delivers to
``<bucket>/[<prefix>/]AWSLogs/[<o-org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>``
(the organisation-trail layout has the ``o-…`` level, a single-account trail does not), and puts
digest files under ``CloudTrail-Digest/`` and Insights events under ``CloudTrail-Insight/`` in the
same shape:
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html,
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html,
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html,
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-insights-events-with-cloudtrail.html.

`walk_prefixes` plans a listing level by level, asking a ``list_dirs(prefix)`` callback (one
delimited listing) only for the levels a request leaves open, so a one-day hunt never lists a
year of keys. It yields the leaf prefixes to list in full, in key order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from cloudtrail_hunt.errors import ConfigError

__all__ = [
    "ALL_KINDS",
    "EXACT_DAYS_MAX",
    "KIND_FOLDERS",
    "LOGS_FOLDER",
    "UNKNOWN",
    "Kind",
    "KeyInfo",
    "ListingRequest",
    "day_prefixes",
    "is_layout_anchor",
    "parse_key",
    "walk_prefixes",
]

Kind = Literal["events", "digest", "insight", "unknown"]

#: The folder under ``<account>/`` that holds each kind of object.
KIND_FOLDERS: dict[str, Kind] = {
    "CloudTrail": "events",
    "CloudTrail-Digest": "digest",
    "CloudTrail-Insight": "insight",
}
_FOLDER_OF_KIND = {kind: folder for folder, kind in KIND_FOLDERS.items()}

#: What ingest lists by default: events, digests (kept aside for integrity checks) and Insights.
ALL_KINDS: frozenset[Kind] = frozenset({"events", "digest", "insight"})

#: A bounded range of at most this many days is listed as exact day prefixes without discovering
#: the year/month/day folders first (one request per day and region instead of three levels).
EXACT_DAYS_MAX = 31

LOGS_FOLDER = "AWSLogs"

# An organization id is "o-" followed by 10 to 32 lowercase letters or digits
# (https://docs.aws.amazon.com/organizations/latest/APIReference/API_Organization.html).
_ORG = re.compile(r"o-[a-z0-9]{10,32}\Z")
# Account ids are exactly 12 digits and keep their leading zeros: always strings.
_ACCOUNT = re.compile(r"[0-9]{12}\Z")
# Region codes: us-east-1, us-gov-west-1, cn-north-1, eu-isoe-west-1, … Kept loose (lowercase
# words and digits joined by dashes) so a new partition's naming still parses; it still rejects
# "..", "/" and upper case, which matters because request values become path segments.
_REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+)+\Z")
_YEAR = re.compile(r"[0-9]{4}\Z")
_TWO_DIGITS = re.compile(r"[0-9]{2}\Z")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a key's path says about its object; every field is None for a key off the layout."""

    org: str | None
    account: str | None
    region: str | None
    day: date | None
    kind: Kind


#: The result for any key that is not in the CloudTrail layout.
UNKNOWN = KeyInfo(org=None, account=None, region=None, day=None, kind="unknown")


def _parse_day(year: str, month: str, day: str) -> date | None:
    if not (_YEAR.match(year) and _TWO_DIGITS.match(month) and _TWO_DIGITS.match(day)):
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:  # 2024/13/45, 2023/02/29
        return None


def _parse_tail(org: str | None, tail: Sequence[str]) -> KeyInfo | None:
    """Parse ``<account>/<kind folder>/<region>/YYYY/MM/DD/<file>`` (seven segments)."""
    account, folder, region, year, month, day, name = tail
    kind = KIND_FOLDERS.get(folder)
    if kind is None or not name or not _ACCOUNT.match(account) or not _REGION.match(region):
        return None
    parsed = _parse_day(year, month, day)
    if parsed is None:
        return None
    return KeyInfo(org=org, account=account, region=region, day=parsed, kind=kind)


def parse_key(key: str) -> KeyInfo:
    """Parse an object key (or a path) in the CloudTrail layout.

    Anything may come before ``AWSLogs/`` (a trail's S3 prefix, a local folder). The file name is
    not checked against the account and region folders: sample data in the wild mixes them.

    Parameters
    ----------
    key
        A ``/``-separated key or path.

    Returns
    -------
    KeyInfo
        The parsed fields, or `UNKNOWN` (all None, kind ``"unknown"``) for a key off the layout,
        including one with an impossible date.

    Examples
    --------
    >>> parse_key("AWSLogs/o-abc123defg/012345678901/CloudTrail/eu-west-1/2024/05/01/x.json.gz")
    KeyInfo(org='o-abc123defg', account='012345678901', region='eu-west-1', day=datetime.date(2024, 5, 1), kind='events')
    >>> parse_key("AWSLogs/012345678901/CloudTrail/eu-west-1/2024/13/45/x.json.gz").kind
    'unknown'
    """  # noqa: E501
    parts = key.split("/")
    n = len(parts)
    # The file sits a fixed number of levels below AWSLogs (9 with the org level, 8 without),
    # so only two positions can hold the AWSLogs segment.
    if n >= 9 and parts[n - 9] == LOGS_FOLDER and _ORG.match(parts[n - 8]):
        info = _parse_tail(parts[n - 8], parts[n - 7 :])
        if info is not None:
            return info
    if n >= 8 and parts[n - 8] == LOGS_FOLDER:
        info = _parse_tail(None, parts[n - 7 :])
        if info is not None:
            return info
    return UNKNOWN


def day_prefixes(start: date, end: date) -> list[str]:
    """Return the ``YYYY/MM/DD/`` folder of every day from `start` to `end`, both included.

    Examples
    --------
    >>> day_prefixes(date(2024, 2, 28), date(2024, 3, 1))
    ['2024/02/28/', '2024/02/29/', '2024/03/01/']
    """
    days = (end - start).days + 1
    return [f"{start + timedelta(days=i):%Y/%m/%d}/" for i in range(max(days, 0))]


def _frozen_checked(
    name: str, values: Collection[str] | None, pattern: re.Pattern[str], what: str
) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        # A bare string is a collection of characters: almost certainly a mistake.
        values = [values]
    bad = sorted((v for v in values if not isinstance(v, str) or not pattern.match(v)), key=repr)
    if bad:
        msg = f"invalid {what} {bad[0]!r}"
        hint = "account ids are 12-digit strings" if what == "account id" else None
        raise ConfigError(key=name, reason=msg, hint=hint)
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class ListingRequest:
    """Which objects a listing wants: a day range (inclusive, None = open) and account, region
    and kind sets (None = all). Values are validated because they become path segments.
    """

    start: date | None = None
    end: date | None = None
    accounts: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    kinds: frozenset[Kind] = ALL_KINDS

    @classmethod
    def build(
        cls,
        *,
        start: date | None = None,
        end: date | None = None,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        kinds: Collection[Kind] | None = None,
    ) -> ListingRequest:
        """Validate and normalise the arguments of a listing.

        Raises
        ------
        ConfigError
            An account is not a 12-digit string, a region is not a region code, a kind is
            unknown, or `start` is after `end`.
        """
        if start is not None and end is not None and start > end:
            msg = f"start {start.isoformat()!r} is after end {end.isoformat()!r}"
            raise ConfigError(key="start", reason=msg)
        valid_kinds = sorted(ALL_KINDS)
        chosen = frozenset(ALL_KINDS if kinds is None else kinds)
        bad_kinds = sorted(chosen - ALL_KINDS)
        if bad_kinds:
            msg = f"invalid kind {bad_kinds[0]!r}"
            hint = "expected one of " + ", ".join(repr(k) for k in valid_kinds)
            raise ConfigError(key="kinds", reason=msg, hint=hint)
        return cls(
            start=start,
            end=end,
            accounts=_frozen_checked("accounts", accounts, _ACCOUNT, "account id"),
            regions=_frozen_checked("regions", regions, _REGION, "region"),
            kinds=chosen,
        )

    @property
    def bounded(self) -> bool:
        """True when both ends of the day range are given."""
        return self.start is not None and self.end is not None

    def wants_day(self, day: date) -> bool:
        """True when `day` is inside the requested range."""
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def matches(self, info: KeyInfo) -> bool:
        """True when a parsed key is wanted; a key off the layout (kind unknown) never matches."""
        if info.kind == "unknown" or info.kind not in self.kinds:
            return False
        if self.accounts is not None and info.account not in self.accounts:
            return False
        if self.regions is not None and info.region not in self.regions:
            return False
        return info.day is not None and self.wants_day(info.day)


def is_layout_anchor(segs: Sequence[str]) -> bool:
    """True when `segs`, the folders below ``AWSLogs``, name a folder of the CloudTrail layout.

    That is ``[o-org/][account/[kind folder/[region/[YYYY/[MM/[DD]]]]]]``; a source rooted at
    such a folder is walked with the layout, anything else is listed as a plain folder.

    Examples
    --------
    >>> is_layout_anchor(["o-abc123defg", "012345678901", "CloudTrail"])
    True
    >>> is_layout_anchor(["notes"])
    False
    """
    rest = list(segs[1:] if segs and _ORG.match(segs[0]) else segs)
    checks: tuple[Callable[[str], object], ...] = (
        _ACCOUNT.match,
        KIND_FOLDERS.__contains__,
        _REGION.match,
        _YEAR.match,
        _TWO_DIGITS.match,
        _TWO_DIGITS.match,
    )
    if len(rest) > len(checks) or not all(c(s) for c, s in zip(checks, rest, strict=False)):
        return False
    return len(rest) < 5 or 1 <= int(rest[4]) <= 12


ListDirs = Callable[[str], Iterable[str]]


def walk_prefixes(
    list_dirs: ListDirs,
    request: ListingRequest,
    *,
    base: str = f"{LOGS_FOLDER}/",
    anchor: Sequence[str] = (),
) -> Iterator[str]:
    """Plan a listing of a CloudTrail tree: yield the prefixes to list in full, in key order.

    The walk goes level by level: ``AWSLogs/`` (discovers ``o-…`` and account folders), the
    org folder (only when accounts are not given), the account folder (only to learn which of
    ``CloudTrail``, ``CloudTrail-Digest``, ``CloudTrail-Insight`` exist when more than one kind
    is wanted), the kind folder (only when regions are not given), then the dates. A bounded
    range of at most `EXACT_DAYS_MAX` days becomes exact ``YYYY/MM/DD/`` prefixes with no
    discovery; otherwise year, month and day folders are discovered and pruned by the range, and
    a month wholly inside the range is yielded as one prefix. Leaves never overlap and come out
    in key order, so listing them in turn gives keys in order.

    Parameters
    ----------
    list_dirs
        ``list_dirs(prefix)`` returns the names of the folders directly under `prefix` (one
        delimited listing); `prefix` is relative to the source root and ends with ``/`` or is
        empty.
    request
        What to list.
    base
        The prefix, relative to the source root, of the folder the walk starts in.
    anchor
        The path segments from ``AWSLogs`` down to `base` when the source root itself is inside
        an ``AWSLogs`` tree (e.g. ``("o-abc123defg", "012345678901")``); empty when `base` is
        the ``AWSLogs/`` folder itself.

    Yields
    ------
    str
        Prefixes (relative to the source root, ending with ``/``) to list without a delimiter.
    """
    return _Walk(list_dirs, request).run(base, tuple(anchor))


class _Walk:
    """One planned walk; the level of a folder follows from the segments below AWSLogs."""

    def __init__(self, list_dirs: ListDirs, request: ListingRequest) -> None:
        self.list_dirs = list_dirs
        self.request = request

    def _children(self, prefix: str, pattern: re.Pattern[str]) -> list[str]:
        return _in_key_order(name for name in self.list_dirs(prefix) if pattern.match(name))

    def run(self, prefix: str, segs: tuple[str, ...]) -> Iterator[str]:
        if not is_layout_anchor(segs):
            return
        org = 1 if segs and _ORG.match(segs[0]) else 0
        level = len(segs) - org
        if level == 0:
            yield from (self._org(prefix) if org else self._top(prefix))
            return
        account, *rest = segs[org:]
        if not self._wants_account(account):
            return
        if level == 1:
            yield from self._account(prefix)
            return
        if KIND_FOLDERS[rest[0]] not in self.request.kinds:
            return
        if level == 2:
            yield from self._kind(prefix)
            return
        if self.request.regions is not None and rest[1] not in self.request.regions:
            return
        yield from self._dates(prefix, tuple(int(s) for s in rest[2:]))

    def _wants_account(self, account: str) -> bool:
        return self.request.accounts is None or account in self.request.accounts

    def _top(self, prefix: str) -> Iterator[str]:
        # AWSLogs/ holds o-… folders (organisation trails) and account folders (single-account
        # trails), possibly both in one bucket.
        for name in _in_key_order(self.list_dirs(prefix)):
            if _ORG.match(name):
                yield from self._org(f"{prefix}{name}/")
            elif _ACCOUNT.match(name) and self._wants_account(name):
                yield from self._account(f"{prefix}{name}/")

    def _org(self, prefix: str) -> Iterator[str]:
        if self.request.accounts is not None:
            accounts = _in_key_order(self.request.accounts)
        else:
            accounts = self._children(prefix, _ACCOUNT)
        for account in accounts:
            yield from self._account(f"{prefix}{account}/")

    def _account(self, prefix: str) -> Iterator[str]:
        folders = _in_key_order(_FOLDER_OF_KIND[k] for k in self.request.kinds)
        if len(folders) > 1:
            # One delimited listing says which kind folders exist (digest and Insight folders
            # exist only when log validation or Insights are on), which saves a listing per
            # missing kind, region and day.
            present = set(self.list_dirs(prefix))
            folders = [f for f in folders if f in present]
        for folder in folders:
            yield from self._kind(f"{prefix}{folder}/")

    def _kind(self, prefix: str) -> Iterator[str]:
        if self.request.regions is not None:
            regions = _in_key_order(self.request.regions)
        else:
            regions = self._children(prefix, _REGION)
        for region in regions:
            yield from self._dates(f"{prefix}{region}/", ())

    def _dates(self, prefix: str, parts: tuple[int, ...]) -> Iterator[str]:
        """Yield date leaves under `prefix`, which is the folder of the date `parts` (y, m, d)."""
        req = self.request
        lo = req.start or date.min
        hi = req.end or date.max
        if len(parts) == 3:
            day = _valid_date(*parts)
            if day is not None and req.wants_day(day):
                yield prefix
            return
        if req.start is not None and req.end is not None and (hi - lo).days < EXACT_DAYS_MAX:
            depth = len(parts)
            for day_folder in day_prefixes(max(lo, _first_day(parts)), min(hi, _last_day(parts))):
                yield prefix + "/".join(day_folder.split("/")[depth:])
            return
        pattern = _YEAR if not parts else _TWO_DIGITS
        for name in self._children(prefix, pattern):
            sub = (*parts, int(name))
            if len(sub) == 3:
                day = _valid_date(*sub)
                if day is not None and req.wants_day(day):
                    yield f"{prefix}{name}/"
                continue
            if not (1 <= sub[-1] <= 12 or len(sub) == 1):
                continue
            first, last = _first_day(sub), _last_day(sub)
            if last < lo or first > hi:
                continue  # wholly outside the range
            if len(sub) == 2 and lo <= first and last <= hi:
                yield f"{prefix}{name}/"  # a month wholly inside: one listing, no day folders
            else:
                yield from self._dates(f"{prefix}{name}/", sub)


def _in_key_order(names: Iterable[str]) -> list[str]:
    """Sort folder names the way their keys sort: "CloudTrail-Digest/" before "CloudTrail/"."""
    return sorted(names, key=lambda name: name + "/")


def _valid_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _first_day(parts: tuple[int, ...]) -> date:
    if not parts:
        return date.min
    year, month = parts[0], parts[1] if len(parts) > 1 else 1
    return date(max(year, 1), month, 1)


def _last_day(parts: tuple[int, ...]) -> date:
    if not parts:
        return date.max
    year = max(parts[0], 1)
    if len(parts) == 1:
        return date(year, 12, 31)
    month = parts[1]
    if month == 12:
        return date(year, 12, 31)
    return date(year, month + 1, 1) - timedelta(days=1)
