"""Trust-policy parsing: who an IAM role's trust policy lets in, as Polars expressions.

lake (`requestParameters.policyDocument`) ──► **policy** ──► detections/aws_iam_06 match.
The guide's control-06 query reads trust policies with two regexes; its prose asks who the policy
trusts. This module parses each distinct document once (a handful per hunt) in a Python function
inside ``map_batches`` and hands the facts back as a struct column, so a detection's match stays
one expression. Documents are attacker-written: invalid, huge or deeply nested text never
raises; it is reported as unparsed and read with a conservative regex instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any
from urllib.parse import unquote

import polars as pl

#: IAM caps a role trust policy at 2,048 characters (4,096 with a quota raise); anything much
#: larger is not a trust policy IAM accepted, so it is not parsed
#: (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
MAX_DOCUMENT = 64 * 1024

#: What the parser says about one document.
TRUST = pl.Struct(
    {
        "parsed": pl.Boolean(),
        "wildcard": pl.Boolean(),
        "accounts": pl.List(pl.String()),
        "accounts_without_external_id": pl.List(pl.String()),
    }
)

_ACCOUNT = re.compile(r"\d{12}")
# IAM and STS principal ARNs carry the account in the fifth field (`arn:aws:iam::<id>:root`,
# `…:role/x`, `arn:aws:sts::<id>:assumed-role/…`), in every partition (aws, aws-cn, aws-us-gov).
_ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):.*")
# Read instead for a document the parser could not read (so never weaker than the guide's
# regexes): any quoted "*" is a wildcard, any 12-digit number a trusted account.
_ANY_WILDCARD = re.compile(r'"\s*\*\s*"')
_ANY_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")


def _unparsed(text: str | None) -> dict[str, Any]:
    text = text or ""
    accounts = sorted(set(_ANY_ACCOUNT.findall(text)))
    return {
        "parsed": False,
        "wildcard": _ANY_WILDCARD.search(text) is not None,
        "accounts": accounts,
        "accounts_without_external_id": accounts,
    }


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _has_external_id(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    return any(
        isinstance(keys, dict) and any(str(k).lower() == "sts:externalid" for k in keys)
        for keys in condition.values()
    )


def principal_account(value: str) -> str | None:
    value = value.strip()
    if _ACCOUNT.fullmatch(value):
        return value
    match = _ARN_ACCOUNT.fullmatch(value)
    return match[1] if match else None


def parse_trust_policy(text: str | None) -> dict[str, Any]:
    """Read who a trust policy's Allow statements let assume the role.

    Returns a dict in the :data:`TRUST` shape: ``parsed`` (False for anything that is not a
    readable policy), ``wildcard`` (an Allow statement trusts ``"*"``: as the whole
    ``Principal``, as any value of it, inside a list, or through ``NotPrincipal``), ``accounts``
    (the account ids of ``AWS`` principals: bare 12-digit ids and IAM/STS ARNs, sorted) and
    ``accounts_without_external_id`` (those trusted by a statement with no ``sts:ExternalId``
    condition). Deny statements never widen trust and are skipped. Text that is not a readable
    policy (invalid, over :data:`MAX_DOCUMENT`, not an object) is read conservatively: any
    quoted ``"*"`` is a wildcard and every 12-digit number a trusted account.

    Examples
    --------
    >>> facts = parse_trust_policy(
    ...     '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["111122223333", "*"]}}]}'
    ... )
    >>> facts["wildcard"], facts["accounts"]
    (True, ['111122223333'])
    >>> broken = parse_trust_policy('{"Statement": [{"Principal": {"AWS": "*"')
    >>> broken["parsed"], broken["wildcard"]
    (False, True)
    """
    if text is None or len(text) > MAX_DOCUMENT:
        return _unparsed(text)
    stripped = text.strip()
    if stripped[:3].upper() == "%7B":  # IAM sometimes logs the document URL-encoded
        stripped = unquote(stripped)
    try:
        document = json.loads(stripped)
    except (ValueError, RecursionError):
        return _unparsed(text)
    if not isinstance(document, dict):
        return _unparsed(text)
    wildcard = False
    accounts: set[str] = set()
    unconditioned: set[str] = set()
    for statement in _as_list(document.get("Statement")):
        if not isinstance(statement, dict) or str(statement.get("Effect", "")).lower() != "allow":
            continue
        if "NotPrincipal" in statement:  # Allow + NotPrincipal: everyone but the named ones
            wildcard = True
        principal = statement.get("Principal")
        if principal == "*":
            wildcard = True
            continue
        if not isinstance(principal, dict):
            continue
        for kind, values in principal.items():
            for value in _as_list(values):
                if not isinstance(value, str):
                    continue
                if value.strip() == "*":
                    wildcard = True
                elif kind == "AWS" and (account := principal_account(value)) is not None:
                    accounts.add(account)
                    if not _has_external_id(statement):
                        unconditioned.add(account)
    return {
        "parsed": True,
        "wildcard": wildcard,
        "accounts": sorted(accounts),
        "accounts_without_external_id": sorted(unconditioned),
    }


def _facts_batch(documents: pl.Series) -> pl.Series:
    # Parse each distinct document once, then join the facts back onto the rows.
    distinct = documents.drop_nulls().unique().to_list()
    if not distinct:  # the usual chunk: no event in it carries a trust policy
        return pl.repeat(None, len(documents), dtype=TRUST, eager=True)
    table = pl.DataFrame(
        {"document": distinct, "facts": [parse_trust_policy(d) for d in distinct]},
        schema={"document": pl.String(), "facts": TRUST},
    )
    rows = documents.cast(pl.String).rename("document").to_frame()
    return rows.join(table, on="document", how="left", maintain_order="left")["facts"]


def trust_facts(document: pl.Expr) -> pl.Expr:
    """The :data:`TRUST` struct of each row's trust-policy text (null where the text is null).

    Mask the column to the events that carry a trust policy first (``pl.when(...).then(doc)``)
    so only those documents are parsed. The function sees the whole column at once (one
    Python call per frame, not per chunk) and works row by row, so it is only for ``select``
    and ``with_columns``, not inside ``over`` or ``group_by``.

    Examples
    --------
    >>> df = pl.DataFrame(
    ...     {
    ...         "doc": [
    ...             '{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}}}',
    ...             '{"Statement": {"Effect": "Deny", "Principal": "*"}}',
    ...             None,
    ...         ]
    ...     }
    ... )
    >>> df.select(trust_facts(pl.col("doc")).struct.field("wildcard"))["wildcard"].to_list()
    [True, False, None]
    """
    # Elementwise (each document on its own), so the streaming engine can run it in morsels.
    return document.map_batches(_facts_batch, return_dtype=TRUST, is_elementwise=True)


def wildcard_principal(document: pl.Expr) -> pl.Expr:
    """An Allow statement trusts ``"*"``; for an unreadable document, any quoted ``"*"``.

    Examples
    --------
    >>> df = pl.DataFrame(
    ...     {
    ...         "doc": [
    ...             '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["a", "*"]}}]}',
    ...             '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "x"}}]}',
    ...             '{"Statement": [{"Principal": "*"',
    ...         ]
    ...     }
    ... )
    >>> df.select(wildcard_principal(pl.col("doc"))).to_series().to_list()
    [True, False, True]
    """
    return trust_facts(document).struct.field("wildcard").fill_null(False)


def trusted_accounts(document: pl.Expr) -> pl.Expr:
    """The account ids the document trusts; for an unreadable document, every 12-digit number.

    Examples
    --------
    >>> df = pl.DataFrame(
    ...     {
    ...         "doc": [
    ...             '{"Statement": {"Effect": "Allow", "Principal":'
    ...             ' {"AWS": "arn:aws:iam::111122223333:root"}}}',
    ...             "not json 444455556666",
    ...         ]
    ...     }
    ... )
    >>> df.select(trusted_accounts(pl.col("doc"))).to_series().to_list()
    [['111122223333'], ['444455556666']]
    """
    return trust_facts(document).struct.field("accounts")


def external_accounts(document: pl.Expr, known: Collection[str], own_account: pl.Expr) -> pl.Expr:
    """Trusted accounts that are neither `known` (the organisation, partners) nor the role's own.

    Examples
    --------
    >>> df = pl.DataFrame(
    ...     {
    ...         "doc": [
    ...             '{"Statement": {"Effect": "Allow", "Principal": {"AWS": '
    ...             '["111122223333", "444455556666", "777788889999"]}}}'
    ...         ],
    ...         "own": ["777788889999"],
    ...     }
    ... )
    >>> out = df.select(external_accounts(pl.col("doc"), {"111122223333"}, pl.col("own")))
    >>> out.to_series().to_list()
    [['444455556666']]
    """
    known_list = pl.lit(pl.Series([sorted(known)], dtype=pl.List(pl.String())))
    return (
        trusted_accounts(document)
        .list.set_difference(known_list)
        .list.set_difference(pl.concat_list(own_account.cast(pl.String)))
    )
