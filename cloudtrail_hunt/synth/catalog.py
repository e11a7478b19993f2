"""The benign API catalog: which principals call which read-only APIs, as record templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudtrail_hunt.synth.actors import UA
from cloudtrail_hunt.synth.apis import BROWSE, METRICS, WORKLOAD, WRITES, Api, Params
from cloudtrail_hunt.synth.identities import ALLOWED_REGIONS, DOMAIN, Org, Role
from cloudtrail_hunt.synth.records import (
    GLOBAL_SOURCES,
    Ids,
    api_call,
    assumed_role_identity,
    iam_user_identity,
    iso,
    service_identity,
)

__all__ = ["Principal", "Template", "build_templates"]

K_PLAIN, K_S3, K_ASSUME = 0, 1, 2


class Principal:
    """A bulk-traffic caller: a static identity, or a role whose session is renewed each hour."""

    __slots__ = (
        "_cache",
        "_ids",
        "identity",
        "ip",
        "key_id",
        "role",
        "session",
        "service",
        "ua",
        "console",
        "invoked_by",
        "mfa",
    )

    def __init__(
        self,
        *,
        identity: dict[str, Any] | None = None,
        role: Role | None = None,
        session: str = "",
        ip: str,
        ua: str,
        ids: Ids,
        key_id: str | None = None,
        console: bool = False,
        invoked_by: str | None = None,
        mfa: bool = False,
    ) -> None:
        self.identity = identity
        self.role, self.session, self.ip, self.ua, self._ids = role, session, ip, ua, ids
        self.key_id, self.console, self.invoked_by, self.mfa = key_id, console, invoked_by, mfa
        self.service = invoked_by is not None or (identity or {}).get("type") == "AWSService"
        self._cache: dict[int, dict[str, Any]] = {}

    def at_hour(self, hour: int) -> dict[str, Any]:
        """The session identity in force during absolute hour `hour` (epoch // 3600)."""
        ident = self._cache.get(hour)
        if ident is None:
            role = self.role
            assert role is not None
            # Sessions are renewed a few minutes before the hour, so creationDate <= eventTime.
            created = hour * 3600 - 60 - self._ids.rng.randrange(600)
            ident = assumed_role_identity(
                role.account,
                role.role_id,
                role.name,
                role.path,
                self.session,
                access_key_id=self._ids.key_id("ASIA"),
                created=iso(created),
                mfa=self.mfa,
                invoked_by=self.invoked_by,
            )
            self._cache[hour] = ident
        return ident


@dataclass(slots=True)
class Template:
    """A prebuilt record; the bulk loop copies it and fills time, ids and the session."""

    rec: dict[str, Any]
    kind: int
    principal: Principal | None
    key_id: str | None
    service: str
    #: For AssumeRole templates: (assumedRoleUser block, session token) reused by every copy.
    extra: tuple[dict[str, str], str] | None = None


def _principals(
    org: Org, acct: str, region: str, ids: Ids
) -> list[tuple[Principal, tuple[Api, ...], int]]:
    """(principal, API list, weight) of the bulk callers of one account and region."""
    out: list[tuple[Principal, tuple[Api, ...], int]] = []
    member = acct != org.management.id
    cfg = org.role(acct, "AWSServiceRoleForConfig")
    out.append(
        (
            Principal(
                role=cfg,
                session="AWSConfig-Describe",
                ip="config.amazonaws.com",
                ua="config.amazonaws.com",
                ids=ids,
                invoked_by="config.amazonaws.com",
            ),
            BROWSE,
            14,
        )
    )
    if region not in ALLOWED_REGIONS:
        return out  # only AWS services act in regions the SCP denies to everyone else
    people = (
        ("bruno.silva", "ReadOnlyAccess"),
        ("alice.martin", "AdministratorAccess"),
        ("kai.berg", "ReadOnlyAccess"),
        ("lena.fischer", "Developer"),
    )
    for k, (person, ps) in enumerate(people):
        role = org.role(acct, org.sso_role(acct, ps))
        out.append(
            (
                Principal(
                    role=role,
                    session=f"{person}@{DOMAIN}",
                    ip=org.office_ips[k],
                    ua=UA["console"],
                    ids=ids,
                    console=True,
                ),
                BROWSE,
                6,
            )
        )
    scanner = "SecurityAuditRole" if member else "security-scanner-role"
    out.append(
        (
            Principal(
                role=org.role(acct, scanner),
                session="security-scanner",
                ip=org.workload_ips[0],
                ua=UA["boto3"],
                ids=ids,
            ),
            BROWSE,
            10,
        )
    )
    exporter = org.user(acct, "svc-metrics-exporter")
    key = exporter.keys[0].key_id
    ident = iam_user_identity(acct, exporter.user_id, exporter.name, access_key_id=key)
    out.append(
        (
            Principal(
                identity=ident,
                ip="192.0.2.10",
                ua=UA["boto3"].replace(" exec-env/AWS_Lambda_python3.12", ""),
                ids=ids,
                key_id=key,
            ),
            METRICS,
            6,
        )
    )
    if member:
        for name, session, ua, weight in (
            ("app-runtime-role", f"i-0{ids.hex(16)}", UA["go"], 14),
            ("orders-api-lambda-role", "orders-api", UA["boto3"], 12),
            ("ecs-task-role", ids.hex(32), UA["boto3"], 6),
        ):
            p = Principal(
                role=org.role(acct, name),
                session=session,
                ids=ids,
                ua=ua,
                ip=org.workload_ips[1 + len(name) % 3],
            )
            out.append((p, WORKLOAD, weight))
            if name == "app-runtime-role":
                out.append((p, WRITES, 2))
    return out


def _service_assumes(org: Org, acct: str) -> list[tuple[str, Role, str]]:
    """(invoking service, role, session name) of routine AWSService AssumeRole calls."""
    cfg = org.role(acct, "AWSServiceRoleForConfig")
    out = [("config.amazonaws.com", cfg, "AWSConfig-Describe")]
    if acct != org.management.id:
        out += [
            ("lambda.amazonaws.com", org.role(acct, "orders-api-lambda-role"), "orders-api"),
            ("ec2.amazonaws.com", org.role(acct, "app-runtime-role"), "i-0a8f3c21d7e45b690"),
            (
                "ecs-tasks.amazonaws.com",
                org.role(acct, "ecs-task-role"),
                "3f1e0c9b2d8a4e7f9c6b5a4d3e2f1a0b",
            ),
        ]
    else:
        out += [("lambda.amazonaws.com", org.role(acct, "iam-key-rotator-role"), "iam-key-rotator")]
    return out


def build_templates(org: Org, acct: str, region: str, ids: Ids) -> tuple[list[Template], list[int]]:
    """Templates of one account and region with cumulative weights for `random.choices`.

    Shares follow the brief: about 88 % read-only calls (3 % of all calls failing with
    AccessDenied or throttling), 10 % AWSService AssumeRole, 2 % benign writes.
    """
    entries: list[tuple[Template, float]] = []
    for principal, apis, weight in _principals(org, acct, region, ids):
        total = sum(a[2] for a in apis if region == "us-east-1" or a[0] not in GLOBAL_SOURCES)
        for source, name, w, params, version in apis:
            if source in GLOBAL_SOURCES and region != "us-east-1":
                continue  # IAM is global: CloudTrail logs it in us-east-1 only
            share = weight * w / total
            writes = apis is WRITES
            call = (org, acct, region, ids, principal, source, name, params, version)
            entries.append((_template(*call, not writes, None), share * 0.97))
            if not writes:
                entries.append(
                    (
                        _template(*call, True, _error(principal, acct, region, source, name)),
                        share * 0.03,
                    )
                )
    reads = sum(share for _, share in entries)
    assumes = _service_assumes(org, acct)
    # One opaque session token per account-region: real tokens differ per call, but they are
    # random bytes either way and sharing one keeps the committed sample small.
    token = "IQoJb3JpZ2luX2VjE" + ids.b64(340)
    for service, role, session in assumes:
        rec = api_call(
            ids,
            identity=service_identity(service),
            t=0,
            source="sts.amazonaws.com",
            name="AssumeRole",
            region=region,
            account=acct,
            ip=service,
            ua=service,
            request={"roleArn": role.arn, "roleSessionName": session},
            response={},
            read_only=True,
            version="1.08",
            tls_host=None,
            shared=True,
            resources=[{"accountId": acct, "type": "AWS::IAM::Role", "ARN": role.arn}],
        )
        user = {
            "assumedRoleId": f"{role.role_id}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role.name}/{session}",
        }
        tpl = Template(rec, K_ASSUME, None, None, "sts", (user, token))
        entries.append((tpl, reads * 0.10 / 0.90 / len(assumes)))
    templates = [t for t, _ in entries]
    cum: list[float] = []
    acc = 0.0
    for _, share in entries:
        acc += share
        cum.append(acc)
    scale = 1_000_000 / acc
    return templates, [round(c * scale) for c in cum]


def _error(p: Principal, acct: str, region: str, source: str, name: str) -> tuple[str, str]:
    if p.service or source == "monitoring.amazonaws.com":
        return ("ThrottlingException", "Rate exceeded")
    svc = source.split(".", 1)[0]
    who = (p.identity or {}).get("arn") or (
        f"arn:aws:sts::{acct}:assumed-role/{p.role.name}/{p.session}" if p.role else ""
    )
    code = "Client.UnauthorizedOperation" if svc == "ec2" else "AccessDenied"
    return (
        code,
        f"User: {who} is not authorized to perform: {svc}:{name} on resource: "
        f"arn:aws:{svc}:{region}:{acct}:* because no identity-based policy allows the "
        f"{svc}:{name} action",
    )


def _template(
    org: Org,
    acct: str,
    region: str,
    ids: Ids,
    p: Principal,
    source: str,
    name: str,
    params: Params,
    version: str,
    read_only: bool,
    error: tuple[str, str] | None,
) -> Template:
    ident = p.identity if p.identity is not None else {}
    s3 = source == "s3.amazonaws.com"
    request = params(acct, region, ids)
    additional = None
    if s3:
        additional = {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": ids.b64(76),
            "bytesTransferredOut": 0 if error else 612,
        }
    resources = None
    if s3 and request and "bucketName" in request:
        resources = [
            {
                "accountId": acct,
                "type": "AWS::S3::Bucket",
                "ARN": f"arn:aws:s3:::{request['bucketName']}",
            }
        ]
    rec = api_call(
        ids,
        identity=ident,
        t=0,
        source=source,
        name=name,
        region=region,
        account=acct,
        ip=p.ip,
        ua=p.ua,
        request=request,
        response=None,
        additional=additional,
        error=error,
        read_only=read_only,
        resources=resources,
        version=version,
        tls_host=None if p.service else "auto",
        console=p.console,
        request_id="s3" if s3 else "uuid",
    )
    if s3 and not p.service:
        rec["tlsDetails"]["clientProvidedHostHeader"] = (
            request.get("Host", "s3.amazonaws.com") if request else "s3.amazonaws.com"
        )
    dynamic = p if p.role is not None else None
    # A failed call does not count as a use of the key in the credential report.
    key_id = p.key_id if error is None else None
    return Template(rec, K_S3 if s3 else K_PLAIN, dynamic, key_id, source.split(".", 1)[0])
