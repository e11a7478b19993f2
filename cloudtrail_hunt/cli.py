"""The `cloudtrail-hunt` command line: subcommands, output formats and exit codes.

Exit codes (STYLE.md §6): 0 success (quarantined records are reported, not failures);
1 a page-tier finding fired; 2 a usage, config or input error.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from cloudtrail_hunt import cli_lake
from cloudtrail_hunt.detect.findings import FORMATS as FINDING_FORMATS
from cloudtrail_hunt.errors import CloudTrailHuntError
from cloudtrail_hunt.output import FORMATS

EXIT_OK, EXIT_PAGE, EXIT_ERROR = 0, 1, 2


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"invalid date {text!r}; expected YYYY-MM-DD"
        raise argparse.ArgumentTypeError(msg) from None


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


_AS_OF_HELP = "read the lake as of this version (see `lake history`) or ISO time"  # lake (issue 11)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudtrail-hunt", description="AWS CloudTrail forensics on a Parquet lake."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="ingest CloudTrail logs into the lake")
    ingest.add_argument("source", help="local folder or file, or s3://bucket[/prefix]")
    ingest.add_argument("lake", help="lake folder (created if missing)")
    ingest.add_argument("--start", type=_day, help="first delivery day to read (YYYY-MM-DD)")
    ingest.add_argument("--end", type=_day, help="last delivery day to read, inclusive")
    ingest.add_argument("--accounts", type=_csv, help="comma-separated account ids")
    ingest.add_argument("--regions", type=_csv, help="comma-separated regions")
    ingest.add_argument("--endpoint-url", help="S3-compatible endpoint (else AWS_ENDPOINT_URL)")
    ingest.add_argument("--anon", action="store_true", help="unsigned S3 requests (public buckets)")
    ingest.add_argument(
        "--strict", action="store_true", help="fail on the first bad object or record"
    )
    ingest.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    ingest.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    query = commands.add_parser(
        "query", help="run a CloudWatch Logs Insights query on a lake or on raw logs"
    )
    query.add_argument("source", help="lake folder, or raw logs (folder, file or s3://…)")
    query.add_argument("query", help="the query text, or @FILE to read it from a file")
    query.add_argument("--start", help="event time from (YYYY-MM-DD or ISO datetime, UTC)")
    query.add_argument("--end", help="event time until, exclusive")
    query.add_argument("--accounts", type=_csv, help="comma-separated account ids")
    query.add_argument("--regions", type=_csv, help="comma-separated regions")
    query.add_argument("--format", choices=FORMATS, default="table", help="output format")
    query.add_argument("-o", "--output", help="write to this file instead of stdout")
    query.add_argument(
        "--explain", action="store_true", help="print the optimised Polars plan, do not run"
    )
    query.add_argument("--as-of", help=_AS_OF_HELP)  # lake (issue 11)

    hunt = commands.add_parser(
        "hunt", help="run the IAM hardening detections on a lake or on raw logs"
    )
    hunt.add_argument("source", help="lake folder, or raw logs (folder, file or s3://…)")
    hunt.add_argument(
        "--start", help="hunt from (YYYY-MM-DD or ISO datetime, UTC); default: the last day of data"
    )
    hunt.add_argument("--end", help="hunt until, exclusive")
    hunt.add_argument("--config", help="TOML file: site facts, thresholds, allow-lists")
    hunt.add_argument("--detections", type=_csv, help="ids or aws-iam-NN prefixes, comma-separated")
    hunt.add_argument(
        "--side-inputs",
        help="folder of credential reports, Access Analyzer findings, Config evaluations",
    )
    hunt.add_argument("--format", choices=FINDING_FORMATS, default="table", help="output format")
    hunt.add_argument("-o", "--output", help="write to this file instead of stdout")
    hunt.add_argument("--no-fail", action="store_true", help="exit 0 even when a page fires")
    hunt.add_argument("--as-of", help=_AS_OF_HELP)  # lake (issue 11)
    cli_lake.add_parsers(commands)  # lake (issue 11): compact, vacuum, lake history/upgrade

    quarantine = commands.add_parser("quarantine", help="list what ingest could not load, and why")
    quarantine.add_argument("lake", help="lake folder")
    quarantine.add_argument("--json", action="store_true", help="JSON Lines instead of a table")

    synth = commands.add_parser(
        "synth", help="generate a synthetic org trail with labelled attacks"
    )
    synth.add_argument("out", help="output folder")
    synth.add_argument("--seed", type=int, default=7)
    synth.add_argument("--start", type=_day, default=date(2026, 10, 1))
    synth.add_argument("--days", type=int, default=35)
    synth.add_argument("--accounts", type=int, default=3)
    synth.add_argument("--regions", type=_csv, default=["us-east-1", "eu-west-1"])
    synth.add_argument("--events-per-day", type=int, default=100, help="per account and region")
    synth.add_argument("--files-per-day", type=int, default=8)
    synth.add_argument("--no-scenarios", action="store_true", help="benign background only")
    return parser


def _ingest(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.console import progress_bar, summary_table
    from cloudtrail_hunt.ingest.pipeline import ingest

    with progress_bar("ingest", enabled=not args.json) as advance:
        summary = ingest(
            args.source,
            args.lake,
            start=args.start,
            end=args.end,
            accounts=args.accounts,
            regions=args.regions,
            endpoint_url=args.endpoint_url,
            anon=args.anon,
            strict=args.strict,
            workers=args.workers,
            on_progress=advance,
        )
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        summary_table(summary, Path(args.lake))
    return EXIT_OK


def _synth(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.synth import generate_org_trail

    result = generate_org_trail(
        args.out,
        seed=args.seed,
        start=args.start,
        days=args.days,
        accounts=args.accounts,
        regions=tuple(args.regions),
        events_per_day=args.events_per_day,
        files_per_day=args.files_per_day,
        scenarios=not args.no_scenarios,
    )
    print(f"wrote {result.events:,} events in {result.objects:,} objects to {result.out}")
    return EXIT_OK


def _quarantine(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.console import escape_for_terminal
    from cloudtrail_hunt.ingest.quarantine import quarantine_report

    report = quarantine_report(args.lake).drop("batch")
    if args.json:
        for row in report.iter_rows(named=True):
            print(json.dumps(row))
        return EXIT_OK
    for source, index, reason in report.iter_rows():
        where = source if index is None else f"{source}: record {index}"
        print(f"{escape_for_terminal(where, 200)}: {escape_for_terminal(reason, 200)}")
    return EXIT_OK


def _query(args: argparse.Namespace) -> int:
    from cloudtrail_hunt import output
    from cloudtrail_hunt.query.run import compile

    text = args.query
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    compiled = compile(
        text,
        args.source,
        start=args.start,
        end=args.end,
        accounts=args.accounts,
        regions=args.regions,
        as_of=args.as_of,  # lake (issue 11)
    )
    for warning in compiled.warnings:
        print(f"cloudtrail-hunt: warning: {warning}", file=sys.stderr)
    if args.explain:
        print(compiled.plan.explain())
        return EXIT_OK
    if args.format == "parquet" and args.output is None and sys.stdout.isatty():
        print("cloudtrail-hunt: error: --format parquet needs -o FILE", file=sys.stderr)
        return EXIT_ERROR
    result = compiled.plan.collect()
    if args.output is None:
        output.write(result, args.format)
    else:
        with Path(args.output).open("wb") as out:
            output.write(result, args.format, out)
    return EXIT_OK


def _cached_lake(source: str) -> str:
    """Raw logs are ingested into the cache lake first, with a progress bar and a summary."""
    from cloudtrail_hunt.console import escape_for_terminal, progress_bar
    from cloudtrail_hunt.source import ingest_cached, is_lake, is_log_events

    if is_lake(source) or is_log_events(source):
        return source
    with progress_bar("ingest") as advance:
        lake, summary = ingest_cached(source, on_progress=advance)
    counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in summary.as_dict().items())
    where = escape_for_terminal(str(lake), 200)
    print(f"cloudtrail-hunt: ingested into {where}: {counts}", file=sys.stderr)
    return str(lake)


def _hunt(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.config import load_config
    from cloudtrail_hunt.detect import findings as rendering
    from cloudtrail_hunt.detect import registry
    from cloudtrail_hunt.detect.hunt import default_side_inputs, default_site, hunt
    from cloudtrail_hunt.detect.site import Site

    pack = registry.load()
    config = load_config(args.config, pack) if args.config else None
    for note in config.expired if config else []:
        print(
            f"cloudtrail-hunt: warning: allow-list entry {note}; it no longer applies",
            file=sys.stderr,
        )
    site = config.site if config and config.site else default_site(args.source)
    if site == Site():
        print(
            "cloudtrail-hunt: warning: no organisation facts (management account, partners, "
            "boundary ARNs, allowed regions); signals that need them err towards alerting. "
            "Give them in --config [site] or an org.json beside the logs",
            file=sys.stderr,
        )
    side_inputs = args.side_inputs or default_side_inputs(args.source)
    source = _cached_lake(args.source)
    # lake (issue 11): resolve the lake once, pinned, and say which version the hunt reads.
    from cloudtrail_hunt.escape import escape_for_terminal
    from cloudtrail_hunt.lake import Lake
    from cloudtrail_hunt.source import is_log_events

    if not is_log_events(source):
        source = Lake.open(source, as_of=args.as_of).pinned()
        where = escape_for_terminal(source.uri, 200)
        print(f"cloudtrail-hunt: hunting {where} at lake version {source.version}", file=sys.stderr)
    found = hunt(
        source,
        start=args.start,
        end=args.end,
        detections=args.detections,
        site=site,
        tuning=config.tuning if config else None,
        pack=pack,
        side_inputs=side_inputs,
    )
    if args.format == "parquet" and args.output is None and sys.stdout.isatty():
        print("cloudtrail-hunt: error: --format parquet needs -o FILE", file=sys.stderr)
        return EXIT_ERROR
    if args.output is None:
        rendering.write(found, args.format)
    else:
        with Path(args.output).open("wb") as out:
            rendering.write(found, args.format, out)
    paged = found.filter(found["tier"] == "page").height
    if paged and not args.no_fail:
        print(f"cloudtrail-hunt: {paged} page-tier finding(s)", file=sys.stderr)
        return EXIT_PAGE
    return EXIT_OK


_COMMANDS = {
    **cli_lake.COMMANDS,  # lake (issue 11)
    "hunt": _hunt,
    "ingest": _ingest,
    "quarantine": _quarantine,
    "query": _query,
    "synth": _synth,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except CloudTrailHuntError as exc:
        print(f"cloudtrail-hunt: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"cloudtrail-hunt: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `| head` closed the pipe: not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("cloudtrail-hunt: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130
