"""The TOML config: site facts, tuned thresholds and allow-lists, and errors that name the key."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from cloudtrail_hunt.config import load_config
from cloudtrail_hunt.detect import registry
from cloudtrail_hunt.detect.model import Tier
from cloudtrail_hunt.errors import ConfigError

PACK = registry.load()
LOGIN = 'detections."aws-iam-03-identity-center"'


def _load(tmp_path: Path, text: str):
    path = tmp_path / "cloudtrail_hunt.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, PACK, today=date(2026, 11, 1))


def test_config_reads_site_thresholds_and_allow_entries(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        f"""
[site]
management_account = "111122223333"
partner_accounts = ["444455556666"]

[{LOGIN}.thresholds."iam-user-console-login".page]
suppress = "12h"

[[{LOGIN}.allow]]
field = "userIdentity.arn"
value = "arn:aws:iam::111122223333:user/legacy"
reason = "migration"
ticket = "CHG-1"
expires = 2026-12-31
""",
    )
    assert config.site is not None
    assert config.site.partner_accounts == frozenset({"444455556666"})
    tuning = config.tuning["aws-iam-03-identity-center"]
    assert tuning.thresholds[("iam-user-console-login", Tier.PAGE)] == {
        "suppress": timedelta(hours=12)
    }
    assert tuning.allow == {
        "userIdentity.arn": frozenset({"arn:aws:iam::111122223333:user/legacy"})
    }


def test_config_expired_allow_entry_stops_applying(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        f"""
[[{LOGIN}.allow]]
field = "userIdentity.arn"
value = "x"
reason = "r"
ticket = "CHG-2"
expires = 2026-10-31
""",
    )
    assert config.tuning["aws-iam-03-identity-center"].allow == {}
    assert "CHG-2" in config.expired[0]


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        (
            '[detections."aws-iam-03-identity-centre"]',
            'detections."aws-iam-03-identity-centre"',
            "aws-iam-03-identity-center",
        ),
        (
            f'[{LOGIN}.thresholds."iam-user-console-logins".page]\nsuppress = "1h"',
            "thresholds",
            "iam-user-console-login",
        ),
        (
            f'[{LOGIN}.thresholds."iam-user-console-login".urgent]\nsuppress = "1h"',
            "urgent",
            "page",
        ),
        (
            f'[{LOGIN}.thresholds."iam-user-console-login".page]\nsupress = "1h"',
            "supress",
            "suppress",
        ),
        (
            f'[{LOGIN}.thresholds."iam-user-console-login".page]\nsuppress = "soon"',
            "suppress",
            "24h",
        ),
        ("[site]\npartner_acounts = []", "site.partner_acounts", "partner_accounts"),
        (
            f'[[{LOGIN}.allow]]\nfield = "userIdentity.arn"\nvalue = "x"',
            "allow[0]",
            "reason and a ticket",
        ),
    ],
)
def test_config_error_names_the_key_and_suggests(
    tmp_path: Path, text: str, key: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert key in caught.value.key
    assert hint in str(caught.value)
    assert caught.value.file is not None and caught.value.file.endswith("cloudtrail_hunt.toml")
