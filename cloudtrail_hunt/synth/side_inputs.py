"""Side inputs beside the trail: credential reports, Access Analyzer findings, Config, org.json."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from cloudtrail_hunt.synth.credential_reports import Report
from cloudtrail_hunt.synth.identities import (
    ALLOWED_REGIONS,
    AUDIT_FUNCTION,
    AUDIT_ROLE,
    BREAK_GLASS_PREFIX,
    DOMAIN,
    Org,
)
from cloudtrail_hunt.synth.records import Ids, iso, iso_offset
from cloudtrail_hunt.synth.scenarios.base import guide_label
from cloudtrail_hunt.synth.scenarios.roles import IAC_ROLES
from cloudtrail_hunt.synth.schedule import Schedule
from cloudtrail_hunt.synth.trail import DAY, Label

__all__ = ["write_side_inputs"]

RULE = "access-keys-rotated-90d"


def _dump(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _ms(t: int, salt: str) -> str:
    """ISO time with a stable millisecond part, as AWS service events carry."""
    return f"{iso(t)[:-1]}.{sum(map(ord, salt)) % 1000:03d}Z"


def write_side_inputs(
    out: Path,
    org: Org,
    sched: Schedule,
    reps: list[Report],
    findings: list[dict[str, Any]],
    seed: int,
) -> list[Label]:
    """Write every side input under ``out/side_inputs`` and return the Config-derived labels."""
    base = out / "side_inputs"
    index = []
    for rep in reps:
        path = out / rep.path
        if path.exists():
            msg = f"two credential reports on one day: {rep.path}"
            raise RuntimeError(msg)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rep.csv(), encoding="utf-8")
        index.append(
            {
                "account": rep.run.account,
                "file": rep.path,
                "generated_at": iso(rep.run.t),
                "scheduled": rep.run.scheduled,
                "generated_by": rep.run.principal,
                "generate_event_id": rep.run.event_id,
            }
        )
    _dump(base / "credential-reports" / "index.json", index)
    _write_analyzer(base / "access-analyzer", org, findings, sched)
    labels = _write_config(out, org, sched, Ids(random.Random(f"{seed}/config")))
    _write_org(base / "org.json", org, sched)
    return labels


def _finding_detail(f: dict[str, Any], status: str, updated: int) -> dict[str, Any]:
    return {
        "version": "1.0",
        "id": f["id"],
        "status": status,
        "resourceType": f["resourceType"],
        "resource": f["resource"],
        "createdAt": _ms(f["createdAt"], f["id"]),
        "analyzedAt": _ms(f["createdAt"], f["id"]),
        "updatedAt": _ms(updated, f["id"] + status),
        "accountId": f["account"],
        "region": f["region"],
        "principal": f["principal"],
        "action": f["action"],
        "condition": f["condition"],
        "isDeleted": False,
        "isPublic": f["isPublic"],
    }


def _write_analyzer(base: Path, org: Org, findings: list[dict[str, Any]], sched: Schedule) -> None:
    """EventBridge events (one per new finding and per status change) and list-findings output."""
    ids = Ids(random.Random(f"{sched.start}/analyzer"))
    events, ledger = [], []
    listed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in sorted(findings, key=lambda f: f["createdAt"]):
        analyzer = f"arn:aws:access-analyzer:{f['region']}:{f['account']}:analyzer/account-analyzer"
        for t, status in f["status"]:
            events.append(
                {
                    "version": "0",
                    "id": ids.uuid(),
                    "detail-type": "Access Analyzer Finding",
                    "source": "aws.access-analyzer",
                    "account": f["account"],
                    "time": iso(t),
                    "region": f["region"],
                    "resources": [analyzer],
                    "detail": _finding_detail(f, status, t),
                }
            )
        last_t, last_status = f["status"][-1]
        detail = _finding_detail(f, last_status, last_t)
        listed.setdefault((f["account"], f["region"]), []).append(
            {
                "id": f["id"],
                "principal": f["principal"],
                "action": f["action"],
                "resource": f["resource"],
                "isPublic": f["isPublic"],
                "resourceType": f["resourceType"],
                "condition": f["condition"],
                "createdAt": detail["createdAt"],
                "analyzedAt": detail["analyzedAt"],
                "updatedAt": detail["updatedAt"],
                "status": last_status,
                "resourceOwnerAccount": f["account"],
                "findingType": "ExternalAccess",
            }
        )
        if f["ticket"]:
            ledger.append(
                {
                    "finding_id": f["id"],
                    "resource": f["resource"],
                    "ticket": f["ticket"],
                    "approved_by": f"chen.wei@{DOMAIN}",
                    "approved_at": iso(last_t - 3 * 3600),
                    "decision": "archive: intended partner integration",
                }
            )
    _dump(base / "eventbridge-findings.json", sorted(events, key=lambda e: e["time"]))
    for (acct, region), items in sorted(listed.items()):
        _dump(base / f"list-findings-{acct}-{region}.json", {"findings": items})
    _dump(base / "change-ledger.json", {"approved_archives": ledger})


def _write_config(out: Path, org: Org, sched: Schedule, ids: Ids) -> list[Label]:
    """ACCESS_KEYS_ROTATED evaluations on the weekly cadence, and compliance-change events."""
    changes: list[dict[str, Any]] = []
    previous: dict[tuple[str, str], str] = {}
    non_compliant: dict[tuple[str, str], list[tuple[str, int]]] = {}
    compliant: dict[tuple[str, str], list[tuple[str, int]]] = {}
    rule_ids = {a.id: f"config-rule-{ids.b32(6).lower()}" for a in org.accounts}
    for day in sched.audit_days():
        t = sched.t(day, 6, 0, 0)
        date = time.strftime("%Y-%m-%d", time.gmtime(t))
        for a in org.accounts:
            path = f"side_inputs/config/{a.id}-ACCESS_KEYS_ROTATED-{date}.json"
            results = []
            users = sorted(
                (u for (acct, _), u in org.users.items() if acct == a.id and u.created <= t),
                key=lambda u: u.name,
            )
            for user in users:
                keys = [k for k in user.keys if k.created <= t and k.active.at(t)]
                if not keys:
                    continue
                old = any(t - k.created > 90 * DAY for k in keys)
                verdict = "NON_COMPLIANT" if old else "COMPLIANT"
                (non_compliant if old else compliant).setdefault((a.id, user.arn), []).append(
                    (path, t)
                )
                result = {
                    "EvaluationResultIdentifier": {
                        "EvaluationResultQualifier": {
                            "ConfigRuleName": RULE,
                            "ResourceType": "AWS::IAM::User",
                            "ResourceId": user.user_id,
                            "EvaluationMode": "DETECTIVE",
                        },
                        "OrderingTimestamp": iso_offset(t - 41),
                    },
                    "ComplianceType": verdict,
                    "ResultRecordedTime": iso_offset(t + 12),
                    "ConfigRuleInvokedTime": iso_offset(t),
                }
                if old:
                    result["Annotation"] = (
                        "One or more access keys of this user are older than "
                        "maxAccessKeyAge (90 days)."
                    )
                results.append(result)
                before = previous.get((a.id, user.user_id))
                if before != verdict:
                    detail: dict[str, Any] = {
                        "resourceId": user.user_id,
                        "awsRegion": "us-east-1",
                        "awsAccountId": a.id,
                        "configRuleName": RULE,
                        "recordVersion": "1.0",
                        "configRuleARN": f"arn:aws:config:us-east-1:{a.id}:config-rule/"
                        f"{rule_ids[a.id]}",
                        "messageType": "ComplianceChangeNotification",
                        "newEvaluationResult": {**result, "complianceType": verdict},
                        "notificationCreationTime": iso(t + 15),
                        "resourceType": "AWS::IAM::User",
                    }
                    if before is not None:
                        detail["oldEvaluationResult"] = {"complianceType": before}
                    changes.append(
                        {
                            "version": "0",
                            "id": ids.uuid(),
                            "detail-type": "Config Rules Compliance Change",
                            "source": "aws.config",
                            "account": a.id,
                            "time": iso(t + 15),
                            "region": "us-east-1",
                            "resources": [],
                            "detail": detail,
                        }
                    )
                    previous[(a.id, user.user_id)] = verdict
            _dump(out / path, {"EvaluationResults": results})
    _dump(out / "side_inputs/config/compliance-change-events.json", changes)
    labels = []
    signal = "config-access-keys-rotated-non-compliant"
    names = {a.id: a.name.removeprefix("acme-") for a in org.accounts}
    for (acct, arn), hits in sorted(non_compliant.items()):
        short = arn.rsplit("/", 1)[1]
        labels.append(
            guide_label(
                f"config-access-keys-rotated-{names[acct]}-{short}", 5, signal, "ticket", acct, arn,
                "ACCESS_KEYS_ROTATED evaluates the user NON_COMPLIANT.",
                evidence=[p for p, _ in hits], first=hits[0][1], last=hits[-1][1],
            )
        )  # fmt: skip
    acct = org.accounts[1].id
    arn = f"arn:aws:iam::{acct}:user/svc-metrics-exporter"
    if (acct, arn) in compliant:
        hits = compliant[(acct, arn)]
        labels.append(
            guide_label(
                "config-access-keys-rotated-compliant", 5, signal, None, acct, arn,
                "Near miss: a recently rotated key evaluates COMPLIANT.",
                evidence=[p for p, _ in hits], first=hits[0][1], last=hits[-1][1],
            )
        )  # fmt: skip
    return labels


def _write_org(path: Path, org: Org, sched: Schedule) -> None:
    mgmt = org.management.id
    _dump(
        path,
        {
            "org_id": org.org_id,
            "root_id": org.root_id,
            "management_account": mgmt,
            "member_accounts": [a.id for a in org.members],
            "accounts": [
                {
                    "id": a.id,
                    "name": a.name,
                    "email": a.email,
                    "role": "management" if a.management else "member",
                }
                for a in org.accounts
            ],
            "partner_accounts": org.partners,
            "allowed_regions": list(ALLOWED_REGIONS),
            "permission_boundary_arns": [org.boundary_arn(a.id) for a in org.accounts],
            "iac_managed_roles": list(IAC_ROLES),
            "approved_automation_principals": [
                f"arn:aws:iam::{a.id}:role/iam-key-rotator-role" for a in org.accounts
            ],
            "break_glass_user_prefix": BREAK_GLASS_PREFIX,
            "credential_report_audit": {
                "function_name": AUDIT_FUNCTION,
                "role_name": AUDIT_ROLE,
                "role_arns": [f"arn:aws:iam::{a.id}:role/{AUDIT_ROLE}" for a in org.accounts],
                "schedule": "rate(7 days)",
                "stale_days": 45,
            },
            "service_control_policies": {
                name: {"id": pid, "arn": org.scp_arn(name)}
                for name, pid in org.scps.items()
                if name != "tagging-policy"
            },
            "tag_policies": {"tagging-policy": {"id": org.scps["tagging-policy"]}},
            "identity_center": {
                "instance_arn": org.sso_instance,
                "identity_store_id": org.identity_store,
                "adoption_date": iso(org.start - 400 * DAY)[:10],
                "permission_sets": org.permission_sets,
            },
            "trail": {"name": "org-trail", "bucket": org.trail_bucket, "home_region": "us-east-1"},
            "windows": {
                "baseline": [iso(sched.t(0))[:10], iso(sched.t(sched.hunt - 1))[:10]],
                "hunt": [iso(sched.t(sched.hunt))[:10], iso(sched.t(sched.days - 1))[:10]],
            },
        },
    )
