"""Bulk benign traffic (the fast path): template copies spread over a day with a diurnal shape."""

from __future__ import annotations

import base64
import math
import random
import time
from functools import lru_cache
from typing import Any

from cloudtrail_hunt.synth.catalog import K_ASSUME, K_S3, Template
from cloudtrail_hunt.synth.records import MONTHS
from cloudtrail_hunt.synth.trail import Trail

__all__ = ["bulk_day", "diurnal_weights"]

_MINUTES = range(1440)
#: Masks that turn 128 random bits into a version-4, RFC 4122 variant UUID.
_UUID_AND = 0xFFFFFFFFFFFF0FFF3FFFFFFFFFFFFFFF
_UUID_OR = 0x00000000000040008000000000000000


@lru_cache(maxsize=1)
def diurnal_weights() -> tuple[int, ...]:
    """Cumulative per-minute weights: a night floor plus a working-day bump around 13:00 UTC.

    13:00 UTC sits between the European and the US working days, which both show in the trail.
    """
    cum, acc = [], 0
    for m in range(1440):
        h = m / 60
        acc += round(1000 * (0.45 + math.exp(-(((h - 13.0) / 4.5) ** 2))))
        cum.append(acc)
    return tuple(cum)


@lru_cache(maxsize=1)
def _clock() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Time-of-day strings for every second: ``HH:MM:SSZ`` and the 12-hour ``H:MM:SS AM``."""
    hmsz, h12 = [], []
    for s in range(86400):
        h, m, sec = s // 3600, s // 60 % 60, s % 60
        hmsz.append(f"{h:02d}:{m:02d}:{sec:02d}Z")
        h12.append(f"{h % 12 or 12}:{m:02d}:{sec:02d} {'AM' if h < 12 else 'PM'}")
    return tuple(hmsz), tuple(h12)


def _java_day(t: int) -> str:
    g = time.gmtime(t)
    return f"{MONTHS[g.tm_mon - 1]} {g.tm_mday}, {g.tm_year}, "


def bulk_day(
    templates: list[Template],
    cum: list[int],
    n: int,
    day_start: int,
    region: str,
    rng: random.Random,
    trail: Trail,
) -> tuple[list[int], list[dict[str, Any]]]:
    """Generate `n` benign records of one account, region and day, sorted by time.

    Parameters
    ----------
    templates, cum
        The account-region templates and their cumulative weights (see `build_templates`).
    n
        Number of records.
    day_start
        Epoch second of the day's midnight UTC.
    region
        awsRegion of the templates (for the key-usage notes).
    rng
        The RNG of this account, region and day.
    trail
        Receives the uses of long-lived keys, for the credential reports.

    Returns
    -------
    tuple
        Seconds of the day (ascending) and the records in the same order.
    """
    if n <= 0:
        return [], []
    hmsz, h12 = _clock()
    rand = rng.random
    secs = sorted(
        m * 60 + int(rand() * 60) for m in rng.choices(_MINUTES, cum_weights=diurnal_weights(), k=n)
    )
    picks = rng.choices(templates, cum_weights=cum, k=n)
    bits = rng.getrandbits
    prefix = time.strftime("%Y-%m-%dT", time.gmtime(day_start))
    today, tomorrow = _java_day(day_start), _java_day(day_start + 86400)
    hour0 = day_start // 3600
    b32 = base64.b32encode
    out: list[dict[str, Any]] = []
    append = out.append
    for sec, tp in zip(secs, picks, strict=True):
        r = tp.rec.copy()
        r["eventTime"] = prefix + hmsz[sec]
        h = "%032x" % (bits(128) & _UUID_AND | _UUID_OR)
        r["eventID"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        kind = tp.kind
        if kind == K_S3:
            r["requestID"] = f"{bits(64):016X}"
        else:
            h = "%032x" % (bits(128) & _UUID_AND | _UUID_OR)
            r["requestID"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            if kind == K_ASSUME:
                user, token = tp.extra  # type: ignore[misc]
                exp = sec + 3600
                r["responseElements"] = {
                    "credentials": {
                        "accessKeyId": "ASIA" + b32(bits(80).to_bytes(10, "big")).decode(),
                        "sessionToken": token,
                        "expiration": (today + h12[exp])
                        if exp < 86400
                        else (tomorrow + h12[exp - 86400]),
                    },
                    "assumedRoleUser": user,
                }
                h = "%032x" % (bits(128) & _UUID_AND | _UUID_OR)
                r["sharedEventID"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        p = tp.principal
        if p is not None:
            hour = hour0 + sec // 3600
            r["userIdentity"] = p._cache.get(hour) or p.at_hour(hour)
        if tp.key_id is not None:
            trail.note_key(tp.key_id, day_start + sec, region, tp.service)
        append(r)
    return secs, out
