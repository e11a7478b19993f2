"""The synthetic organisation: accounts, roles, IAM users with credential state, SSO people."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from cloudtrail_hunt.synth.records import Ids

__all__ = [
    "ALLOWED_REGIONS",
    "AccessKey",
    "Account",
    "IamUser",
    "Org",
    "Role",
    "Timeline",
    "build_org",
]

ALLOWED_REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")
DAY = 86400
DOMAIN = "acme.example"
BREAK_GLASS_PREFIX = "break-glass-"
PERMISSION_SETS = ("AdministratorAccess", "ReadOnlyAccess", "Developer", "SecurityAudit")
#: Identity Center people and the permission set each signs in with.
PEOPLE = (
    ("alice.martin", "AdministratorAccess"),
    ("bruno.silva", "ReadOnlyAccess"),
    ("chen.wei", "SecurityAudit"),
    ("dana.kim", "Developer"),
    ("eli.cohen", "Developer"),
    ("finn.olsen", "Developer"),
    ("gus.moreau", "Developer"),
    ("hana.sato", "Developer"),
    ("ivan.petrov", "ReadOnlyAccess"),
    ("jo.adams", "AdministratorAccess"),
    ("kai.berg", "ReadOnlyAccess"),
    ("lena.fischer", "Developer"),
)
AUDIT_FUNCTION = "credential-report-audit"
AUDIT_ROLE = "credential-report-audit-role"
SSO_PATH = "/aws-reserved/sso.amazonaws.com/"


class Timeline:
    """A value that changes at known instants: ``at(t)`` is the last value set at or before t."""

    __slots__ = ("points",)

    def __init__(self, initial: Any) -> None:
        self.points: list[tuple[int, Any]] = [(-(2**62), initial)]

    def set(self, t: int, value: Any) -> None:
        """Record that the value becomes `value` at `t`."""
        self.points.append((t, value))
        self.points.sort(key=lambda p: p[0])

    def at(self, t: int) -> Any:
        """The value in force at `t`."""
        value = self.points[0][1]
        for when, v in self.points:
            if when > t:
                break
            value = v
        return value


@dataclass(frozen=True, slots=True)
class Account:
    """One AWS account of the organisation."""

    id: str
    name: str
    email: str
    index: int
    management: bool


@dataclass(slots=True)
class Role:
    """An IAM role; `path` is ``/`` or e.g. ``/aws-service-role/config.amazonaws.com/``."""

    account: str
    name: str
    role_id: str
    path: str = "/"

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"


@dataclass(slots=True)
class AccessKey:
    """A long-lived access key; `active` flips with CreateAccessKey / UpdateAccessKey.

    `prior_use` is the last use before the trail starts: ``(t, region, service)`` or None.
    """

    key_id: str
    created: int
    active: Timeline
    prior_use: tuple[int, str, str] | None = None


@dataclass(slots=True)
class IamUser:
    """An IAM user (or, with ``name == "<root_account>"``, the root user) and its credentials."""

    account: str
    name: str
    user_id: str
    created: int
    password: Timeline  # bool: a LoginProfile exists
    password_changed: int | None = None
    prior_login: int | None = None
    mfa: Timeline = field(default_factory=lambda: Timeline(False))
    keys: list[AccessKey] = field(default_factory=list)

    @property
    def arn(self) -> str:
        if self.name == "<root_account>":
            return f"arn:aws:iam::{self.account}:root"
        return f"arn:aws:iam::{self.account}:user/{self.name}"


@dataclass(slots=True)
class Org:
    """Everything the generators share about the organisation (read-only after `build_org`)."""

    org_id: str
    root_id: str
    accounts: list[Account]
    partners: list[str]
    externals: list[str]
    start: int
    days: int
    trail_bucket: str
    sso_instance: str
    identity_store: str
    saml_hash: str
    saml_provider: dict[str, str]
    permission_sets: dict[str, str]  # name -> ps id
    sso_suffix: dict[tuple[str, str], str]  # (account, permission set) -> 16 hex
    scps: dict[str, str]  # policy name -> p-id
    roles: dict[tuple[str, str], Role]
    users: dict[tuple[str, str], IamUser]
    roots: dict[str, IamUser]
    office_ips: list[str]
    workload_ips: list[str]

    @property
    def management(self) -> Account:
        return self.accounts[0]

    @property
    def members(self) -> list[Account]:
        return self.accounts[1:]

    def role(self, account: str, name: str) -> Role:
        return self.roles[(account, name)]

    def user(self, account: str, name: str) -> IamUser:
        return self.users[(account, name)]

    def sso_role(self, account: str, permission_set: str) -> str:
        return f"AWSReservedSSO_{permission_set}_{self.sso_suffix[(account, permission_set)]}"

    def scp_arn(self, name: str) -> str:
        mgmt = self.management.id
        return (
            f"arn:aws:organizations::{mgmt}:policy/{self.org_id}/service_control_policy/"
            f"{self.scps[name]}"
        )

    def boundary_arn(self, account: str) -> str:
        """The canonical, organisation-published permission boundary of `account`."""
        return f"arn:aws:iam::{account}:policy/dev-permission-boundary"


_ACCOUNT_NAMES = ("management", "prod", "dev")
#: Roles present in every account, and those only member accounts hold.
_COMMON_ROLES = (AUDIT_ROLE, "OrganizationAccountAccessRole", "iam-key-rotator-role")
_MEMBER_ROLES = (
    "ci-deploy",
    "app-runtime-role",
    "orders-api-lambda-role",
    "SecurityAuditRole",
    "deploy-role",
    "data-export-role",
    "ecs-task-role",
)


def _account_ids(ids: Ids, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        # The second account keeps a leading zero: readers that parse ids as numbers lose it.
        acct = "0" + ids.digits(11) if len(out) == 1 else ids.digits(12)
        if acct not in out:
            out.append(acct)
    return out


def build_org(seed: int, n_accounts: int, start: int, days: int) -> Org:
    """Build the organisation deterministically from `seed`.

    Parameters
    ----------
    seed
        Run seed; the organisation uses its own RNG stream derived from it.
    n_accounts
        Number of accounts; the first is the management account.
    start, days
        First second of the trail (midnight UTC) and its length in days.

    Returns
    -------
    Org
        Accounts, roles, the baseline IAM users of every account and their credential state.
    """
    ids = Ids(random.Random(f"{seed}/org"))
    accts = _account_ids(ids, n_accounts + 5)
    accounts = []
    for i, acct in enumerate(accts[:n_accounts]):
        name = _ACCOUNT_NAMES[i] if i < len(_ACCOUNT_NAMES) else f"workload-{i:02d}"
        accounts.append(Account(acct, f"acme-{name}", f"aws+{name}@{DOMAIN}", i, i == 0))
    org = Org(
        org_id="o-" + "".join(ids.rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=10)),
        root_id="r-" + ids.hex(4),
        accounts=accounts,
        partners=accts[n_accounts : n_accounts + 2],
        externals=accts[n_accounts + 2 :],
        start=start,
        days=days,
        trail_bucket=f"acme-org-cloudtrail-{accts[0]}",
        sso_instance=f"arn:aws:sso:::instance/ssoins-{ids.hex(16)}",
        identity_store=f"d-{ids.hex(10)}",
        saml_hash=ids.b64(27) + "=",
        saml_provider={},
        permission_sets={ps: f"ps-{ids.hex(16)}" for ps in PERMISSION_SETS},
        sso_suffix={},
        scps={
            name: f"p-{ids.hex(8)}"
            for name in (
                "deny-destructive",
                "deny-root-create-access-key",
                "deny-root-without-mfa",
                "tagging-policy",
            )
        },
        roles={},
        users={},
        roots={},
        office_ips=[f"198.51.100.{n}" for n in (23, 24, 57, 58)],
        workload_ips=["3.248.12.77", "34.240.91.18", "52.19.144.203", "54.171.8.66"],
    )
    for a in accounts:
        org.saml_provider[a.id] = (
            f"arn:aws:iam::{a.id}:saml-provider/AWSSSO_{ids.hex(16)}_DO_NOT_DELETE"
        )
        for ps in PERMISSION_SETS:
            org.sso_suffix[(a.id, ps)] = ids.hex(16)
        names = _COMMON_ROLES + (("security-scanner-role",) if a.management else _MEMBER_ROLES)
        for name in names:
            org.roles[(a.id, name)] = Role(a.id, name, ids.unique_id("AROA"))
        cfg = Role(
            a.id,
            "AWSServiceRoleForConfig",
            ids.unique_id("AROA"),
            "/aws-service-role/config.amazonaws.com/",
        )
        org.roles[(a.id, cfg.name)] = cfg
        for ps in PERMISSION_SETS:
            sso = Role(a.id, org.sso_role(a.id, ps), ids.unique_id("AROA"), SSO_PATH)
            org.roles[(a.id, sso.name)] = sso
        _baseline_users(org, ids, a)
    return org


def _baseline_users(org: Org, ids: Ids, a: Account) -> None:
    """Root, a break-glass user with MFA and a metrics-exporter key user: a clean account."""
    s = org.start
    root = IamUser(
        a.id,
        "<root_account>",
        a.id,
        s - 900 * DAY,
        Timeline(True),
        prior_login=s - 120 * DAY,
        mfa=Timeline(True),
    )
    org.roots[a.id] = root
    bg = add_user(
        org, ids, a.id, "break-glass-admin", created=s - 700 * DAY, password=True, mfa=True
    )
    bg.prior_login = s - 8 * DAY - 3600 * (a.index % 9)
    exporter = add_user(org, ids, a.id, "svc-metrics-exporter", created=s - 400 * DAY)
    add_key(ids, exporter, created=s - 15 * DAY, prior_use=(s - 3600, "eu-west-1", "monitoring"))


def add_user(
    org: Org,
    ids: Ids,
    account: str,
    name: str,
    *,
    created: int,
    password: bool = False,
    mfa: bool = False,
    password_changed: int | None = None,
) -> IamUser:
    """Register an IAM user that exists before the trail starts."""
    user = IamUser(
        account,
        name,
        ids.unique_id("AIDA"),
        created,
        Timeline(password),
        password_changed=(password_changed or created) if password else None,
        mfa=Timeline(mfa),
    )
    org.users[(account, name)] = user
    return user


def add_key(
    ids: Ids,
    user: IamUser,
    *,
    created: int,
    active: bool = True,
    prior_use: tuple[int, str, str] | None = None,
) -> AccessKey:
    """Give `user` an access key created at `created` (before or during the trail)."""
    key = AccessKey(ids.key_id("AKIA"), created, Timeline(False), prior_use)
    key.active.set(created, active)
    user.keys.append(key)
    return key
