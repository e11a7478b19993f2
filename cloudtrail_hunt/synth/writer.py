"""The S3 layout writer: org-trail log files, their digest files and the Insights events."""

from __future__ import annotations

import bisect
import gzip
import hashlib
import heapq
import os
import random
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from cloudtrail_hunt.synth.background import bulk_day
from cloudtrail_hunt.synth.catalog import build_templates
from cloudtrail_hunt.synth.digests import write_digests
from cloudtrail_hunt.synth.identities import Org
from cloudtrail_hunt.synth.records import Ids
from cloudtrail_hunt.synth.schedule import Schedule
from cloudtrail_hunt.synth.trail import DAY, Trail

__all__ = ["TRAIL_NAME", "WriteStats", "write_trail"]

TRAIL_NAME = "org-trail"
DIGEST_REGION = "us-east-1"


@dataclass(slots=True)
class WriteStats:
    """What the writer produced: object and record counts, and the files digests must list."""

    objects: int = 0
    events: int = 0
    #: (key, sha256 of the uncompressed file, oldest, newest, delivery epoch) of digested files.
    digested: list[tuple[str, str, str, str, int]] = field(default_factory=list)


def _gz(obj: Any, encoder: msgspec.json.Encoder) -> tuple[bytes, bytes]:
    raw = encoder.encode(obj)
    # mtime=0 and no file name in the header: identical bytes on every run.
    return raw, gzip.compress(raw, compresslevel=6, mtime=0)


def write_trail(
    out: Path,
    org: Org,
    sched: Schedule,
    trail: Trail,
    *,
    seed: int,
    regions: Sequence[str],
    events_per_day: int,
    files_per_day: int,
    routine_counts: dict[tuple[str, str, int], int],
    insights: list[dict[str, Any]],
) -> WriteStats:
    """Write every log file of the organisation trail under ``out/AWSLogs/<org>/``.

    Parameters
    ----------
    out
        Output root.
    org, sched, trail
        The organisation, calendar, and the records built one by one (routine and scenarios).
    seed
        Run seed (bulk traffic draws from per account-region-day streams derived from it).
    regions
        Regions with background traffic; other regions hold only the records of `trail`.
    events_per_day
        Background records per account, region and day, routine records included.
    files_per_day
        Delivery slices per day; each non-empty slice becomes one object.
    routine_counts
        Routine records per (account, region, day), subtracted from the bulk count.
    insights
        CloudTrail Insights records to deliver under ``CloudTrail-Insight/``.
    """
    stats = WriteStats()
    encoder = msgspec.json.Encoder()
    root = out / "AWSLogs" / org.org_id
    extra = {(a, r) for (a, r, _) in trail.extras}
    for account in org.accounts:
        acct = account.id
        where = sorted(set(regions) | {r for a, r in extra if a == acct})
        for region in where:
            background = region in regions
            if background:
                tids = Ids(random.Random(f"{seed}/templates/{acct}/{region}"))
                templates, cum = build_templates(org, acct, region, tids)
            for d in range(sched.days):
                rng = random.Random(f"{seed}/bulk/{acct}/{region}/{d}")
                day_start = sched.t(d)
                n = events_per_day - routine_counts.get((acct, region, d), 0) if background else 0
                secs, recs = (
                    bulk_day(templates, cum, n, day_start, region, rng, trail)
                    if n > 0
                    else ([], [])
                )
                extras = sorted(trail.extras.get((acct, region, d), ()), key=lambda e: e[:2])
                if extras:
                    merged = list(
                        heapq.merge(
                            zip(secs, recs, strict=True),
                            ((t - day_start, rec) for t, _, rec in extras),
                            key=lambda p: p[0],
                        )
                    )
                    secs = [p[0] for p in merged]
                    recs = [p[1] for p in merged]
                if not recs:
                    continue
                _write_day(
                    root,
                    acct,
                    region,
                    day_start,
                    secs,
                    recs,
                    files_per_day,
                    rng,
                    encoder,
                    stats,
                )
    stats.objects += write_digests(
        out, org, stats.digested, seed=seed, trail=TRAIL_NAME, home_region=DIGEST_REGION
    )
    _write_insights(root, insights, encoder, stats, seed)
    return stats


def _write_day(
    root: Path,
    acct: str,
    region: str,
    day_start: int,
    secs: list[int],
    recs: list[dict[str, Any]],
    files_per_day: int,
    rng: random.Random,
    encoder: msgspec.json.Encoder,
    stats: WriteStats,
) -> None:
    ymd = time.strftime("%Y/%m/%d", time.gmtime(day_start))
    stamp = time.strftime("%Y%m%d", time.gmtime(day_start))
    folder = f"{root}/{acct}/CloudTrail/{region}/{ymd}/"
    Path(folder).mkdir(parents=True, exist_ok=True)
    prefix = f"{acct}_CloudTrail_{region}_{stamp}T"
    encode, compress, choices = encoder.encode, zlib.compress, rng.choices
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    i, n = 0, len(recs)
    while i < n:
        # Ceiling division: with a slice length that does not divide a day, a floor could land
        # on secs[i] itself and never advance (one empty file per loop, forever).
        end = -(-(secs[i] * files_per_day // DAY + 1) * DAY // files_per_day)
        j = bisect.bisect_left(secs, end, i)
        # Named after the last minute of its slice: no record is later than the name's minute.
        last = end - 1
        name = (
            f"{prefix}{last // 3600:02d}{last // 60 % 60:02d}Z_"
            f"{''.join(choices(_ALNUM, k=16))}.json.gz"
        )
        chunk = recs[i:j]
        raw = encode({"Records": chunk})
        # gzip with mtime 0 and no file name (what gzip.compress(..., mtime=0) produces).
        fd = os.open(folder + name, flags, 0o644)
        try:
            os.write(fd, compress(raw, 6, 31))
        finally:
            os.close(fd)
        stats.objects += 1
        stats.events += j - i
        # Every file is digested: delivered (for the digests) at the end of its slice.
        stats.digested.append(
            (
                f"AWSLogs/{root.name}/{acct}/CloudTrail/{region}/{ymd}/{name}",
                hashlib.sha256(raw).hexdigest(),
                chunk[0]["eventTime"],
                chunk[-1]["eventTime"],
                day_start + last,
            )
        )
        i = j


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _write_insights(
    root: Path,
    insights: list[dict[str, Any]],
    encoder: msgspec.json.Encoder,
    stats: WriteStats,
    seed: int,
) -> None:
    """Each Insights event in its own object under ``CloudTrail-Insight/``."""
    rng = random.Random(f"{seed}/insights")
    for rec in insights:
        acct, region = rec["recipientAccountId"], rec["awsRegion"]
        t = time.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
        folder = root / acct / "CloudTrail-Insight" / region / time.strftime("%Y/%m/%d", t)
        folder.mkdir(parents=True, exist_ok=True)
        name = (
            f"{acct}_CloudTrail-Insight_{region}_{time.strftime('%Y%m%dT%H%MZ', t)}_"
            f"{''.join(rng.choices(_ALNUM, k=16))}.json.gz"
        )
        (folder / name).write_bytes(_gz({"Records": [rec]}, encoder)[1])
        stats.objects += 1
