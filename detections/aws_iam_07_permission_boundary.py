"""aws-iam-07-permission-boundary: boundaries removed, skipped or swapped on delegated roles."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from cloudtrail_hunt import expr as ct
from cloudtrail_hunt.detect.model import ControlType, Detection, Severity, Signal, Threshold, Tier
from cloudtrail_hunt.detect.site import Site
from detections._guide import QUERIES, RESPONSES

#: The role a call changed (the finding's resource).
_ROLE_NAME = pl.col("requestParameters").str.json_path_match("$.roleName")

ID = "aws-iam-07-permission-boundary"
_BOUNDARY = pl.col("requestParameters.permissionsBoundary")


def _non_canonical(site: Site) -> pl.Expr:
    # Guide: "the set of boundary ARNs in use must equal the published-policy ARN list — page
    # on any unknown ARN appearing in PutRolePermissionsBoundary".
    unknown = ~_BOUNDARY.is_in(sorted(site.boundary_arns)).fill_null(False)
    return ct.event("PutRolePermissionsBoundary") & ct.succeeded() & unknown


DETECTION = Detection(
    id=ID,
    title="Permission boundaries on every delegated role",
    control_type=ControlType.PREVENTIVE,
    severity=Severity.HIGH,
    compliance=(),
    signals=(
        Signal(
            name="delete-role-permissions-boundary",
            description="A permission boundary was removed from a role.",
            # Guide: "Any DeleteRolePermissionsBoundary event — page immediately".
            match=ct.event("DeleteRolePermissionsBoundary") & ct.succeeded(),
            resource=_ROLE_NAME,
            thresholds=(Threshold(Tier.PAGE),),
        ),
        Signal(
            name="create-role-without-boundary-burst",
            description="Roles created without a permission boundary by one principal.",
            # Guide: "Three or more CreateRole events without a boundary from the same
            # developer principal in a 1-hour window — informational ticket".
            match=ct.event("CreateRole")
            & ct.succeeded()
            & (_BOUNDARY.is_null() | (_BOUNDARY == "")).fill_null(True),
            resource=_ROLE_NAME,
            thresholds=(Threshold(Tier.TICKET, count=3, window=timedelta(hours=1)),),
        ),
        Signal(
            name="non-canonical-permissions-boundary",
            description="A boundary that is not on the published list was attached to a role.",
            match=_non_canonical,
            resource=_ROLE_NAME,
            thresholds=(Threshold(Tier.PAGE),),
        ),
    ),
    guide_query=QUERIES[ID],
    response=RESPONSES[ID],
    references=(
        "hardening guide, aws-iam-07-permission-boundary",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html",
    ),
)
