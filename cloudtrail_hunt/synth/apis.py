"""What benign callers call: read-only APIs by kind of caller, with realistic requestParameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudtrail_hunt.synth.records import Ids

__all__ = ["BROWSE", "METRICS", "WORKLOAD", "WRITES", "Api", "Params"]

Params = Callable[[str, str, Ids], "dict[str, Any] | None"]
Api = tuple[str, str, int, Params, str]


def _none(acct: str, region: str, ids: Ids) -> None:
    return None


def _bucket(acct: str, region: str, ids: Ids) -> dict[str, Any]:
    kind = ids.rng.choice(("assets", "reports", "backups", "logs", "exports"))
    name = f"acme-{kind}-{acct}-{region}"
    return {"bucketName": name, "Host": f"{name}.s3.{region}.amazonaws.com", "acl": ""}


def _key(acct: str, region: str, ids: Ids) -> dict[str, Any]:
    return {
        "keyId": f"arn:aws:kms:{region}:{acct}:key/{ids.uuid()}",
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }


def _param(acct: str, region: str, ids: Ids) -> dict[str, Any]:
    app = ids.rng.choice(("orders", "billing", "search"))
    return {"name": f"/{app}/prod/db-endpoint", "withDecryption": True}


def _role(acct: str, region: str, ids: Ids) -> dict[str, Any]:
    return {"roleName": ids.rng.choice(("app-runtime-role", "ci-deploy", "ecs-task-role"))}


def _table(acct: str, region: str, ids: Ids) -> dict[str, Any]:
    return {"tableName": ids.rng.choice(("orders", "sessions", "inventory"))}


def _instances(acct: str, region: str, ids: Ids) -> dict[str, Any]:
    return {
        "instancesSet": {"items": [{"instanceId": f"i-0{ids.hex(16)}"}]},
        "filterSet": {},
        "includeAllInstances": False,
    }


def _metrics(acct: str, region: str, ids: Ids) -> dict[str, Any]:
    return {
        "metricDataQueries": [
            {
                "id": "m1",
                "metricStat": {
                    "metric": {"namespace": "AWS/EC2", "metricName": "CPUUtilization"},
                    "period": 300,
                    "stat": "Average",
                },
                "returnData": True,
            }
        ],
        "startTime": "Oct 1, 2026, 12:00:00 AM",
        "endTime": "Oct 1, 2026, 12:05:00 AM",
    }


def _empty(acct: str, region: str, ids: Ids) -> dict[str, Any]:
    return {}


#: (eventSource, eventName, weight, params, version); the console and scanners browse these.
BROWSE: tuple[tuple[str, str, int, Params, str], ...] = (
    ("ec2.amazonaws.com", "DescribeInstances", 12, _instances, "1.09"),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", 6, _empty, "1.09"),
    ("ec2.amazonaws.com", "DescribeVpcs", 4, _empty, "1.09"),
    ("ec2.amazonaws.com", "DescribeSubnets", 4, _empty, "1.09"),
    ("ec2.amazonaws.com", "DescribeVolumes", 3, _empty, "1.09"),
    ("ec2.amazonaws.com", "DescribeNetworkInterfaces", 3, _empty, "1.09"),
    ("s3.amazonaws.com", "ListBuckets", 5, lambda a, r, i: {"Host": "s3.amazonaws.com"}, "1.09"),
    ("s3.amazonaws.com", "GetBucketAcl", 4, _bucket, "1.09"),
    ("s3.amazonaws.com", "GetBucketPolicy", 3, _bucket, "1.09"),
    ("s3.amazonaws.com", "GetBucketPublicAccessBlock", 3, _bucket, "1.09"),
    ("s3.amazonaws.com", "GetBucketVersioning", 2, _bucket, "1.09"),
    ("iam.amazonaws.com", "ListRoles", 4, lambda a, r, i: {"maxItems": 1000}, "1.08"),
    ("iam.amazonaws.com", "GetRole", 4, _role, "1.08"),
    ("iam.amazonaws.com", "ListAttachedRolePolicies", 3, _role, "1.08"),
    ("iam.amazonaws.com", "ListPolicies", 2, lambda a, r, i: {"scope": "Local"}, "1.08"),
    ("iam.amazonaws.com", "GetAccountSummary", 1, _none, "1.08"),
    ("iam.amazonaws.com", "ListUsers", 1, _none, "1.08"),
    ("monitoring.amazonaws.com", "DescribeAlarms", 4, lambda a, r, i: {"maxRecords": 100}, "1.08"),
    ("logs.amazonaws.com", "DescribeLogGroups", 3, lambda a, r, i: {"limit": 50}, "1.08"),
    ("lambda.amazonaws.com", "ListFunctions20150331", 3, _none, "1.08"),
    ("cloudformation.amazonaws.com", "DescribeStacks", 3, _none, "1.08"),
    ("config.amazonaws.com", "DescribeConfigRules", 2, _none, "1.08"),
    ("config.amazonaws.com", "DescribeComplianceByConfigRule", 2, _none, "1.08"),
    (
        "cloudtrail.amazonaws.com",
        "DescribeTrails",
        1,
        lambda a, r, i: {"includeShadowTrails": True},
        "1.08",
    ),
    ("kms.amazonaws.com", "ListAliases", 2, _none, "1.08"),
    ("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", 2, _none, "1.08"),
    ("dynamodb.amazonaws.com", "ListTables", 2, _none, "1.08"),
    ("sts.amazonaws.com", "GetCallerIdentity", 2, _none, "1.08"),
)
#: What running workloads read: secrets, parameters, keys, tables.
WORKLOAD: tuple[tuple[str, str, int, Params, str], ...] = (
    ("kms.amazonaws.com", "Decrypt", 10, _key, "1.08"),
    ("kms.amazonaws.com", "GenerateDataKey", 5, _key, "1.08"),
    ("ssm.amazonaws.com", "GetParameter", 6, _param, "1.08"),
    (
        "secretsmanager.amazonaws.com",
        "GetSecretValue",
        3,
        lambda a, r, i: {
            "secretId": f"arn:aws:secretsmanager:{r}:{a}:secret:prod/orders/db-{i.alnum(6)}"
        },
        "1.08",
    ),
    ("dynamodb.amazonaws.com", "DescribeTable", 4, _table, "1.08"),
    ("sts.amazonaws.com", "GetCallerIdentity", 3, _none, "1.08"),
    ("ec2.amazonaws.com", "DescribeTags", 2, _empty, "1.09"),
)
METRICS: tuple[tuple[str, str, int, Params, str], ...] = (
    ("monitoring.amazonaws.com", "GetMetricData", 6, _metrics, "1.08"),
    (
        "monitoring.amazonaws.com",
        "ListMetrics",
        2,
        lambda a, r, i: {"namespace": "AWS/EC2"},
        "1.08",
    ),
)
#: Benign writes of running workloads (about 2 % of traffic).
WRITES: tuple[tuple[str, str, int, Params, str], ...] = (
    (
        "ssm.amazonaws.com",
        "UpdateInstanceInformation",
        3,
        lambda a, r, i: {
            "instanceId": f"i-0{i.hex(16)}",
            "agentVersion": "3.3.987.0",
            "platformType": "Linux",
            "platformName": "Amazon Linux",
        },
        "1.08",
    ),
    (
        "logs.amazonaws.com",
        "CreateLogStream",
        2,
        lambda a, r, i: {
            "logGroupName": "/aws/lambda/orders-api",
            "logStreamName": f"2026/10/01/[$LATEST]{i.hex(32)}",
        },
        "1.08",
    ),
)
