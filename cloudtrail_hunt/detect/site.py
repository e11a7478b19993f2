"""What detections need to know about the organisation: accounts, partners, conventions.

Loaded from the `[site]` table of the config file, or from an `org.json` such as the synthetic
trail's `side_inputs/org.json`. Every field has a safe default: an empty partner list means every
external account is unknown, which errs towards alerting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cloudtrail_hunt.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Site:
    """Organisation facts used by the rule pack."""

    #: The Organizations management account (SCP bypass from it is not a member-account bypass).
    management_account: str | None = None
    #: Every account of the organisation (trust to these is internal).
    accounts: frozenset[str] = frozenset()
    #: External accounts allowed in trust policies and Access Analyzer findings.
    partner_accounts: frozenset[str] = frozenset()
    #: Break-glass IAM users are named with this prefix (the guide's "naming convention").
    break_glass_prefix: str = "break-glass-"
    #: The published permission-boundary policy ARNs (control 07).
    boundary_arns: frozenset[str] = frozenset()
    #: Regions the SCP allows (control 08).
    allowed_regions: frozenset[str] = frozenset()
    #: Automation roles approved to create access keys (control 02's allow-list).
    automation_principals: frozenset[str] = frozenset()
    #: Roles the credential-report audit job runs as (control 10).
    audit_roles: frozenset[str] = frozenset()
    #: The ARN of the deny-destructive SCP (control 08).
    deny_destructive_policy: str | None = None
    #: Roles (names or ARNs) the managed IaC stacks provision (control 06, EKS Pod Identity).
    iac_managed_roles: frozenset[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def site_from_org_json(path: str | Path) -> Site:
    """Read an `org.json` (the synthetic trail's side input, or your own in the same shape)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    policies = data.get("service_control_policies", {})
    return Site(
        management_account=data.get("management_account"),
        accounts=frozenset(a["id"] for a in data.get("accounts", [])),
        partner_accounts=frozenset(data.get("partner_accounts", [])),
        break_glass_prefix=data.get("break_glass_user_prefix", "break-glass-"),
        boundary_arns=frozenset(data.get("permission_boundary_arns", [])),
        allowed_regions=frozenset(data.get("allowed_regions", [])),
        automation_principals=frozenset(data.get("approved_automation_principals", [])),
        audit_roles=frozenset(data.get("credential_report_audit", {}).get("role_arns", [])),
        deny_destructive_policy=policies.get("deny-destructive", {}).get("arn"),
        iac_managed_roles=frozenset(data["iac_managed_roles"])
        if "iac_managed_roles" in data
        else None,
    )


def site_from_table(table: dict[str, Any], where: str) -> Site:
    """Build a Site from the `[site]` config table, rejecting unknown keys."""
    known = {f.name for f in fields(Site)} - {"extra"}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else None
            setting = f"site.{key}"
            raise ConfigError(setting, "unknown key", hint, file=where)
        default = getattr(Site(), key)
        as_set = isinstance(default, frozenset) or key == "iac_managed_roles"
        values[key] = frozenset(map(str, value)) if as_set else value
    return Site(**values)
