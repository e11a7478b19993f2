"""Trust-policy parsing (cloudtrail_hunt/detect/policy.py): who a trust policy lets in."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudtrail_hunt.detect import policy

EXTERNAL = "111122223333"
PARTNER = "444455556666"
OWN = "777788889999"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


def _allow(principal: object, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}


@pytest.mark.parametrize(
    "principal",
    [
        pytest.param("*", id="principal-string"),
        pytest.param({"AWS": "*"}, id="aws-string"),
        pytest.param({"AWS": [f"arn:aws:iam::{OWN}:role/app", "*"]}, id="aws-array"),
        pytest.param({"AWS": " * "}, id="aws-padded"),
    ],
)
def test_parse_trust_policy_finds_a_wildcard(principal: object) -> None:
    assert policy.parse_trust_policy(_doc(_allow(principal)))["wildcard"] is True


def test_parse_trust_policy_reads_allow_with_not_principal_as_a_wildcard() -> None:
    statement = {"Effect": "Allow", "NotPrincipal": {"AWS": EXTERNAL}, "Action": "sts:AssumeRole"}
    assert policy.parse_trust_policy(_doc(statement))["wildcard"] is True


def test_parse_trust_policy_skips_deny_statements() -> None:
    deny = {"Effect": "Deny", "Principal": {"AWS": ["*", EXTERNAL]}, "Action": "sts:AssumeRole"}
    facts = policy.parse_trust_policy(_doc(_allow({"Service": "ec2.amazonaws.com"}), deny))
    assert (facts["wildcard"], facts["accounts"]) == (False, [])


def test_parse_trust_policy_service_principal_is_neither_wildcard_nor_account() -> None:
    facts = policy.parse_trust_policy(_doc(_allow({"Service": "ec2.amazonaws.com"})))
    assert facts == {
        "parsed": True,
        "wildcard": False,
        "accounts": [],
        "accounts_without_external_id": [],
    }


@pytest.mark.parametrize(
    ("value", "account"),
    [
        pytest.param(EXTERNAL, EXTERNAL, id="bare-id"),
        pytest.param(f"arn:aws:iam::{EXTERNAL}:root", EXTERNAL, id="root-arn"),
        pytest.param(f"arn:aws:iam::{EXTERNAL}:role/path/x", EXTERNAL, id="role-arn"),
        pytest.param(f"arn:aws:sts::{EXTERNAL}:assumed-role/r/s", EXTERNAL, id="sts-arn"),
        pytest.param(f"arn:aws-us-gov:iam::{EXTERNAL}:root", EXTERNAL, id="gov-partition"),
        pytest.param("AROAEXAMPLEUNIQUEID", None, id="unique-id"),
        pytest.param("12345678901", None, id="eleven-digits"),
    ],
)
def test_principal_account_reads_ids_and_arns(value: str, account: str | None) -> None:
    assert policy.principal_account(value) == account


def test_parse_trust_policy_lists_accounts_and_those_without_external_id() -> None:
    guarded = _allow(
        {"AWS": f"arn:aws:iam::{PARTNER}:root"},
        Condition={"StringEquals": {"sts:ExternalId": "partner-7f3c"}},
    )
    open_ = _allow({"AWS": [EXTERNAL, f"arn:aws:iam::{EXTERNAL}:root"]})
    facts = policy.parse_trust_policy(_doc(guarded, open_))
    assert facts["accounts"] == sorted([EXTERNAL, PARTNER])
    assert facts["accounts_without_external_id"] == [EXTERNAL]


def test_parse_trust_policy_accepts_a_single_statement_object() -> None:
    text = json.dumps({"Statement": _allow({"AWS": EXTERNAL})})
    assert policy.parse_trust_policy(text)["accounts"] == [EXTERNAL]


def test_parse_trust_policy_decodes_a_url_encoded_document() -> None:
    from urllib.parse import quote

    assert policy.parse_trust_policy(quote(_doc(_allow("*"))))["wildcard"] is True


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"Statement": [{"Effect": "Allow", "Principal": "*"', id="truncated"),
        pytest.param("not json at all", id="garbage"),
        pytest.param("[1, 2, 3]", id="not-an-object"),
        pytest.param('"*"', id="a-string"),
        pytest.param("[" * 30_000 + "]" * 30_000, id="deeply-nested"),
        pytest.param('{"a": ' + "1" * (policy.MAX_DOCUMENT + 1) + "}", id="huge"),
        pytest.param(None, id="null"),
    ],
)
def test_parse_trust_policy_reports_hostile_text_as_unparsed(text: str | None) -> None:
    assert policy.parse_trust_policy(text)["parsed"] is False


def test_parse_trust_policy_ignores_odd_shapes_inside_a_valid_document() -> None:
    nested: object = EXTERNAL
    for _ in range(500):  # deep, but within what the json module reads
        nested = [nested]
    statements = [
        "not a statement",
        {"Effect": "Allow", "Principal": {"AWS": nested}},
        {"Effect": "Allow", "Principal": {"AWS": 123456789012}},
        {"Effect": "Allow", "Principal": ["*"]},
        {"Effect": "Allow", "Principal": {"AWS": None}, "Condition": "x"},
    ]
    text = json.dumps({"Statement": statements})
    facts = policy.parse_trust_policy(text)
    assert (facts["parsed"], facts["wildcard"], facts["accounts"]) == (True, False, [])


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["Statement", "Effect", "Principal", "AWS", "Condition", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(_JSON)
def test_parse_trust_policy_never_raises_on_any_json(value: object) -> None:
    facts = policy.parse_trust_policy(json.dumps(value))
    assert set(facts) == set(policy.TRUST.to_schema())


@given(st.text(max_size=200))
def test_parse_trust_policy_never_raises_on_any_text(text: str) -> None:
    assert policy.parse_trust_policy(text)["parsed"] in (True, False)


def test_trust_facts_parses_each_distinct_document_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []
    real = policy.parse_trust_policy

    def counting(text: str | None) -> dict[str, Any]:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(policy, "parse_trust_policy", counting)
    wild, other = _doc(_allow("*")), _doc(_allow({"AWS": EXTERNAL}))
    frame = pl.DataFrame({"doc": [wild, None, other, wild, wild, None]})
    out = frame.select(policy.trust_facts(pl.col("doc")).struct.field("wildcard"))
    assert out.to_series().to_list() == [True, None, False, True, True, None]
    assert sorted(calls) == sorted([wild, other])


def test_wildcard_principal_falls_back_to_any_quoted_star_when_unparsed() -> None:
    truncated = '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"'
    huge = '{"Principal": "*", "pad": "' + "x" * policy.MAX_DOCUMENT + '"}'
    frame = pl.DataFrame({"doc": [truncated, huge, '{"Statement": [']})
    assert frame.select(policy.wildcard_principal(pl.col("doc"))).to_series().to_list() == [
        True,
        True,
        False,
    ]


def test_external_accounts_leaves_out_known_and_own_accounts() -> None:
    doc = _doc(_allow({"AWS": [EXTERNAL, f"arn:aws:iam::{PARTNER}:root", OWN]}))
    frame = pl.DataFrame({"doc": [doc, doc], "own": [OWN, EXTERNAL]})
    out = frame.select(policy.external_accounts(pl.col("doc"), {PARTNER}, pl.col("own")))
    assert out.to_series().to_list() == [[EXTERNAL], [OWN]]


def test_external_accounts_reads_twelve_digit_numbers_of_an_unparsed_document() -> None:
    truncated = f'{{"Statement": [{{"Principal": {{"AWS": "arn:aws:iam::{EXTERNAL}:root"'
    frame = pl.DataFrame({"doc": [truncated], "own": [OWN]})
    out = frame.select(policy.external_accounts(pl.col("doc"), set(), pl.col("own")))
    assert out.to_series().to_list() == [[EXTERNAL]]
