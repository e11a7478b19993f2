"""Principals that act: sign in, assume roles and call APIs, filing each record in the Trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudtrail_hunt.synth.identities import DOMAIN, IamUser, Org, Role
from cloudtrail_hunt.synth.records import (
    GLOBAL_SOURCES,
    Ids,
    api_call,
    assumed_role_identity,
    console_login,
    credentials,
    iam_user_identity,
    iso,
    root_identity,
    saml_identity,
    service_identity,
    web_identity,
)
from cloudtrail_hunt.synth.trail import Trail

__all__ = [
    "Actor",
    "UA",
    "assume_role",
    "iam_user_console",
    "key_actor",
    "role_actor",
    "root_console",
    "service_actor",
    "sso_login",
    "web_identity_login",
]

#: User agents of the clients that appear in the trail.
UA = {
    "console": "AWS Internal",
    "browser": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0.0.0 Safari/537.36"
    ),
    "mac": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.6 Safari/605.1.15"
    ),
    "cli": (
        "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.5.0-1024-aws md/arch#x86_64 "
        "lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
        "md/distrib#ubuntu.22 md/prompt#off"
    ),
    "boto3": (
        "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#5.10.227-219.884.amzn2.x86_64 "
        "md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
        "cfg/retry-mode#legacy Botocore/1.35.36"
    ),
    "go": "aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.1 md/GOOS#linux md/GOARCH#amd64",
    "terraform": (
        "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) "
        "terraform-provider-aws/5.70.0 (+https://registry.terraform.io/providers/hashicorp"
        "/aws) aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.1 md/GOOS#linux "
        "md/GOARCH#amd64"
    ),
    "python": "python-requests/2.32.3",
}
GITHUB_OIDC = "token.actions.githubusercontent.com"


@dataclass(slots=True)
class Actor:
    """A principal able to make calls: its userIdentity, where it calls from and how."""

    identity: dict[str, Any]
    account: str
    ip: str
    ua: str
    console: bool = False
    service: bool = False
    region: str = "us-east-1"

    @property
    def arn(self) -> str:
        return str(
            self.identity.get("arn")
            or self.identity.get("invokedBy")
            or self.identity.get("userName")
        )

    def call(
        self,
        trail: Trail,
        ids: Ids,
        t: int,
        source: str,
        name: str,
        *,
        region: str | None = None,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
        read_only: bool = False,
        resources: list[dict[str, str]] | None = None,
        additional: dict[str, Any] | None = None,
        version: str = "1.09",
        account: str | None = None,
        request_id: str = "uuid",
        shared: bool = False,
    ) -> dict[str, Any]:
        """Make one API call at `t`; global services are logged in us-east-1."""
        where = "us-east-1" if source in GLOBAL_SOURCES else (region or self.region)
        rec = api_call(
            ids,
            identity=self.identity,
            t=t,
            source=source,
            name=name,
            region=where,
            account=account or self.account,
            ip=self.ip,
            ua=self.ua,
            request=request,
            response=response,
            error=error,
            read_only=read_only,
            resources=resources,
            additional=additional,
            version=version,
            console=self.console,
            tls_host=None if self.service else "auto",
            request_id=request_id,
            shared=shared,
        )
        return trail.add(t, rec)


def role_actor(
    ids: Ids,
    role: Role,
    session: str,
    created: int,
    *,
    ip: str,
    ua: str,
    mfa: bool = False,
    web: dict[str, Any] | None = None,
    invoked_by: str | None = None,
    console: bool = False,
    region: str = "us-east-1",
) -> Actor:
    """A session of `role` created at `created` (the AssumeRole event is not emitted)."""
    ident = assumed_role_identity(
        role.account,
        role.role_id,
        role.name,
        role.path,
        session,
        access_key_id=ids.key_id("ASIA"),
        created=iso(created),
        mfa=mfa,
        web=web,
        invoked_by=invoked_by,
    )
    return Actor(
        ident, role.account, ip, ua, console=console, service=invoked_by is not None, region=region
    )


def service_actor(account: str, service: str) -> Actor:
    """An AWS service acting on its own (AWSService identity, no TLS details)."""
    return Actor(service_identity(service), account, service, service, service=True)


def key_actor(user: IamUser, key_id: str, *, ip: str, ua: str, region: str = "us-east-1") -> Actor:
    """An IAM user (or root) calling with a long-lived access key."""
    if user.name == "<root_account>":
        ident = root_identity(user.account, access_key_id=key_id)
    else:
        ident = iam_user_identity(user.account, user.user_id, user.name, access_key_id=key_id)
    return Actor(ident, user.account, ip, ua, region=region)


def _token(ids: Ids) -> str:
    return "IQoJb3JpZ2luX2VjE" + ids.b64(340)


def assume_role(
    trail: Trail,
    ids: Ids,
    actor: Actor,
    t: int,
    role: Role,
    session: str,
    *,
    region: str = "us-east-1",
    error: tuple[str, str] | None = None,
    ip: str | None = None,
    ua: str | None = None,
    external_id: str | None = None,
) -> tuple[dict[str, Any], Actor]:
    """`actor` calls sts:AssumeRole on `role`; returns the record and the new session's actor."""
    request: dict[str, Any] = {"roleArn": role.arn, "roleSessionName": session}
    if external_id is not None:
        request["externalId"] = external_id
    new = role_actor(ids, role, session, t, ip=ip or actor.ip, ua=ua or actor.ua, region=region)
    response = None
    if error is None:
        creds = credentials(ids, t, _token(ids))
        creds["accessKeyId"] = new.identity["accessKeyId"]
        response = {
            "credentials": creds,
            "assumedRoleUser": {
                "assumedRoleId": new.identity["principalId"],
                "arn": new.identity["arn"],
            },
        }
    rec = actor.call(
        trail,
        ids,
        t,
        "sts.amazonaws.com",
        "AssumeRole",
        region=region,
        request=request,
        response=response,
        error=error,
        read_only=True,
        resources=[{"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.arn}],
        account=role.account,
        shared=actor.account != role.account,
    )
    return rec, new


def sso_login(
    trail: Trail,
    ids: Ids,
    org: Org,
    account: str,
    person: str,
    permission_set: str,
    t: int,
    *,
    ip: str,
    ua: str,
) -> tuple[list[dict[str, Any]], Actor]:
    """An Identity Center sign-in: AssumeRoleWithSAML, then the federated ConsoleLogin.

    The ConsoleLogin is by an AssumedRole whose issuer is the ``AWSReservedSSO_`` role, and its
    MFAUsed is "No" because MFA happened at the identity provider, not in AWS.
    """
    email = f"{person}@{DOMAIN}"
    role = org.role(account, org.sso_role(account, permission_set))
    session = role_actor(ids, role, email, t, ip=ip, ua=UA["console"], console=True)
    creds = credentials(ids, t, _token(ids), hours=8)
    creds["accessKeyId"] = session.identity["accessKeyId"]
    saml = Actor(
        saml_identity(email, org.saml_hash),
        account,
        "52.94.133.131",
        "aws-internal/3 aws-sdk-java/1.12.746 Linux/5.10.226-192.879.amzn2int.x86_64 "
        "OpenJDK_64-Bit_Server_VM/25.422-b05 java/1.8.0_422 vendor/Oracle_Corporation "
        "cfg/retry-mode/standard",
    )
    rec1 = saml.call(
        trail,
        ids,
        t,
        "sts.amazonaws.com",
        "AssumeRoleWithSAML",
        read_only=True,
        request={
            "sAMLAssertionID": "_" + ids.uuid(),
            "roleSessionName": email,
            "durationSeconds": 28800,
            "roleArn": role.arn,
            "principalArn": org.saml_provider[account],
        },
        response={
            "subjectType": "persistent",
            "issuer": f"https://portal.sso.us-east-1.amazonaws.com/saml/assertion/{ids.b64(48)}",
            "credentials": creds,
            "nameQualifier": org.saml_hash,
            "assumedRoleUser": {
                "assumedRoleId": session.identity["principalId"],
                "arn": session.identity["arn"],
            },
            "subject": email,
            "audience": "https://signin.aws.amazon.com/saml",
        },
        resources=[
            {"accountId": account, "type": "AWS::IAM::Role", "ARN": role.arn},
            {
                "accountId": account,
                "type": "AWS::IAM::SAMLProvider",
                "ARN": org.saml_provider[account],
            },
        ],
    )
    login_ident = {k: v for k, v in session.identity.items() if k != "accessKeyId"}
    rec2 = trail.add(
        t + 1,
        console_login(
            ids, identity=login_ident, t=t + 1, account=account, ip=ip, ua=ua, mfa_used="No"
        ),
    )
    return [rec1, rec2], session


def iam_user_console(
    trail: Trail, ids: Ids, user: IamUser, t: int, *, ip: str, ua: str, mfa: bool
) -> tuple[dict[str, Any], Actor]:
    """An IAM user signs in to the console; returns the ConsoleLogin and the console session."""
    acct = user.account
    ident = iam_user_identity(acct, user.user_id, user.name)
    serial = f"arn:aws:iam::{acct}:mfa/{user.name}" if mfa else None
    rec = trail.add(
        t,
        console_login(
            ids,
            identity=ident,
            t=t,
            account=acct,
            ip=ip,
            ua=ua,
            mfa_used="Yes" if mfa else "No",
            mfa_identifier=serial,
        ),
    )
    sess = iam_user_identity(
        acct, user.user_id, user.name, access_key_id=ids.key_id("ASIA"), created=iso(t), mfa=mfa
    )
    return rec, Actor(sess, acct, ip, UA["console"], console=True)


def root_console(
    trail: Trail, ids: Ids, account: str, t: int, *, ip: str, ua: str, mfa: bool
) -> tuple[dict[str, Any], Actor]:
    """The root user signs in to the console; returns the ConsoleLogin and the root session."""
    serial = f"arn:aws:iam::{account}:mfa/root-account-mfa-device" if mfa else None
    rec = trail.add(
        t,
        console_login(
            ids,
            identity=root_identity(account),
            t=t,
            account=account,
            ip=ip,
            ua=ua,
            mfa_used="Yes" if mfa else "No",
            mfa_identifier=serial,
        ),
    )
    sess = root_identity(account, access_key_id=ids.key_id("ASIA"), created=iso(t), mfa=mfa)
    return rec, Actor(sess, account, ip, UA["console"], console=True)


def web_identity_login(
    trail: Trail, ids: Ids, role: Role, t: int, *, repo: str, ip: str
) -> tuple[dict[str, Any], Actor]:
    """GitHub Actions exchanges its OIDC token for a `role` session (AssumeRoleWithWebIdentity)."""
    acct = role.account
    provider = f"arn:aws:iam::{acct}:oidc-provider/{GITHUB_OIDC}"
    subject = f"repo:{repo}:ref:refs/heads/main"
    web = {"federatedProvider": provider, "attributes": {}}
    session = role_actor(ids, role, "GitHubActions", t, ip=ip, ua=UA["terraform"], web=web)
    creds = credentials(ids, t, _token(ids))
    creds["accessKeyId"] = session.identity["accessKeyId"]
    caller = Actor(
        web_identity(provider, subject),
        acct,
        ip,
        "aws-sdk-js/3.654.0 ua/2.0 os/linux#6.5.0-1025-azure lang/js md/nodejs#20.17.0 "
        "api/sts#3.654.0 m/E,e",
    )
    rec = caller.call(
        trail,
        ids,
        t,
        "sts.amazonaws.com",
        "AssumeRoleWithWebIdentity",
        read_only=True,
        request={"roleArn": role.arn, "roleSessionName": "GitHubActions", "durationSeconds": 3600},
        response={
            "credentials": creds,
            "subjectFromWebIdentityToken": subject,
            "assumedRoleUser": {
                "assumedRoleId": session.identity["principalId"],
                "arn": session.identity["arn"],
            },
            "provider": provider,
            "audience": "sts.amazonaws.com",
        },
        resources=[{"accountId": acct, "type": "AWS::IAM::Role", "ARN": role.arn}],
    )
    return rec, session
