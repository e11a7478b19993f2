"""userIdentity shapes as CloudTrail writes them: Root, IAMUser, AssumedRole, services, SAML."""

from __future__ import annotations

from typing import Any

__all__ = [
    "assumed_role_identity",
    "iam_user_identity",
    "root_identity",
    "saml_identity",
    "service_identity",
    "web_identity",
]


def _session_context(
    created: str, mfa: bool, issuer: dict[str, str] | None = None, web: dict[str, Any] | None = None
) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    if issuer is not None:
        ctx["sessionIssuer"] = issuer
    ctx["webIdFederationData"] = web if web is not None else {}
    ctx["attributes"] = {"creationDate": created, "mfaAuthenticated": "true" if mfa else "false"}
    return ctx


def root_identity(
    account: str, *, access_key_id: str = "", created: str | None = None, mfa: bool = False
) -> dict[str, Any]:
    """userIdentity of the root user; with `created` it carries a console session context."""
    ident: dict[str, Any] = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": access_key_id,
    }
    if created is not None:
        ident["sessionContext"] = _session_context(created, mfa)
    return ident


def iam_user_identity(
    account: str,
    user_id: str,
    name: str,
    *,
    access_key_id: str | None = None,
    created: str | None = None,
    mfa: bool = False,
) -> dict[str, Any]:
    """userIdentity of an IAM user: a long-lived key (AKIA) or a console session (ASIA)."""
    ident: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": user_id,
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
    }
    if access_key_id is not None:
        ident["accessKeyId"] = access_key_id
    ident["userName"] = name
    if created is not None:
        ident["sessionContext"] = _session_context(created, mfa)
    return ident


def assumed_role_identity(
    account: str,
    role_id: str,
    role_name: str,
    role_path: str,
    session: str,
    *,
    access_key_id: str | None,
    created: str,
    mfa: bool = False,
    web: dict[str, Any] | None = None,
    invoked_by: str | None = None,
) -> dict[str, Any]:
    """userIdentity of a role session, with its sessionIssuer (the role) and attributes."""
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}",
        "accountId": account,
    }
    if access_key_id is not None:
        ident["accessKeyId"] = access_key_id
    issuer = {
        "type": "Role",
        "principalId": role_id,
        "arn": f"arn:aws:iam::{account}:role{role_path}{role_name}",
        "accountId": account,
        "userName": role_name,
    }
    ident["sessionContext"] = _session_context(created, mfa, issuer, web)
    if invoked_by is not None:
        ident["invokedBy"] = invoked_by
    return ident


def service_identity(invoked_by: str) -> dict[str, str]:
    """userIdentity of an AWS service acting on its own (type AWSService)."""
    return {"type": "AWSService", "invokedBy": invoked_by}


def saml_identity(user_name: str, provider_hash: str) -> dict[str, str]:
    """userIdentity of an Identity Center user calling AssumeRoleWithSAML."""
    return {
        "type": "SAMLUser",
        "principalId": f"{provider_hash}:{user_name}",
        "userName": user_name,
        "identityProvider": provider_hash,
    }


def web_identity(provider_arn: str, subject: str) -> dict[str, str]:
    """userIdentity of an OIDC caller (GitHub Actions) calling AssumeRoleWithWebIdentity."""
    return {
        "type": "WebIdentityUser",
        "principalId": f"{provider_arn}:sts.amazonaws.com:{subject}",
        "userName": subject,
        "identityProvider": provider_arn,
    }
