"""Site tuning from a TOML file: organisation facts, thresholds and allow-lists, validated.

```toml
[site]                                  # organisation facts (or: org_json = "side_inputs/org.json")
management_account = "111122223333"
partner_accounts = ["444455556666"]
break_glass_prefix = "break-glass-"

[detections."aws-iam-03-identity-center".thresholds."iam-user-console-login".page]
suppress = "12h"                        # tunables: count, window, suppress, batch, digest

[[detections."aws-iam-03-identity-center".allow]]
field = "userIdentity.arn"              # one of the detection's allow-list fields
value = "arn:aws:iam::111122223333:user/legacy-admin"
reason = "legacy admin until the migration"
ticket = "CHG-1234"
expires = 2026-12-31                    # entries past their expiry stop applying
```

Every mistake is a ConfigError naming the file and the key, with the closest valid key.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cloudtrail_hunt.detect.engine import Tuning
from cloudtrail_hunt.detect.model import Detection, Signal, Tier, duration
from cloudtrail_hunt.detect.site import Site, site_from_org_json, site_from_table
from cloudtrail_hunt.errors import ConfigError

_TUNABLE = ("count", "window", "suppress", "batch", "digest")
_ALLOW_KEYS = ("field", "value", "reason", "ticket", "expires")


@dataclass(frozen=True, slots=True)
class Config:
    """Validated settings: the site facts, per-detection tuning, and expired allow entries."""

    site: Site | None = None
    tuning: dict[str, Tuning] = field(default_factory=dict)
    expired: list[str] = field(default_factory=list)


def _closest(key: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"


def _fail(file: str, key: str, reason: str, hint: str | None = None) -> ConfigError:
    return ConfigError(key, reason, hint, file=file)


def load_config(path: str | Path, pack: list[Detection], *, today: date | None = None) -> Config:
    """Read and validate a TOML config against the rule pack."""
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise _fail(file, "(file)", f"cannot read it: {error}") from None
    unknown = sorted(set(data) - {"site", "detections"})
    if unknown:
        raise _fail(
            file, unknown[0], "unknown section", _closest(unknown[0], ["site", "detections"])
        )
    site = _site(data.get("site"), Path(path).parent, file)
    by_id = {d.id: d for d in pack}
    tuning: dict[str, Tuning] = {}
    expired: list[str] = []
    today = today or datetime.now(UTC).date()
    for detection_id, table in data.get("detections", {}).items():
        detection = by_id.get(detection_id)
        where = f'detections."{detection_id}"'
        if detection is None:
            raise _fail(file, where, "unknown detection", _closest(detection_id, sorted(by_id)))
        tuning[detection_id] = _tuning(detection, table, where, file, today, expired)
    return Config(site, tuning, expired)


def _site(table: Any, folder: Path, file: str) -> Site | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise _fail(file, "site", "must be a table")
    if "org_json" in table:
        return site_from_org_json(folder / str(table["org_json"]))
    return site_from_table(table, file)


def _tuning(
    detection: Detection,
    table: dict[str, Any],
    where: str,
    file: str,
    today: date,
    expired: list[str],
) -> Tuning:
    for key in table:
        if key not in ("thresholds", "allow"):
            raise _fail(
                file, f"{where}.{key}", "unknown key", _closest(key, ["thresholds", "allow"])
            )
    signals = {s.name: s for s in detection.signals if isinstance(s, Signal)}
    thresholds: dict[tuple[str, Tier], dict[str, Any]] = {}
    for name, tiers in table.get("thresholds", {}).items():
        key = f'{where}.thresholds."{name}"'
        signal = signals.get(name)
        if signal is None:
            raise _fail(file, key, "unknown signal", _closest(name, sorted(signals)))
        for tier_name, values in tiers.items():
            tier_key = f"{key}.{tier_name}"
            defined = {str(t.tier): t for t in signal.thresholds}
            if tier_name not in defined:
                reason = "the guide defines no such tier for this signal"
                raise _fail(file, tier_key, reason, _closest(tier_name, sorted(defined)))
            thresholds[(name, Tier(tier_name))] = _threshold_values(values, tier_key, file)
    allow: dict[str, set[str]] = {}
    fields = sorted({f for s in signals.values() for f in s.allow_fields})
    for i, entry in enumerate(table.get("allow", [])):
        key = f"{where}.allow[{i}]"
        missing = [k for k in ("field", "value", "reason", "ticket") if not entry.get(k)]
        if missing:
            raise _fail(
                file,
                key,
                f"missing {', '.join(missing)}",
                "an allow entry needs a reason and a ticket",
            )
        extra = sorted(set(entry) - set(_ALLOW_KEYS))
        if extra:
            raise _fail(
                file, f"{key}.{extra[0]}", "unknown key", _closest(extra[0], list(_ALLOW_KEYS))
            )
        if entry["field"] not in fields:
            raise _fail(
                file,
                f"{key}.field",
                f"{entry['field']!r} cannot be allow-listed here",
                _closest(entry["field"], fields),
            )
        expires = entry.get("expires")
        if expires is not None and not isinstance(expires, date):
            raise _fail(file, f"{key}.expires", "must be a date such as 2026-12-31")
        if isinstance(expires, date) and expires < today:
            expired.append(f"{key} ({entry['ticket']}) expired on {expires}")
            continue
        allow.setdefault(entry["field"], set()).add(str(entry["value"]))
    return Tuning(thresholds, {k: frozenset(v) for k, v in allow.items()})


def _threshold_values(values: Any, key: str, file: str) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise _fail(
            file, key, "must be a table of tunables", f"expected keys {', '.join(_TUNABLE)}"
        )
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in _TUNABLE:
            raise _fail(file, f"{key}.{name}", "not tunable", _closest(name, list(_TUNABLE)))
        if name == "count":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _fail(
                    file, f"{key}.count", f"must be a whole number of at least 1, not {value!r}"
                )
            out[name] = value
            continue
        try:
            out[name] = duration(str(value))
        except ValueError as error:
            raise _fail(file, f"{key}.{name}", str(error)) from None
    return out
