"""Recommend a setting from a backtest: the least sensitivity lost within an alert budget.

backtest ──► **recommend** (budgets: ``pages=2/day``, ``alerts=3/entity/week``, …) ──►
write_config (the chosen setting as a threshold override in the site's TOML, comments kept).

A budget holds when the busiest period of the range stays within it (the busiest day for
``/day``, the busiest Monday-to-Sunday week for ``/week``; per entity, the busiest account and
principal). Sensitivity lost is how many of the current setting's findings a setting drops (a
finding is kept when some finding of the setting shares an event with it). Among settings
within budget the one that drops fewest wins, then the one that fires most, then the current
setting, then the first in grid order.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl

from cloudtrail_hunt.config import load_config
from cloudtrail_hunt.detect import engine, registry
from cloudtrail_hunt.detect.model import Detection
from cloudtrail_hunt.errors import ConfigError
from cloudtrail_hunt.tune.backtest import Backtest, Setting, resolve_signal

__all__ = ["Budget", "Recommendation", "parse_budget", "recommend", "write_config"]

_KINDS = {"pages": "page", "tickets": "ticket", "alerts": None}
_PERIODS = {"day": "1d", "week": "1w"}
_BUDGET = re.compile(r"(pages|tickets|alerts)=(\d+)/(entity/)?(day|week)")
#: Threshold fields the site config can override (cloudtrail_hunt.config's tunables).
_TUNABLE = ("count", "window", "suppress", "batch", "digest")
_FIXED = ("distinct", "group_by", "tier", "escalate_to")
_BUDGET_KEY, _CONFIG_KEY, _FILE_KEY = "--budget", "--write-config", "(file)"


def _usage(key: str, reason: str, hint: str | None = None, file: str | None = None) -> ConfigError:
    return ConfigError(key, reason, hint, file=file)


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `limit` findings (of `tier`, or of any tier) per `period`, per entity or not."""

    text: str
    limit: int
    tier: str | None
    period: str  # "day" or "week"
    per_entity: bool

    def worst(self, findings: pl.DataFrame) -> int:
        """The most findings any period (and entity) of `findings` holds against the budget."""
        if self.tier is not None:
            findings = findings.filter(pl.col("tier") == self.tier)
        keys = [pl.col("first_seen").dt.truncate(_PERIODS[self.period]).alias("period")]
        if self.per_entity:
            keys += [pl.col("account"), pl.col("principal")]
        counts = findings.group_by(keys).len()
        return int(counts["len"].max() or 0)


def parse_budget(text: str) -> Budget:
    """``pages=2/day``, ``tickets=10/week``, ``alerts=3/entity/week``, …"""
    match = _BUDGET.fullmatch(text.replace(" ", ""))
    if match is None:
        hint = "e.g. pages=2/day, tickets=10/week or alerts=3/entity/week"
        raise _usage(_BUDGET_KEY, f"{text!r} is not KIND=N/[entity/]day|week", hint)
    kind, limit, entity, period = match.groups()
    return Budget(text, int(limit), _KINDS[kind], period, entity is not None)


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The chosen setting (None when no setting keeps to the budgets) and why.

    ``table``: per setting, ``fits``, the worst period per budget (a column named by the
    budget), ``dropped`` and ``alerts``, in the order of choice. ``lost``: the current
    setting's findings the chosen setting drops.
    """

    backtest: Backtest
    budgets: list[Budget]
    setting: Setting | None
    table: pl.DataFrame
    lost: pl.DataFrame


def recommend(result: Backtest, budgets: Iterable[str | Budget]) -> Recommendation:
    """The setting of `result` with the least sensitivity lost that keeps to every budget."""
    chosen_budgets = [b if isinstance(b, Budget) else parse_budget(b) for b in budgets]
    if not chosen_budgets:
        raise _usage(_BUDGET_KEY, "no budget given", "e.g. --budget pages=2/day")
    rows = []
    for order, setting in enumerate(result.settings):
        findings = result.findings.filter(pl.col("setting") == setting.label)
        worst = {b.text: b.worst(findings) for b in chosen_budgets}
        summary = result.summary.row(order, named=True)
        rows.append(
            {
                "setting": setting.label,
                "fits": all(worst[b.text] <= b.limit for b in chosen_budgets),
                **worst,
                "dropped": summary["dropped"],
                "alerts": summary["alerts"],
                "current": summary["current"],
                "order": order,
            }
        )
    table = pl.DataFrame(rows).sort(
        ["fits", "dropped", "alerts", "current", "order"],
        descending=[True, False, True, True, False],
    )
    best = table.row(0, named=True) if table["fits"].any() else None
    setting = next((s for s in result.settings if best and s.label == best["setting"]), None)
    lost = result.changes.filter(pl.col("setting") == (setting.label if setting else ""))
    lost = lost.filter(~pl.col("kept")).drop("setting", "kept")
    return Recommendation(result, chosen_budgets, setting, table.drop("order", "current"), lost)


def _overrides(base: dict[str, object], setting: Setting) -> dict[str, object]:
    """The tunables `setting` changes from the guide's threshold, as config values."""
    out: dict[str, object] = {}
    for name in _FIXED:
        if getattr(setting.threshold, name) != base[name]:
            raise _usage(
                _CONFIG_KEY,
                f"the site config cannot change {name} (setting {setting.label})",
                f"it overrides only {', '.join(_TUNABLE)}; choose a grid without {name}",
            )
    for name in _TUNABLE:
        value = getattr(setting.threshold, name)
        if value == base[name]:
            continue
        if value is None:
            raise _usage(
                _CONFIG_KEY,
                f"the site config cannot remove the guide's {name} (setting {setting.label})",
                f"give {name} a value instead of none",
            )
        out[name] = engine._text(value) if isinstance(value, timedelta) else value
    return out


def write_config(
    path: str | Path,
    signal: str,
    setting: Setting,
    *,
    tier: str | None = None,
    pack: Sequence[Detection] | None = None,
) -> str:
    """Write `setting` of `signal` into the TOML config at `path` as a threshold override.

    Comments, layout and every other key of the file are kept (tomlkit); keys the setting
    leaves at the guide's value are removed from the override. The new file is checked with
    the config validator before it replaces the old one (atomically). Returns the unified diff.
    """
    import tomlkit

    pack = list(pack) if pack is not None else registry.load()
    detection, sig = resolve_signal(signal, pack)
    base_threshold = next(
        (t for t in sig.thresholds if tier is None or str(t.tier) == tier), sig.thresholds[0]
    )
    tier_name = str(base_threshold.tier) if tier is None else tier
    base = {name: getattr(base_threshold, name) for name in (*_TUNABLE, *_FIXED)}
    overrides = _overrides(base, setting)
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        document = tomlkit.parse(old)
    except tomlkit.exceptions.ParseError as error:
        raise _usage(_FILE_KEY, f"cannot read it: {error}", file=str(path)) from None
    # Walk to the override's table, creating only what an override needs; a table the write
    # leaves empty is removed with its empty parents.
    path_keys = ("detections", detection.id, "thresholds", sig.name, tier_name)
    tables = [document]
    for depth, key in enumerate(path_keys):
        if key not in tables[-1]:
            if not overrides:
                break
            last = depth == len(path_keys) - 1
            tables[-1][key] = tomlkit.table(is_super_table=not last)
        tables.append(tables[-1][key])  # type: ignore[arg-type]
    else:
        override = tables[-1]
        for name in _TUNABLE:
            if name in overrides:
                override[name] = overrides[name]  # type: ignore[index]
            elif name in override:  # type: ignore[operator]
                del override[name]  # type: ignore[attr-defined]
        for parent, key, child in reversed(
            list(zip(tables[:-1], path_keys, tables[1:], strict=True))
        ):
            if len(child) == 0:  # type: ignore[arg-type]
                del parent[key]  # type: ignore[attr-defined]
    new = tomlkit.dumps(document)
    # Validate the new text as the hunt will read it, beside the file (org_json is relative).
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".tmp-", suffix=".toml", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(new)
        load_config(temporary, pack)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{path} (before)",
            tofile=f"{path} (after)",
        )
    )
