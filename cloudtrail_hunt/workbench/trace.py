"""`trace()`: follow a credential through every key and session the trail shows it obtaining.

A credential is an access key id. The trail links two of them when an event issued by the first
hands the second out in its `responseElements`:

- ``CreateAccessKey``: the new long-lived key (``accessKey.accessKeyId``);
- ``AssumeRole``, ``AssumeRoleWithSAML``, ``AssumeRoleWithWebIdentity``, ``GetSessionToken``,
  ``GetFederationToken``: the temporary key (``credentials.accessKeyId``), seen later as
  ``userIdentity.accessKeyId`` of the session's calls. Role chaining and cross-account hops are
  the same link, one after the other; ``sourceIdentity`` is carried along.
- An Identity Center sign-in is an ``AssumeRoleWithSAML`` by the signed-in person
  (``saml:<user>``), so a trace from a role session goes up to the person.

What CloudTrail cannot prove is marked in `status`, never dropped:

- ``unused``: the key was issued but never seen as a caller in the trail read: it was not used,
  used only for calls the trail does not log (data events, another trail's regions), or used
  after the range;
- ``inferred``: the issuing event carries no key (responses can be omitted or redacted); the
  session is joined by its ARN and creation time instead, which names the session but does not
  prove which key the caller received;
- the first credential's own origin (a key stolen from a laptop leaves no event).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from cloudtrail_hunt import schema
from cloudtrail_hunt.source import Source, open_source
from cloudtrail_hunt.workbench.subject import ARN, KEY, subject

if TYPE_CHECKING:
    import altair as alt

__all__ = ["ISSUERS", "LINK_COLUMNS", "Trace", "trace", "trace_chart"]

ISSUERS = (
    "CreateAccessKey", "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity",
    "GetSessionToken", "GetFederationToken",
)  # fmt: skip
LINK_COLUMNS = (
    "depth", "parent", "child", "how", "status", "parent_principal", "child_principal",
    "parent_account", "child_account", "cross_account", "source_identity", "issued_by",
    "issued_at", "first_use", "last_use", "events", "errors",
)  # fmt: skip
_SIGNED_IN = ("saml:", "web:")
_ROLE_ARN = r"^arn:([^:]+):iam::(\d+):role/(?:.*/)?([^/]+)$"
_CREATION = "userIdentity.sessionContext.attributes.creationDate"
_SOURCE_IDENTITY = "userIdentity.sessionContext.sourceIdentity"


@dataclass(frozen=True, slots=True)
class Trace:
    """A traced chain: its links, and what each credential did (per API)."""

    start: tuple[str, ...]  # the credentials the trace started from
    links: pl.DataFrame  # LINK_COLUMNS, by depth then issue time
    activity: pl.DataFrame  # credential, principal, eventSource, eventName, events, errors

    def chart(self) -> alt.LayerChart:
        """The chain drawn left to right (see :func:`trace_chart`)."""
        return trace_chart(self)


def trace(
    source: Source,
    *,
    access_key: str | None = None,
    session: str | None = None,
    finding: str | Mapping[str, Any] | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    findings: pl.DataFrame | None = None,
) -> Trace:
    """Trace the credentials obtained from `access_key`, a role `session` or a `finding`.

    Parameters
    ----------
    source
        A lake, raw CloudTrail logs or a frame.
    access_key, session, finding
        Exactly one: an access key id; a session's ARN
        (``arn:aws:sts::<account>:assumed-role/<role>/<session>``) or any principal ARN, whose
        keys are traced, or ``saml:<user>`` (an Identity Center person: every role session
        they signed in to); a finding id or findings row, whose principal's keys are traced.
    start, end
        Read only this range of the trail (all of it by default).
    findings
        Where to look a finding id up (by default a hunt of the whole trail).

    Returns
    -------
    Trace
        Links downstream of the start (``depth`` 1, 2, …) and the links that issued the start
        credentials (``depth`` 0, ``how`` prefixed by nothing: the way in), with per-link use.
    """
    frame = open_source(source, start=start, end=end)
    who = subject(source, access_key=access_key, principal=session, finding=finding,
                  findings=findings)  # fmt: skip
    if who.access_key is not None:
        starts = [who.access_key]
    elif who.principal is not None and who.principal.startswith(_SIGNED_IN):
        starts = [who.principal]  # a person signed in through a SAML or OIDC provider
    else:
        keys = who.events(frame).select(pl.col(KEY).drop_nulls().unique().sort()).collect()
        starts = keys[KEY].to_list()
    usage = _usage(frame)
    edges = _edges(frame, usage)
    links = _walk(edges, starts)
    links = links.join(usage.drop("principal", "accounts"), left_on="child", right_on=KEY,
                       how="left")  # fmt: skip
    links = links.with_columns(pl.col("events", "errors").fill_null(0)).with_columns(
        pl.when(pl.col("status") == "inferred")
        .then(pl.lit("inferred"))
        .when(pl.col("events") == 0)
        .then(pl.lit("unused"))
        .otherwise(pl.lit("proven"))
        .alias("status")
    )
    links = links.select(LINK_COLUMNS).sort("depth", "issued_at", "child")
    credentials = sorted({*starts, *links["child"].to_list(), *links["parent"].to_list()})
    return Trace(tuple(starts), links, _activity(frame, credentials))


def _usage(frame: pl.LazyFrame) -> pl.DataFrame:
    """Per access key: its principal, accounts, first and last use, events and errors."""
    return (
        frame.filter(pl.col(KEY).is_not_null())
        .group_by(KEY)
        .agg(
            pl.col(ARN).drop_nulls().first().alias("principal"),
            pl.col("recipientAccountId").drop_nulls().unique().sort().alias("accounts"),
            pl.col(schema.EVENT_TIME).min().alias("first_use"),
            pl.col(schema.EVENT_TIME).max().alias("last_use"),
            pl.len().cast(pl.Int64).alias("events"),
            pl.col("errorCode").is_not_null().sum().cast(pl.Int64).alias("errors"),
        )
        .collect()
    )


def _edges(frame: pl.LazyFrame, usage: pl.DataFrame) -> pl.DataFrame:
    """Every credential the trail shows being issued, with who issued it."""
    names = frame.collect_schema().names()

    def col(name: str) -> pl.Expr:
        return pl.col(name) if name in names else pl.lit(None, pl.String)

    response, request = pl.col("responseElements"), pl.col("requestParameters")
    issued = frame.filter(
        pl.col("eventName").is_in(ISSUERS)
        & pl.col("eventSource").is_in(["sts.amazonaws.com", "iam.amazonaws.com"])
        & pl.col("errorCode").is_null()
    ).select(
        pl.col("eventID").alias("issued_by"),
        pl.col(schema.EVENT_TIME).alias("issued_at"),
        pl.col("eventName").alias("how"),
        pl.coalesce(
            col(KEY),
            pl.when(col("userIdentity.type") == "SAMLUser").then(
                pl.lit("saml:") + col("userIdentity.userName")
            ),
            pl.when(col("userIdentity.type") == "WebIdentityUser").then(
                pl.lit("web:") + col("userIdentity.userName")
            ),
            col(ARN),
        ).alias("parent"),
        pl.coalesce(col(ARN), col("userIdentity.userName")).alias("parent_principal"),
        pl.coalesce(col("userIdentity.accountId"), col("recipientAccountId")).alias(
            "parent_account"
        ),
        pl.when(pl.col("eventName") == "CreateAccessKey")
        .then(response.str.json_path_match("$.accessKey.accessKeyId"))
        .otherwise(response.str.json_path_match("$.credentials.accessKeyId"))
        .alias("key"),
        pl.when(pl.col("eventName") == "CreateAccessKey")
        .then(
            pl.lit("arn:aws:iam::")
            + pl.col("recipientAccountId")
            + ":user/"
            + response.str.json_path_match("$.accessKey.userName")
        )
        .when(pl.col("eventName") == "GetSessionToken")
        .then(col(ARN))
        .otherwise(
            pl.coalesce(
                response.str.json_path_match("$.assumedRoleUser.arn"),
                response.str.json_path_match("$.federatedUser.arn"),
                _session_arn(request),
            )
        )
        .alias("child_principal"),
        request.str.json_path_match("$.sourceIdentity").alias("source_identity"),
        schema.event_time_text(pl.col(schema.EVENT_TIME)).alias("__created"),
    )
    issued = issued.collect()
    inferred = _inferred(frame, issued.filter(pl.col("key").is_null()))
    edges = pl.concat(
        [
            issued.filter(pl.col("key").is_not_null()).with_columns(
                pl.col("key").alias("child"), pl.lit("proven").alias("status")
            ),
            inferred,
        ],
        how="diagonal_relaxed",
    )
    return edges.drop("key", "__created", strict=False).with_columns(
        pl.coalesce(pl.col("child_principal").str.split(":").list.get(4, null_on_oob=True))
        .replace("", None)
        .alias("child_account")
    )


def _session_arn(request: pl.Expr) -> pl.Expr:
    """``arn:aws:sts::<acct>:assumed-role/<role>/<session>`` from an AssumeRole* request
    (a role path is not part of a session's ARN)."""
    role = request.str.json_path_match("$.roleArn")
    matches = role.str.contains(_ROLE_ARN)
    session = role.str.replace(_ROLE_ARN, "arn:$1:sts::$2:assumed-role/$3/")
    return pl.when(matches).then(session + request.str.json_path_match("$.roleSessionName"))


def _inferred(frame: pl.LazyFrame, keyless: pl.DataFrame) -> pl.DataFrame:
    """Sessions issued by events that show no key, joined by session ARN and creation time."""
    if keyless.is_empty() or _CREATION not in frame.collect_schema().names():
        return keyless.clear().with_columns(
            pl.lit(None, pl.String).alias("child"), pl.lit("inferred").alias("status")
        )
    arns = keyless["child_principal"].drop_nulls().unique().to_list()
    callers = (
        frame.filter(pl.col(ARN).is_in(arns) & pl.col(KEY).is_not_null())
        .select(
            pl.col(ARN).alias("child_principal"),
            pl.col(_CREATION).alias("__created"),
            pl.col(KEY).alias("child"),
        )  # fmt: skip
        .unique()
        .collect()
    )
    joined = keyless.join(callers, on=["child_principal", "__created"], how="left")
    return joined.with_columns(
        pl.coalesce("child", pl.lit("session:") + pl.col("child_principal")).alias("child"),
        pl.lit("inferred").alias("status"),
    )


def _walk(edges: pl.DataFrame, starts: list[str]) -> pl.DataFrame:
    """The links reachable downstream from `starts` (depth 1…), and those that issued them
    (depth 0, walked upstream to the first credential the trail shows)."""
    by_parent: dict[str, list[dict[str, Any]]] = {}
    by_child: dict[str, list[dict[str, Any]]] = {}
    for edge in edges.iter_rows(named=True):
        by_parent.setdefault(edge["parent"], []).append(edge)
        by_child.setdefault(edge["child"], []).append(edge)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()

    def add(edge: dict[str, Any], depth: int) -> bool:
        mark = (edge["parent"], edge["child"], edge["issued_by"])
        if mark in seen:
            return False
        seen.add(mark)
        rows.append({**edge, "depth": depth})
        return True

    frontier, depth, visited = list(starts), 0, set(starts)
    while frontier:
        depth += 1
        following = []
        for parent in frontier:
            for edge in by_parent.get(parent, []):
                if add(edge, depth) and edge["child"] not in visited:
                    visited.add(edge["child"])
                    following.append(edge["child"])
        frontier = following
    upward, climbed = list(starts), set(starts)
    while upward:
        child = upward.pop()
        for edge in by_child.get(child, []):
            if add(edge, 0) and edge["parent"] not in climbed:
                climbed.add(edge["parent"])
                upward.append(edge["parent"])
    out = pl.DataFrame(rows, schema={**edges.schema, "depth": pl.Int64}, strict=False)
    return out.with_columns(
        (pl.col("parent_account") != pl.col("child_account"))
        .fill_null(False)
        .alias("cross_account")
    )


def _activity(frame: pl.LazyFrame, credentials: list[str]) -> pl.DataFrame:
    return (
        frame.filter(pl.col(KEY).is_in(credentials))
        .group_by(pl.col(KEY).alias("credential"), "eventSource", "eventName")
        .agg(
            pl.col(ARN).drop_nulls().first().alias("principal"),
            pl.len().cast(pl.Int64).alias("events"),
            pl.col("errorCode").is_not_null().sum().cast(pl.Int64).alias("errors"),
        )
        .select("credential", "principal", "eventSource", "eventName", "events", "errors")
        .sort("credential", "eventSource", "eventName")
        .collect()
    )


def trace_chart(traced: Trace) -> alt.LayerChart:
    """The chain left to right: one row per credential at its depth, a line per link coloured
    by status (proven, unused, inferred), labelled with the principal and the event count."""
    import altair as alt

    from cloudtrail_hunt.charts import chart_values

    links = traced.links.filter(pl.col("depth") > 0)
    rows: dict[str, tuple[int, int]] = {}
    for key in traced.start:
        rows[key] = (0, len(rows))
    for link in links.iter_rows(named=True):
        rows.setdefault(link["parent"], (link["depth"] - 1, len(rows)))
        rows.setdefault(link["child"], (link["depth"], len(rows)))
    principal = dict(zip(traced.links["child"], traced.links["child_principal"], strict=True))
    for row in traced.activity.iter_rows(named=True):
        principal.setdefault(row["credential"], row["principal"])
    counts = traced.activity.group_by("credential").agg(pl.col("events").sum())
    events = dict(zip(counts["credential"], counts["events"], strict=True))
    nodes = pl.DataFrame(
        [
            {"credential": k, "depth": d, "row": r, "principal": principal.get(k) or "",
             "events": events.get(k, 0),
             "label": f"{(principal.get(k) or k).rsplit(':', 1)[-1]} ({events.get(k, 0)})"}
            for k, (d, r) in rows.items()
        ],
        schema={"credential": pl.String, "depth": pl.Int64, "row": pl.Int64,
                "principal": pl.String, "events": pl.Int64, "label": pl.String},
    )  # fmt: skip
    edges = pl.DataFrame(
        [
            {"x": rows[x["parent"]][0], "y": rows[x["parent"]][1], "x2": rows[x["child"]][0],
             "y2": rows[x["child"]][1], "how": x["how"], "status": x["status"],
             "cross_account": x["cross_account"]}
            for x in links.iter_rows(named=True)
        ],
        schema={"x": pl.Int64, "y": pl.Int64, "x2": pl.Int64, "y2": pl.Int64, "how": pl.String,
                "status": pl.String, "cross_account": pl.Boolean},
    )  # fmt: skip
    status = alt.Scale(domain=["proven", "unused", "inferred"],
                       range=["#4c78a8", "#bab0ac", "#f58518"])  # fmt: skip
    lines = (
        alt.Chart(alt.Data(values=chart_values(edges)))
        .mark_rule(strokeWidth=2)
        .encode(
            x=alt.X("x:Q", title="hop"), y=alt.Y("y:Q", axis=None), x2="x2:Q", y2="y2:Q",
            color=alt.Color("status:N", scale=status),
            strokeDash=alt.StrokeDash("cross_account:N", title="cross-account"),
            tooltip=["how:N", "status:N", "cross_account:N"],
        )
    )  # fmt: skip
    base = alt.Chart(alt.Data(values=chart_values(nodes))).encode(
        x="depth:Q", y=alt.Y("row:Q", axis=None)
    )
    dots = base.mark_circle(size=120, color="black").encode(
        tooltip=["credential:N", "principal:N", "events:Q"]
    )
    text = base.mark_text(align="left", dx=8, dy=-8).encode(text="label:N")
    return alt.layer(lines, dots, text).properties(width=700, title="credential chain")
