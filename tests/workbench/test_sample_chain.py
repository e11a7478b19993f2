"""On `sample_logs/`: the planted credential chain is traced hop by hop across two accounts, and
the look-alike chain (same roles, same session names) stays apart (issue 14, acceptance 2)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from cloudtrail_hunt.workbench.trace import trace
from tests.conftest import SAMPLE_LOGS

LABELS = {
    x["scenario"]: x
    for x in map(json.loads, (SAMPLE_LOGS / "labels.jsonl").read_text().splitlines())
}
CHAIN, DECOY = LABELS["credential-chain-cross-account"], LABELS["credential-chain-look-alike"]


def _caller_key(records: list[dict[str, Any]], label: dict[str, Any]) -> str:
    first = next(r for r in records if r["eventID"] == label["event_ids"][0])
    return first["userIdentity"]["accessKeyId"]


def test_the_planted_chain_is_traced_across_accounts(
    sample_lake: Path, sample_records: list[dict[str, Any]]
) -> None:
    traced = trace(sample_lake, access_key=_caller_key(sample_records, CHAIN))
    down = traced.links.filter(pl.col("depth") > 0).sort("depth")
    assert down["depth"].to_list() == [1, 2, 3]  # key -> role -> role in another account -> role
    assert down["how"].to_list() == ["AssumeRole"] * 3
    assert down["status"].to_list() == ["proven"] * 3
    assert down["parent_account"][0] == CHAIN["account"]
    assert down["cross_account"].to_list() == [False, True, False]
    assert down["child_account"][1] != CHAIN["account"]
    assert (down["events"] >= 2).all()  # every hop acted
    # Per-credential counts are the raw records' (read with the json module).
    raw = Counter(r["userIdentity"].get("accessKeyId") for r in sample_records)
    per = traced.activity.group_by("credential").agg(pl.col("events").sum())
    assert dict(per.iter_rows()) == {k: raw[k] for k in per["credential"]}
    assert set(per["credential"]) == {traced.start[0], *down["child"]}


def test_the_look_alike_chain_never_joins(
    sample_lake: Path, sample_records: list[dict[str, Any]]
) -> None:
    chain = trace(sample_lake, access_key=_caller_key(sample_records, CHAIN))
    decoy = trace(sample_lake, access_key=_caller_key(sample_records, DECOY))
    # Same role ARNs and session names on both sides ...
    names = {p.rsplit("/", 2)[-2:][0] for p in chain.links["child_principal"]}
    assert names == {p.rsplit("/", 2)[-2:][0] for p in decoy.links.filter(pl.col("depth") > 0)[
        "child_principal"]}  # fmt: skip
    # ... and not one credential or issuing event in common.
    mine = {*chain.links["parent"], *chain.links["child"]}
    theirs = {*decoy.links["parent"], *decoy.links["child"]}
    assert not mine & theirs
    assert not set(chain.links["issued_by"]) & set(decoy.links["issued_by"])
    # The decoy began with an Identity Center sign-in: traced upstream to the person.
    way_in = decoy.links.filter(pl.col("depth") == 0)
    assert way_in["how"].to_list() == ["AssumeRoleWithSAML"]
    assert way_in["parent"][0] == "saml:" + DECOY["principal"].rsplit("/", 1)[1]


def test_an_identity_center_person_is_traced_to_the_sessions_they_opened(
    sample_lake: Path, sample_records: list[dict[str, Any]]
) -> None:
    person = "saml:" + DECOY["principal"].rsplit("/", 1)[1]
    traced = trace(sample_lake, session=person)
    sign_ins = traced.links.filter(pl.col("depth") == 1)
    assert set(sign_ins["how"]) == {"AssumeRoleWithSAML"} and set(sign_ins["parent"]) == {person}
    raw = [
        r for r in sample_records
        if r["eventName"] == "AssumeRoleWithSAML"
        and r["userIdentity"].get("userName") == person.removeprefix("saml:")
    ]  # fmt: skip
    assert sorted(sign_ins["issued_by"]) == sorted(r["eventID"] for r in raw)
    # The look-alike chain hangs below one of those sign-ins.
    decoy = trace(sample_lake, access_key=_caller_key(sample_records, DECOY))
    assert set(decoy.links["child"]) <= set(traced.links["child"])
