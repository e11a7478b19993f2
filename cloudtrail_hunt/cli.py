"""The `cloudtrail-hunt` command line: the parser, dispatch, exit codes and error handling.

Exit codes, the same for every command (README "Commands and exit codes"):

====  ===========================================================================================
0     success; quarantined input is reported, not a failure
1     `hunt`: a page-tier finding fired (`--no-fail`: exit 0); `ingest --fail-on-quarantine`:
      some input was quarantined
2     a usage, input or configuration error: one line naming the problem and what to do
3     an internal error: one line; rerun with `--debug` for the traceback
130   interrupted
====  ===========================================================================================

Adding a subcommand: write ``cloudtrail_hunt/cli_<area>.py`` with ::

    def add_parsers(commands):            # commands: the argparse subparsers object
        parser = commands.add_parser("name", help="...")
        parser.add_argument("--start", type=instant)   # dates: cli.instant / cli.day
        parser.set_defaults(handler=_name)

    def _name(args) -> int:               # import heavy modules (polars...) here, not at the top
        ...
        return EXIT_OK

and add the module's name to :data:`AREAS` (a parser without a ``handler`` default is looked
up in ``_COMMANDS`` by name). Types: :func:`instant`, :func:`day`, :func:`folder`,
:func:`positive`; :func:`warn` prints a warning line. `main` gives every handler the same treatment:
a :class:`~cloudtrail_hunt.errors.CloudTrailHuntError` (raise ``ConfigError`` for a usage
mistake) or an ``OSError`` becomes one line and exit 2, anything else one line and exit 3 (the
traceback with ``--debug``), Python warnings become ``cloudtrail-hunt: warning: ...`` lines,
and a ``--start`` not before ``--end`` is refused before the handler runs. A handler must not
create anything before its inputs are checked.

Start-up: this module imports only the standard library and cloudtrail_hunt.errors, so
``--help`` and ``--version`` do not import Polars; handlers import what they use.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cloudtrail_hunt.errors import CloudTrailHuntError, ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from cloudtrail_hunt.lake import Lake

EXIT_OK, EXIT_PAGE, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3
#: Modules that add subcommands (each exposes `add_parsers(commands)`), after this module's own.
AREAS: tuple[str, ...] = (
    "cloudtrail_hunt.cli_cache",
    "cloudtrail_hunt.cli_detections",
    "cloudtrail_hunt.cli_workbench",
    "cloudtrail_hunt.cli_custody",
    "cloudtrail_hunt.cli_tune",
    "cloudtrail_hunt.cli_lake",
)
#: Output formats (cloudtrail_hunt.output.FORMATS and detect.findings.FORMATS; kept here so the
#: parser does not import Polars; tests/test_cli.py checks they agree).
_AS_OF_HELP = "read the lake as of this version (see `lake history`) or time (ISO, UTC)"
QUERY_FORMATS = ("table", "json", "jsonl", "csv", "parquet")
FINDING_FORMATS = ("table", "jsonl", "csv", "parquet")
_PROG = "cloudtrail-hunt"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like every other error of the CLI."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}; see `{self.prog} --help`\n")
        raise SystemExit(EXIT_ERROR)


def instant(text: str) -> datetime:
    """argparse type: a day or an ISO 8601 time (UTC), with the message every command gives."""
    from cloudtrail_hunt.instants import parse_instant

    try:
        return parse_instant(text)
    except ConfigError as exc:
        msg = f"{exc.reason}; {exc.hint}"
        raise argparse.ArgumentTypeError(msg) from None


def day(text: str) -> date:
    """argparse type: the day of :func:`instant` (delivery days of `ingest`, `synth`)."""
    return instant(text).date()


def folder(text: str) -> Path:
    """argparse type: an existing folder."""
    if not Path(text).is_dir():
        msg = f"{text!r} is not a folder"
        raise argparse.ArgumentTypeError(msg)
    return Path(text)


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a whole number of at least 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def warn(message: str) -> None:
    """A warning line on stderr."""
    print(f"{_PROG}: warning: {message}", file=sys.stderr)


def as_of(text: str) -> int | datetime:
    """argparse type for --as-of: a lake version (see `lake history`) or a day or ISO time."""
    return int(text) if text.strip().isdigit() else instant(text)


def _version() -> str:
    from cloudtrail_hunt import __version__

    return __version__


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_PROG, description="AWS CloudTrail forensics on a Delta Lake lake.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an internal error"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_parsers(commands)
    for area in AREAS:
        importlib.import_module(area).add_parsers(commands)
    return parser


def _add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ingest = commands.add_parser("ingest", help="ingest CloudTrail logs into the lake")
    ingest.add_argument("source", help="local folder or file, or s3://bucket[/prefix]")
    ingest.add_argument("lake", help="lake folder (created if missing)")
    ingest.add_argument("--start", type=day, help="first delivery day to read (YYYY-MM-DD)")
    ingest.add_argument("--end", type=day, help="last delivery day to read, inclusive")
    ingest.add_argument("--accounts", type=_csv, help="comma-separated account ids")
    ingest.add_argument("--regions", type=_csv, help="comma-separated regions")
    ingest.add_argument("--endpoint-url", help="S3-compatible endpoint (else AWS_ENDPOINT_URL)")
    ingest.add_argument("--anon", action="store_true", help="unsigned S3 requests (public buckets)")
    ingest.add_argument(
        "--strict", action="store_true", help="fail on the first bad object or record"
    )
    ingest.add_argument(
        "--fail-on-quarantine", action="store_true", help="exit 1 when any input was quarantined"
    )
    ingest.add_argument(
        "--side-inputs",
        type=folder,
        help="folder of org.json and side inputs to store (default: SOURCE/side_inputs)",
    )
    ingest.add_argument("--workers", type=positive, help="worker processes (default: one per core)")
    ingest.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ingest.set_defaults(handler=_ingest)

    query = commands.add_parser(
        "query", help="run a CloudWatch Logs Insights query on a lake or on raw logs"
    )
    query.add_argument("source", help="lake folder, or raw logs (folder, file or s3://…)")
    query.add_argument("query", help="the query text, or @FILE to read it from a file")
    query.add_argument("--start", type=instant, help="event time from (YYYY-MM-DD or ISO, UTC)")
    query.add_argument("--end", type=instant, help="event time until, exclusive")
    query.add_argument("--accounts", type=_csv, help="comma-separated account ids")
    query.add_argument("--regions", type=_csv, help="comma-separated regions")
    query.add_argument("--format", choices=QUERY_FORMATS, default="table", help="output format")
    query.add_argument("-o", "--output", help="write to this file instead of stdout")
    query.add_argument(
        "--explain", action="store_true", help="print the optimised Polars plan, do not run"
    )
    query.set_defaults(handler=_query)
    query.add_argument("--as-of", type=as_of, help=_AS_OF_HELP)

    hunt = commands.add_parser(
        "hunt", help="run the IAM hardening detections on a lake or on raw logs"
    )
    hunt.add_argument("source", help="lake folder, or raw logs (folder, file or s3://…)")
    hunt.add_argument(
        "--start", type=instant, help="hunt from (YYYY-MM-DD or ISO, UTC); default: last day"
    )
    hunt.add_argument("--end", type=instant, help="hunt until, exclusive")
    hunt.add_argument("--config", help="TOML file: site facts, thresholds, allow-lists")
    hunt.add_argument("--detections", type=_csv, help="ids or aws-iam-NN prefixes, comma-separated")
    hunt.add_argument(
        "--side-inputs",
        type=folder,
        help="folder of org.json, credential reports, Access Analyzer findings, Config "
        "evaluations (default: the lake's side tables)",
    )
    hunt.add_argument("--format", choices=FINDING_FORMATS, default="table", help="output format")
    hunt.add_argument("-o", "--output", help="write to this file instead of stdout")
    hunt.add_argument("--no-fail", action="store_true", help="exit 0 even when a page fires")
    hunt.add_argument("--as-of", type=as_of, help=_AS_OF_HELP)
    hunt.set_defaults(handler=_hunt)

    quarantine = commands.add_parser("quarantine", help="list what ingest could not load, and why")
    quarantine.add_argument("lake", help="lake folder (or the cache lake `query`/`hunt` printed)")
    quarantine.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    quarantine.set_defaults(handler=_quarantine)

    synth = commands.add_parser(
        "synth", help="generate a synthetic org trail with labelled attacks"
    )
    synth.add_argument("out", help="output folder")
    synth.add_argument("--seed", type=int, default=7)
    synth.add_argument("--start", type=day, default=date(2026, 10, 1))
    synth.add_argument("--days", type=positive, default=35)
    synth.add_argument("--accounts", type=positive, default=3)
    synth.add_argument("--regions", type=_csv, default=["us-east-1", "eu-west-1"])
    synth.add_argument(
        "--events-per-day", type=positive, default=100, help="per account and region"
    )
    synth.add_argument("--files-per-day", type=positive, default=8)
    synth.add_argument("--no-scenarios", action="store_true", help="benign background only")
    synth.set_defaults(handler=_synth)


def require_lake(path: str) -> None:
    """Refuse (exit 2) a path that is not a lake, before any work starts."""
    from cloudtrail_hunt.source import is_lake

    if not is_lake(path):
        raise ConfigError(
            key="lake",
            reason=f"{path!r} is not a lake",
            hint="give a folder written by `cloudtrail-hunt ingest`, or the cache lake that "
            "`query`/`hunt` print for raw logs (`cloudtrail-hunt cache list`)",
        )


def _ingest(args: argparse.Namespace) -> int:
    import json

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
            side_inputs=args.side_inputs,
        )
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        summary_table(summary, Path(args.lake))
    _side_summary(summary, args.lake)
    quarantined = summary.quarantined_objects + summary.quarantined_records
    quarantined += len(summary.side.quarantined) if summary.side else 0
    if quarantined and args.fail_on_quarantine:
        print(
            f"{_PROG}: {quarantined:,} quarantined input(s) (--fail-on-quarantine)", file=sys.stderr
        )
        return EXIT_PAGE
    return EXIT_OK


def _side_summary(summary: object, lake: str | Path) -> None:
    """The side-input documents an ingest stored, on stderr, each quarantined one named."""
    from cloudtrail_hunt.escape import escape_for_terminal

    side = getattr(summary, "side", None)
    if side is None:
        return
    print(
        f"{_PROG}: side inputs: {side.stored:,} documents stored, {side.skipped:,} already "
        f"stored, {len(side.quarantined):,} quarantined",
        file=sys.stderr,
    )
    for path, reason in side.quarantined:
        warn(f"side input {escape_for_terminal(path, 200)} quarantined: "
             f"{escape_for_terminal(reason, 300)}")  # fmt: skip
    if side.quarantined:
        warn(f"see `cloudtrail-hunt quarantine {escape_for_terminal(str(lake), 200)}`")


def _synth(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.synth import generate_org_trail

    try:
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
    except ValueError as exc:  # the generator's own limits (scenarios need 3 accounts, 28 days)
        raise ConfigError(key="synth", reason=str(exc), hint="or pass --no-scenarios") from None
    print(f"wrote {result.events:,} events in {result.objects:,} objects to {result.out}")
    return EXIT_OK


def _quarantine(args: argparse.Namespace) -> int:
    import json

    require_lake(args.lake)
    import polars as pl

    from cloudtrail_hunt.escape import escape_for_terminal
    from cloudtrail_hunt.ingest.quarantine import quarantine_report
    from cloudtrail_hunt.ingest.side_tables import side_quarantine

    events = quarantine_report(args.lake).drop("batch")
    side = side_quarantine(args.lake).with_columns(index=pl.lit(None, pl.Int64))
    report = pl.concat([events, side.select(events.columns)], how="vertical_relaxed")
    if args.json:
        for row in report.iter_rows(named=True):
            print(json.dumps(row))
        return EXIT_OK
    for source, index, reason in report.iter_rows():
        where = source if index is None else f"{source}: record {index}"
        print(f"{escape_for_terminal(where, 200)}: {escape_for_terminal(reason, 200)}")
    if report.is_empty():
        print(f"nothing quarantined in {escape_for_terminal(args.lake, 200)}", file=sys.stderr)
    return EXIT_OK


def _query(args: argparse.Namespace) -> int:
    from cloudtrail_hunt import output
    from cloudtrail_hunt.query.run import compile

    text = args.query
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    _parquet_needs_file(args)
    source = _cached_lake(args.source, args.start, args.end, args.accounts, args.regions)
    compiled = compile(
        text,
        source,
        start=args.start,
        end=args.end,
        accounts=args.accounts,
        regions=args.regions,
        as_of=args.as_of,  # lake (issue 11)
    )
    for warning in compiled.warnings:
        warn(warning)
    if args.explain:
        print(compiled.plan.explain())
        return EXIT_OK
    result = compiled.plan.collect()
    if args.output is None:
        output.write(result, args.format)
    else:
        with Path(args.output).open("wb") as out:
            output.write(result, args.format, out)
    return EXIT_OK


def _parquet_needs_file(args: argparse.Namespace) -> None:
    if args.format == "parquet" and args.output is None and sys.stdout.isatty():
        raise ConfigError(key="--format", reason="parquet is binary: it needs -o FILE or a pipe")


def _cached_lake(
    source: str,
    start: datetime | None = None,
    end: datetime | None = None,
    accounts: list[str] | None = None,
    regions: list[str] | None = None,
) -> str:
    """Raw logs are ingested into their cache lake first: progress and summary on stderr."""
    from cloudtrail_hunt.console import escape_for_terminal, progress_bar
    from cloudtrail_hunt.source import ingest_cached, is_lake, is_log_events

    if is_lake(source) or is_log_events(source):
        return source
    # Delivery runs minutes behind event time: read one day either side of the range.
    first = None if start is None else (start - timedelta(days=1)).date()
    last = None if end is None else (end + timedelta(days=1)).date()
    with progress_bar("ingest") as advance:
        lake, summary = ingest_cached(
            source, start=first, end=last, accounts=accounts, regions=regions, on_progress=advance
        )
    counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in summary.as_dict().items())
    where = escape_for_terminal(str(lake), 200)
    print(f"{_PROG}: ingested into {where}: {counts}", file=sys.stderr)
    _side_summary(summary, lake)
    if summary.quarantined_objects or summary.quarantined_records:
        warn(f"some input was quarantined: see `cloudtrail-hunt quarantine {where}`")
    return str(lake)


def _hunt(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.config import load_config
    from cloudtrail_hunt.detect import findings as rendering
    from cloudtrail_hunt.detect import registry
    from cloudtrail_hunt.detect.hunt import hunt

    pack = registry.load()
    registry.select(pack, args.detections)  # an unknown detection is refused before any ingest
    config = load_config(args.config, pack) if args.config else None
    for note in config.expired if config else []:
        warn(f"allow-list entry {note}; it no longer applies")
    _parquet_needs_file(args)
    source = _cached_lake(args.source)
    # Resolved once and pinned: the hunt and its summary read the same version of the lake.
    from cloudtrail_hunt.lake import Lake
    from cloudtrail_hunt.source import is_log_events

    if not is_log_events(source):
        source = Lake.open(source, as_of=args.as_of).pinned()
    found = hunt(
        source,
        start=args.start,
        end=args.end,
        detections=args.detections,
        site=config.site if config and config.site else None,
        tuning=config.tuning if config else None,
        pack=pack,
        side_inputs=args.side_inputs,
    )
    if args.output is None:
        rendering.write(found, args.format)
    else:
        with Path(args.output).open("wb") as out:
            rendering.write(found, args.format, out)
    paged = found.filter(found["tier"] == "page").height
    if isinstance(source, Lake):
        _hunt_summary(source, args, found.height, paged)
    if paged and not args.no_fail:
        print(f"{_PROG}: {paged} page-tier finding(s)", file=sys.stderr)
        return EXIT_PAGE
    return EXIT_OK


def _hunt_summary(lake: Lake, args: argparse.Namespace, findings: int, paged: int) -> None:
    """What the hunt read, on stderr: the lake version (to re-run it with --as-of) and how much
    of the hunted range a valid CloudTrail digest chain covers (`verify --lake` records it)."""
    from cloudtrail_hunt.detect.hunt import hunted_range
    from cloudtrail_hunt.escape import escape_for_terminal

    where = escape_for_terminal(lake.uri, 200)
    line = f"{findings:,} findings ({paged:,} pages) from {where} at lake version {lake.version}"
    if lake.has_table("custody"):
        from cloudtrail_hunt import schema
        from cloudtrail_hunt.custody.lake import coverage

        lo, hi = hunted_range(args.start, args.end, lake.latest_event())
        read = lake.scan(start=lo, end=hi).select(schema.SOURCE).collect()[schema.SOURCE]
        covered = coverage(lake.uri, read.to_list())
        line += (
            f"; {covered['covered_rows']:,} of {covered['rows']:,} events in the range "
            f"({covered['fraction']:.1%}) are in log files a valid digest chain covers"
        )
    else:
        line += "; digest coverage unknown (run `cloudtrail-hunt verify SOURCE --lake LAKE`)"
    print(f"{_PROG}: {line}", file=sys.stderr)


#: Handlers by command name, for commands registered without `set_defaults(handler=...)`.
_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def _check_range(args: argparse.Namespace) -> None:
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is None or end is None or type(start) is not type(end):
        return
    # Days are inclusive (a one-day range has start == end); instants are [start, end).
    empty = (
        start > end if isinstance(start, date) and not isinstance(start, datetime) else start >= end
    )
    if empty:
        shown = [v.isoformat().replace("+00:00", "Z") for v in (start, end)]
        why = f"the range is empty: --start {shown[0]} is not before --end {shown[1]}"
        raise ConfigError(key="--start", reason=why)


def _show_warning(
    message: Warning | str, category: type[Warning], *_: object, **__: object
) -> None:
    from cloudtrail_hunt.escape import escape_for_terminal

    warn(escape_for_terminal(str(message), 2000))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (see the table above)."""
    import warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line, for every command, including ones added later.
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    handler = getattr(args, "handler", None) or _COMMANDS[args.command]
    try:
        _check_range(args)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return handler(args)
    except BrokenPipeError:  # `| head` closed the pipe: not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except CloudTrailHuntError as exc:
        if debug:
            raise
        # Its first line names the problem; a query error adds the line and a caret below it.
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        if debug:
            raise
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(
            f"{_PROG}: internal error: {type(exc).__name__}: {_one_line(exc)[:300]}; "
            f"rerun with --debug for the traceback, and report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    from cloudtrail_hunt.escape import escape_for_terminal

    return escape_for_terminal(" ".join(str(exc).split()), 2000)
