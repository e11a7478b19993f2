"""Generated credential chains for trace tests: the planted links and their event counts.

A chain starts from an IAM user's access key and branches: each credential obtains children by
AssumeRole (into any of three accounts, so hops cross accounts), and a user key also by
GetSessionToken, GetFederationToken or CreateAccessKey. Each credential then makes some calls
(possibly none: the trace must say it was never seen). Some AssumeRole responses carry no key
(the trace infers the session from its ARN and creation time). Decoys use the same role and
session names from other keys, and failed AssumeRole calls issue nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.conftest import make_event

ACCOUNTS = ("111111111111", "222222222222", "033333333333")
ROLES = ("deploy-role", "deploy-role2", "Deploy-Role", "admin")
SESSIONS = ("deploy", "deploy-1", "ci")
T0 = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass
class Planted:
    """The records and what the trace must find from `root`."""

    root: str
    records: list[dict[str, Any]] = field(default_factory=list)
    #: (depth, parent, child, how, status, cross_account) of every link downstream of root.
    links: list[tuple[Any, ...]] = field(default_factory=list)
    #: events made by each credential of the chain (root included).
    counts: dict[str, int] = field(default_factory=dict)
    _n: int = 0

    def tick(self) -> str:
        self._n += 1
        return (T0 + timedelta(seconds=7 * self._n)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def uid(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:016d}"


def _user(account: str, name: str, key: str) -> dict[str, Any]:
    return {
        "type": "IAMUser", "principalId": f"AIDA{name.upper()}",
        "arn": f"arn:aws:iam::{account}:user/{name}", "accountId": account,
        "accessKeyId": key, "userName": name,
    }  # fmt: skip


def _session(account: str, role: str, session: str, key: str, created: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole", "principalId": f"AROA{role.upper()}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": f"AROA{role.upper()}",
                              "arn": f"arn:aws:iam::{account}:role/{role}",
                              "accountId": account, "userName": role},
            "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
        },
    }  # fmt: skip


@dataclass
class _Node:
    key: str
    identity: dict[str, Any]
    account: str
    depth: int


def _call(p: Planted, node: _Node, name: str, **fields: Any) -> dict[str, Any]:
    record = make_event(
        userIdentity=node.identity, eventTime=fields.pop("eventTime", None) or p.tick(),
        eventName=name,
        eventID=p.uid("ev-"), recipientAccountId=fields.pop("account", node.account), **fields,
    )  # fmt: skip
    p.records.append(record)
    return record


def _issue(draw: st.DrawFn, p: Planted, parent: _Node, track: bool) -> _Node | None:
    """`parent` obtains one credential; returns it (None: the call failed, nothing issued)."""
    is_user = parent.key.startswith("AKIA") and parent.identity["type"] == "IAMUser"
    kinds = ["AssumeRole", "GetSessionToken", "GetFederationToken", "CreateAccessKey"]
    how = draw(st.sampled_from(kinds if is_user else kinds[:1]))
    account = draw(st.sampled_from(ACCOUNTS)) if how == "AssumeRole" else parent.account
    if how == "AssumeRole" and draw(st.integers(0, 5)) == 0:  # denied: issues nothing
        role = draw(st.sampled_from(ROLES))
        _call(p, parent, "AssumeRole", eventSource="sts.amazonaws.com", errorCode="AccessDenied",
              requestParameters={"roleArn": f"arn:aws:iam::{account}:role/{role}",
                                 "roleSessionName": "x"})  # fmt: skip
        if track:
            p.counts[parent.key] += 1
        return None
    created = p.tick()
    key = p.uid("AKIA" if how == "CreateAccessKey" else "ASIA")
    keyless = False
    if how == "AssumeRole":
        role, session = draw(st.sampled_from(ROLES)), draw(st.sampled_from(SESSIONS))
        child = _session(account, role, session, key, created)
        keyless = draw(st.integers(0, 4)) == 0
        request = {"roleArn": f"arn:aws:iam::{account}:role/{role}", "roleSessionName": session}
        response = None if keyless else {
            "credentials": {"accessKeyId": key, "sessionToken": "t", "expiration": "x"},
            "assumedRoleUser": {"assumedRoleId": "AROA:x", "arn": child["arn"]},
        }  # fmt: skip
    elif how == "GetSessionToken":
        child = {**parent.identity, "accessKeyId": key,
                 "sessionContext": {"attributes": {"creationDate": created}}}  # fmt: skip
        request, response = {"durationSeconds": 3600}, {"credentials": {"accessKeyId": key}}
    elif how == "GetFederationToken":
        name = draw(st.sampled_from(SESSIONS))
        arn = f"arn:aws:sts::{account}:federated-user/{name}"
        child = {"type": "FederatedUser", "principalId": f"{account}:{name}", "arn": arn,
                 "accountId": account, "accessKeyId": key}  # fmt: skip
        request = {"name": name}
        response = {"credentials": {"accessKeyId": key}, "federatedUser": {"arn": arn}}
    else:
        name = f"backdoor-{p.uid('')[-4:]}"
        child = _user(account, name, key)
        request = {"userName": name}
        response = {"accessKey": {"accessKeyId": key, "userName": name, "status": "Active"}}
    source = "iam.amazonaws.com" if how == "CreateAccessKey" else "sts.amazonaws.com"
    # The role's account receives the AssumeRole event; the caller's account made it.
    _call(p, parent, how, eventSource=source, requestParameters=request,
          responseElements=response, account=account, eventTime=created)  # fmt: skip
    if track:
        p.counts[parent.key] += 1
    node = _Node(key, child, account, parent.depth + 1)
    calls = draw(st.integers(0, 3))
    for _ in range(calls):
        _call(p, node, draw(st.sampled_from(["ListBuckets", "DescribeInstances", "GetObject"])))
    if track:
        p.counts[key] = calls
        status = "inferred" if keyless else "seen?"  # settled once the whole tree exists
        child_id = key if not (keyless and calls == 0) else f"session:{child['arn']}"
        p.links.append((node.depth, parent.key, child_id, how, status, account != parent.account))
    node.key = key if not (keyless and calls == 0) else f"session:{child['arn']}"
    return node


def _grow(draw: st.DrawFn, p: Planted, root: _Node, depth: int, track: bool) -> None:
    level = [root]
    for d in range(1, depth + 1):
        following = []
        for i, parent in enumerate(level):
            if parent.key.startswith("session:"):
                continue  # a session never seen cannot call anything
            wanted = draw(st.integers(1 if i == 0 else 0, 2 if len(level) < 4 else 1))
            for _ in range(wanted):
                child = _issue(draw, p, parent, track)
                if child is not None:
                    following.append(child)
        if d < depth and not following:
            return
        level = following


@st.composite
def chains(draw: st.DrawFn) -> Planted:
    """A planted chain of depth 1-5 with branches, plus a decoy chain with look-alike names."""
    p = Planted(root="")
    root_key = p.uid("AKIA")
    p.root = root_key
    p.counts[root_key] = 0
    depth = draw(st.integers(1, 5))
    root = _Node(root_key, _user(ACCOUNTS[0], "legacy-deployer", root_key), ACCOUNTS[0], 0)
    decoy_key = p.uid("AKIA")
    decoy = _Node(decoy_key, _user(ACCOUNTS[0], "legacy-deployer2", decoy_key), ACCOUNTS[0], 0)
    _grow(draw, p, root, depth, track=True)
    _grow(draw, p, decoy, draw(st.integers(1, 3)), track=False)
    # A key never seen as a caller (no calls, nothing issued) is `unused`.
    p.links = [
        (*x[:4], ("proven" if p.counts[x[2]] else "unused") if x[4] == "seen?" else x[4], x[5])
        for x in p.links
    ]
    return p
