"""`cloudtrail-hunt verify`: check a CloudTrail source against its signed digest files, offline.

Exit codes: 0 every digest and log file in scope is valid; 1 something is invalid, missing,
unlisted or unproven; 2 a usage, input or config error (no public keys, a bad key file, an
unreadable source).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cloudtrail_hunt.errors import ConfigError

if TYPE_CHECKING:
    from cloudtrail_hunt.custody.keys import PublicKey
    from cloudtrail_hunt.custody.report import VerifyReport

__all__ = ["KEYS_FILE", "SIGNATURES_FILE", "add_parsers", "verify_command"]

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2

#: Where `verify` looks beside the logs (as `hunt` looks for ``side_inputs/org.json``).
KEYS_FILE = "side_inputs/cloudtrail-public-keys.json"
SIGNATURES_FILE = "side_inputs/cloudtrail-digest-signatures.json"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `verify` on the main parser's subcommands."""
    from cloudtrail_hunt.cli import _csv, day

    verify = commands.add_parser(
        "verify",
        help="check log files against CloudTrail's signed digest files (chain of custody)",
        description=(
            "Check every digest file (signature, chain) and every log file (SHA-256) of a "
            "CloudTrail source, offline. Exit 0 when all is valid, 1 when anything is "
            "invalid, missing, unlisted or unproven, 2 on error."
        ),
    )
    verify.add_argument("source", help="local folder, or s3://bucket[/prefix]")
    verify.add_argument("--start", type=day, help="first delivery day (YYYY-MM-DD)")
    verify.add_argument("--end", type=day, help="last delivery day, inclusive")
    verify.add_argument("--accounts", type=_csv, help="comma-separated account ids")
    verify.add_argument("--regions", type=_csv, help="comma-separated regions")
    keys = verify.add_mutually_exclusive_group()
    keys.add_argument(
        "--public-keys",
        action="append",
        metavar="FILE",
        help=f"saved `aws cloudtrail list-public-keys` output (repeatable; default {KEYS_FILE})",
    )
    keys.add_argument(
        "--fetch-public-keys",
        action="store_true",
        help="call CloudTrail ListPublicKeys in each region (needs AWS credentials)",
    )
    verify.add_argument(
        "--signatures",
        action="append",
        metavar="FILE",
        help=f"saved x-amz-meta-signature of digests, JSON (default {SIGNATURES_FILE})",
    )
    verify.add_argument("--lake", help="record each object's verdict in this lake's custody table")
    verify.add_argument("--endpoint-url", help="S3-compatible endpoint (else AWS_ENDPOINT_URL)")
    verify.add_argument("--anon", action="store_true", help="unsigned S3 requests")
    verify.add_argument("--json", action="store_true", help="print the report as one JSON object")
    verify.set_defaults(handler=verify_command)


def _beside(source: str, name: str) -> list[Path]:
    path = Path(source) / name
    return [path] if "://" not in source and path.is_file() else []


def _keys(args: argparse.Namespace, source: object) -> dict[str, PublicKey]:
    from cloudtrail_hunt.custody.keys import fetch_public_keys, load_public_keys

    if args.fetch_public_keys:
        regions = args.regions or sorted(
            {
                obj.info.region
                for obj in source.list_objects(  # type: ignore[attr-defined]
                    start=args.start, end=args.end, accounts=args.accounts, kinds=["digest"]
                )
                if obj.info.region
            }
        )
        return fetch_public_keys(regions)
    files = args.public_keys or _beside(args.source, KEYS_FILE)
    if not files:
        msg = "no CloudTrail public keys"
        hint = (
            "save `aws cloudtrail list-public-keys --start-time … --end-time …` to a file and "
            f"pass --public-keys FILE, put it at {KEYS_FILE}, or use --fetch-public-keys"
        )
        raise ConfigError(key="--public-keys", reason=msg, hint=hint)
    return load_public_keys(files)


def verify_command(args: argparse.Namespace) -> int:
    """Run `verify`; print a table or JSON; return the exit code."""
    from cloudtrail_hunt.console import progress_bar
    from cloudtrail_hunt.custody.verify import load_signatures, verify_source
    from cloudtrail_hunt.ingest.sources import open_source

    if args.start and args.end and args.start > args.end:
        msg = f"start {args.start.isoformat()!r} is after end {args.end.isoformat()!r}"
        raise ConfigError(key="--start", reason=msg)
    source = open_source(args.source, endpoint_url=args.endpoint_url, anon=args.anon)
    keys = _keys(args, source)
    signatures = load_signatures(args.signatures or _beside(args.source, SIGNATURES_FILE))
    with progress_bar("verify", enabled=not args.json) as advance:
        report = verify_source(
            source,
            keys,
            start=args.start,
            end=args.end,
            accounts=args.accounts,
            regions=args.regions,
            signatures=signatures,
            on_progress=advance,
        )
    if args.lake:
        from cloudtrail_hunt.custody.lake import write_custody

        write_custody(args.lake, report)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        _print_report(report)
    return EXIT_OK if report.ok else EXIT_INVALID


def _print_report(report: VerifyReport) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from cloudtrail_hunt.console import escape_for_terminal

    def cell(value: object) -> Text:
        # Keys and details come from the source: escaped, and never read as rich markup.
        return Text(escape_for_terminal("" if value is None else str(value), 200))

    console = Console()
    streams = Table(title=Text(f"chain of custody: {escape_for_terminal(report.source, 200)}"))
    for name in ("account", "region", "digests", "log files", "covered (UTC)"):
        streams.add_column(name)
    for s in report.streams():
        ranges = s["covered"]
        covered = f"{ranges[0][0]} → {ranges[-1][1]}" if ranges else "nothing"
        if len(ranges) > 1:
            covered += f" ({len(ranges):,} ranges; --json lists them)"
        streams.add_row(
            cell(s["account"]),
            cell(s["region"]),
            cell(", ".join(f"{n:,} {k}" for k, n in s["digests"].items()) or "none"),
            cell(", ".join(f"{n:,} {k}" for k, n in s["files"].items()) or "none"),
            cell(covered),
        )
    console.print(streams)
    for gap in report.gaps:
        console.print(
            cell(
                f"chain restarted for {gap.account} {gap.region} ({gap.trail}): no digest "
                f"between {gap.after} and {gap.before} (validation or logging was off)"
            )
        )
    problems = report.problems()
    if not problems:
        console.print(Text("all digests and log files in scope are valid"))
        return
    table = Table(title=Text(f"{len(problems):,} problem(s)"))
    for name in ("status", "object", "hour (UTC)", "digest / detail"):
        table.add_column(name, overflow="fold")  # a key cut short would hide which file
    for p in problems[:500]:
        hour = getattr(p, "hour_start", None) or getattr(p, "start", None) or ""
        end = getattr(p, "hour_end", None) or getattr(p, "end", None) or ""
        digest = getattr(p, "digest", None)
        note = "; ".join(x for x in (digest, p.detail) if x)
        table.add_row(cell(p.status), cell(p.key), cell(f"{hour} → {end}"), cell(note))
    console.print(table)
    if len(problems) > 500:
        console.print(Text(f"… and {len(problems) - 500:,} more (use --json for all)"))
    print("cloudtrail-hunt: the source does not verify", file=sys.stderr)
