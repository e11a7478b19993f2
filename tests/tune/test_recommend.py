"""Recommendations within a budget, derived independently from generated per-principal
traffic, and `--write-config` round trips through the config validator and the hunt."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from cloudtrail_hunt.config import load_config
from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.errors import ConfigError
from cloudtrail_hunt.tune.backtest import backtest
from cloudtrail_hunt.tune.recommend import parse_budget, recommend, write_config
from tests.tune.conftest import DAY0, DAYS, Burst, bursts_frame, planted_bursts

SIGNAL = "aws-iam-07-permission-boundary/create-role-without-boundary-burst"
COUNTS = range(1, 11)
END = DAY0 + timedelta(days=DAYS)


def _expected_count(bursts: list[Burst], limit: int, per_entity_week: bool) -> int | None:
    """The count the recommendation must choose, from the planted bursts alone.

    With windows of an hour and bursts hours apart, each burst of at least `count` events is
    one ticket; the guide's count is 3, so its findings are the bursts of 3 or more."""
    candidates = []
    current = [b for b in bursts if b.size >= 3]
    for count in COUNTS:
        fired = [b for b in bursts if b.size >= count]
        if per_entity_week:
            # Monday-to-Sunday weeks, as the budget counts them.
            load = Counter((b.principal, b.at.isocalendar()[:2]) for b in fired)
        else:
            load = Counter(b.at.date() for b in fired)
        if max(load.values(), default=0) > limit:
            continue
        lost = sum(b.size < count for b in current)
        candidates.append((lost, -len(fired), count != 3, count))
    return min(candidates)[3] if candidates else None


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("budget", "limit", "per_entity"),
    [
        ("tickets=2/day", 2, False),
        ("alerts=1/day", 1, False),
        ("alerts=3/entity/week", 3, True),
    ],
)
def test_recommendation_equals_the_setting_derived_from_the_traffic(
    seed: int, budget: str, limit: int, per_entity: bool
) -> None:
    bursts = planted_bursts(seed)
    result = backtest(bursts_frame(bursts), SIGNAL, {"count": list(COUNTS)}, end=END)
    choice = recommend(result, [budget])
    expected = _expected_count(bursts, limit, per_entity)
    assert expected is not None  # a count of 10 fires nothing: some setting always fits
    assert choice.setting is not None and choice.setting.threshold.count == expected
    # The findings it loses are the guide's tickets on bursts smaller than the chosen count.
    lost = sorted(choice.lost["count"].to_list())
    assert lost == sorted(b.size for b in bursts if 3 <= b.size < expected)


def test_no_setting_within_budget_is_no_recommendation() -> None:
    bursts = [Burst("arn:aws:iam::111122223333:user/dev", DAY0 + timedelta(hours=3), 9)]
    result = backtest(bursts_frame(bursts), SIGNAL, ["count=2..4"], end=END)
    choice = recommend(result, ["tickets=0/day"])
    assert choice.setting is None and not choice.table["fits"].any()


def test_budgets_are_parsed_or_refused() -> None:
    budget = parse_budget("alerts=3/entity/week")
    assert (budget.limit, budget.tier, budget.period, budget.per_entity) == (3, None, "week", True)
    assert parse_budget("pages=2/day").tier == "page"
    with pytest.raises(ConfigError, match="KIND=N"):
        parse_budget("pages=2 a day")


CONFIG = """\
# Site tuning, reviewed by the SOC lead.
[site]
management_account = "111122223333"  # the org's management account

# IAM users page once a day per identity.
[detections."aws-iam-03-identity-center".thresholds."iam-user-console-login".page]
suppress = "12h"  # change CHG-1 ; keep

[[detections."aws-iam-03-identity-center".allow]]
field = "userIdentity.arn"
value = "arn:aws:iam::111122223333:user/legacy-admin"
reason = "legacy admin"
ticket = "CHG-2"
"""


def test_write_config_round_trips_through_the_validator_and_the_hunt(
    sample_lake: Path, tmp_path: Path
) -> None:
    pack = registry.load()
    config = tmp_path / "site.toml"
    config.write_text(CONFIG, encoding="utf-8")
    result = backtest(sample_lake, SIGNAL, ["count=2", "window=30m,2h"])
    setting = next(s for s in result.settings if s.label == "count=2 window=2h")
    diff = write_config(config, SIGNAL, setting, pack=pack)
    text = config.read_text(encoding="utf-8")
    # Every line of the old file is still there, in order, comments included.
    assert text.startswith(CONFIG)
    assert "+count = 2" in diff and '+window = "2h"' in diff and "-" not in diff.split("@@")[-1][:1]
    loaded = load_config(config, pack)
    key = ("create-role-without-boundary-burst", "ticket")
    assert loaded.tuning["aws-iam-07-permission-boundary"].thresholds[key] == {
        "count": 2,
        "window": timedelta(hours=2),
    }
    assert loaded.tuning["aws-iam-03-identity-center"].allow  # unrelated keys kept
    found = hunt(
        sample_lake,
        start=result.start,
        end=result.end,
        detections=["aws-iam-07"],
        tuning=loaded.tuning,
        site=loaded.site,
    ).filter(pl.col("signal") == "create-role-without-boundary-burst")
    mine = result.findings.filter(pl.col("setting") == setting.label)
    assert found["first_seen"].to_list() == mine["first_seen"].to_list()
    assert found.height > 0 and found["threshold"].unique().to_list() == ["2 events, within 2h"]
    # Back to the guide's setting: the override's keys go, the rest stays.
    write_config(config, SIGNAL, result.current, pack=pack)
    assert "count = 2" not in config.read_text() and config.read_text().startswith(CONFIG)


def test_write_config_refuses_what_the_config_cannot_express(tmp_path: Path) -> None:
    result = backtest(
        bursts_frame(planted_bursts(1)), SIGNAL, ["group=principal", "count=3"], end=END
    )
    setting = next(s for s in result.settings if s.threshold != result.current.threshold)
    config = tmp_path / "site.toml"
    with pytest.raises(ConfigError, match="cannot change group_by"):
        write_config(config, SIGNAL, setting)
    assert not config.exists()  # nothing created for a command that fails
