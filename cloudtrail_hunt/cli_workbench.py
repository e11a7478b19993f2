"""The responder's workbench on the command line: `timeline`, `trace`, `evidence`.

Exit codes: 0 done; 1 `evidence verify` found a changed, missing or extra file; 2 a usage or
input error (an unknown finding id, a folder that is not a bundle, a non-empty output folder).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudtrail_hunt.cli import instant
from cloudtrail_hunt.errors import CloudTrailHuntError

if TYPE_CHECKING:
    import polars as pl

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2
FORMATS = ("table", "jsonl", "csv", "parquet")
_TIMELINE_TABLE = (
    "eventTime", "eventSource", "eventName", "outcome", "awsRegion", "sourceIPAddress",
    "userAgent", "userIdentity.arn", "notes",
)  # fmt: skip
_TRACE_TABLE = (
    "depth", "parent", "child", "how", "status", "child_principal", "child_account",
    "cross_account", "first_use", "last_use", "events", "errors",
)  # fmt: skip


def add_parsers(commands: Any) -> None:
    """Add `timeline`, `trace` and `evidence` to the `cloudtrail-hunt` subcommands."""
    timeline = commands.add_parser(
        "timeline", help="what a principal, access key or finding did around an instant"
    )
    _source(timeline)
    _who(timeline, principal=True)
    _window(timeline)
    _output(timeline)

    trace = commands.add_parser(
        "trace", help="follow a credential through the keys and role sessions it obtained"
    )
    _source(trace)
    who = trace.add_mutually_exclusive_group(required=True)
    who.add_argument("--access-key", help="access key id to start from")
    who.add_argument("--session", help="role session (or any principal) ARN to start from")
    who.add_argument("--finding", help="finding id (see `hunt --format jsonl`) to start from")
    trace.add_argument(
        "--start", type=instant, help="read the trail from (YYYY-MM-DD or ISO datetime, UTC)"
    )
    trace.add_argument("--end", type=instant, help="read the trail until, exclusive")
    _output(trace)

    evidence = commands.add_parser(
        "evidence",
        help="write a verifiable evidence bundle (or `evidence verify DIR` to check one)",
        description="cloudtrail-hunt evidence SOURCE (--finding ID | --principal ARN | "
        "--access-key KEY) -o DIR, or cloudtrail-hunt evidence verify DIR",
    )
    evidence.add_argument("source", help="lake folder or raw logs, or the word `verify`")
    evidence.add_argument("bundle", nargs="?", help="with `verify`: the bundle folder")
    _who(evidence, principal=True, required=False)
    _window(evidence)
    evidence.add_argument("--lake-version", type=int, help="version of the lake read, if known")
    evidence.add_argument("-o", "--output", help="bundle folder to create (new or empty)")
    for name, parser in (("timeline", timeline), ("trace", trace), ("evidence", evidence)):
        parser.set_defaults(handler=COMMANDS[name])


def _source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="lake folder, or raw logs (folder, file or s3://…)")


def _who(parser: argparse.ArgumentParser, *, principal: bool, required: bool = True) -> None:
    who = parser.add_mutually_exclusive_group(required=required)
    if principal:
        who.add_argument("--principal", help="principal ARN (a role's ARN: all its sessions)")
    who.add_argument("--access-key", help="access key id")
    who.add_argument("--finding", help="finding id (see `hunt --format jsonl`)")


def _span(text: str) -> timedelta:
    """argparse type for --before/--after: a usage error (exit 2) before any work starts."""
    from cloudtrail_hunt.workbench.subject import parse_span

    try:
        return parse_span(text)
    except CloudTrailHuntError as exc:
        msg = f"{exc.what}; {exc.hint}"
        raise argparse.ArgumentTypeError(msg) from None


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--before", type=_span, default="2h", help="span before the instant (default 2h)"
    )
    parser.add_argument(
        "--after", type=_span, default="24h", help="span after the instant (default 24h)"
    )
    parser.add_argument(
        "--at",
        type=instant,
        help="the instant (ISO, UTC); default: the finding's first_seen or first event",
    )


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    parser.add_argument("--chart", help="also render a chart (.png, .svg, .html or .json)")


def _prepare(args: argparse.Namespace) -> bool:
    """Check the output, then ingest raw logs into their cache lake with progress."""
    from cloudtrail_hunt.cli import _cached_lake

    if args.format == "parquet" and args.output is None and sys.stdout.isatty():
        print("cloudtrail-hunt: error: --format parquet needs -o FILE", file=sys.stderr)
        return False
    _cached_lake(args.source)
    if getattr(args, "finding", None):
        print("cloudtrail-hunt: hunting the whole trail to find the finding", file=sys.stderr)
    return True


def _write(frame: pl.DataFrame, args: argparse.Namespace, table: tuple[str, ...]) -> None:
    import polars as pl

    from cloudtrail_hunt import output
    from cloudtrail_hunt.escape import escape_for_terminal

    shown = frame
    lists = [n for n, t in frame.schema.items() if isinstance(t, pl.List)]
    if args.format in {"table", "csv"}:
        shown = frame.with_columns(pl.col(lists).list.join(" ")) if lists else frame
    if args.format == "table":
        shown = shown.select([c for c in table if c in shown.columns])
    if args.format == "csv":
        # A spreadsheet shows control characters raw: log text is escaped as on a terminal.
        texts = [n for n, t in shown.schema.items() if t == pl.String]
        shown = shown.with_columns(
            pl.col(texts).map_elements(lambda v: escape_for_terminal(v, None), pl.String)
        )
    if args.output is None:
        output.write(shown, args.format)
    else:
        with Path(args.output).open("wb") as out:
            output.write(shown, args.format, out)


def run_timeline(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.charts import save_chart
    from cloudtrail_hunt.workbench.timeline import timeline, timeline_chart

    if not _prepare(args):
        return EXIT_ERROR
    frame = timeline(
        args.source, principal=args.principal, access_key=args.access_key,
        finding=args.finding, before=args.before, after=args.after, at=args.at,
    )  # fmt: skip
    _write(frame, args, _TIMELINE_TABLE)
    if args.chart:
        save_chart(timeline_chart(frame), args.chart)
    return EXIT_OK


def run_trace(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.charts import save_chart
    from cloudtrail_hunt.workbench.trace import trace

    if not _prepare(args):
        return EXIT_ERROR
    traced = trace(
        args.source, access_key=args.access_key, session=args.session, finding=args.finding,
        start=args.start, end=args.end,
    )  # fmt: skip
    _write(traced.links, args, _TRACE_TABLE)
    if args.chart:
        save_chart(traced.chart(), args.chart)
    return EXIT_OK


def run_evidence(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.escape import escape_for_terminal

    if args.source == "verify":
        return _verify(args)
    if args.bundle is not None:
        print(f"cloudtrail-hunt: error: unexpected argument {args.bundle!r}", file=sys.stderr)
        return EXIT_ERROR
    if not (args.principal or args.access_key or args.finding) or not args.output:
        print(
            "cloudtrail-hunt: error: evidence needs one of --finding, --principal or "
            "--access-key, and -o DIR",
            file=sys.stderr,
        )
        return EXIT_ERROR
    from cloudtrail_hunt.cli import _cached_lake
    from cloudtrail_hunt.workbench.evidence import evidence

    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        print(f"cloudtrail-hunt: error: {out}: not a new or empty folder", file=sys.stderr)
        return EXIT_ERROR
    _cached_lake(args.source)
    done = evidence(
        args.source, out, principal=args.principal, access_key=args.access_key,
        finding=args.finding, before=args.before, after=args.after, at=args.at,
        lake_version=args.lake_version,
    )  # fmt: skip
    print(f"wrote evidence bundle {escape_for_terminal(str(done), 200)}")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.escape import escape_for_terminal
    from cloudtrail_hunt.workbench.evidence import verify_evidence

    if args.bundle is None:
        print("cloudtrail-hunt: error: evidence verify needs the bundle folder", file=sys.stderr)
        return EXIT_ERROR
    result = verify_evidence(args.bundle)
    for kind, names in (("changed", result.changed), ("missing", result.missing),
                        ("not in the manifest", result.extra)):  # fmt: skip
        for name in names:
            print(f"{escape_for_terminal(name, 200)}: {kind}")
    if not result.ok:
        print("cloudtrail-hunt: the bundle does not match its manifest", file=sys.stderr)
        return EXIT_MISMATCH
    print(f"ok: {result.checked} files match the manifest")
    return EXIT_OK


COMMANDS = {"timeline": run_timeline, "trace": run_trace, "evidence": run_evidence}
