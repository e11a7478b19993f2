"""Lake maintenance commands: `compact`, `vacuum`, `lake history` and `lake upgrade`.

Registered by cli.py through `add_parsers` (cli.AREAS); exit codes as in cli.py (0 done, 2 a
usage or input error).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudtrail_hunt.cli import positive, require_lake

EXIT_OK = 0


def add_parsers(commands: Any) -> None:
    """Add the lake commands to the `cloudtrail-hunt` subparsers."""
    compact = commands.add_parser(
        "compact", help="merge each day's small files into large ones (an atomic Delta commit)"
    )
    compact.add_argument("lake", help="lake folder or s3://bucket/prefix")
    compact.add_argument(
        "--target-size", type=positive, default=256, help="target file size in MB (default 256)"
    )
    vacuum = commands.add_parser(
        "vacuum", help="delete files no version within the retention reads (time travel ends there)"
    )
    vacuum.add_argument("lake", help="lake folder or s3://bucket/prefix")
    vacuum.add_argument(
        "--retention-days", type=positive, default=7, help="keep this many days (minimum 7)"
    )
    vacuum.add_argument("--dry-run", action="store_true", help="list the files, delete nothing")
    lake = commands.add_parser("lake", help="lake versions and layout migration")
    actions = lake.add_subparsers(dest="lake_command", required=True)
    history = actions.add_parser("history", help="list the versions of the events table")
    history.add_argument("lake", help="lake folder or s3://bucket/prefix")
    upgrade = actions.add_parser(
        "upgrade", help="rewrite a lake of the old layout (schema 2, `_ledger`) as Delta tables"
    )
    upgrade.add_argument("old", help="lake folder of the old layout")
    upgrade.add_argument("new", help="new lake folder or s3://bucket/prefix (must not be a lake)")
    for parser, handler in ((compact, _compact), (vacuum, _vacuum), (lake, _lake)):
        parser.set_defaults(handler=handler)


def _compact(args: argparse.Namespace) -> int:
    require_lake(args.lake)
    from cloudtrail_hunt.ingest.compact import compact

    done = compact(args.lake, target_size=args.target_size * 1024 * 1024)
    print(
        f"compacted {done.partitions:,} day partitions: {done.files_removed:,} files into "
        f"{done.files_written:,}"
    )
    return EXIT_OK


def _vacuum(args: argparse.Namespace) -> int:
    require_lake(args.lake)
    from cloudtrail_hunt.escape import escape_for_terminal
    from cloudtrail_hunt.ingest.compact import vacuum

    removed = vacuum(args.lake, retention=timedelta(days=args.retention_days), dry_run=args.dry_run)
    for path in removed:
        print(escape_for_terminal(path, 300))
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(removed):,} files", file=sys.stderr)
    return EXIT_OK


def _lake(args: argparse.Namespace) -> int:
    if args.lake_command == "upgrade":
        from cloudtrail_hunt.ingest.upgrade import upgrade

        done = upgrade(args.old, args.new)
        print(
            f"upgraded {done.events:,} events, {done.insights:,} insights and "
            f"{done.objects:,} ledger objects into {done.lake}"
        )
        return EXIT_OK
    from cloudtrail_hunt.lake import Lake

    lake = Lake.open(args.lake)
    lake.require()
    for entry in lake.table("events").history():
        operation = entry.get("operation", "")
        metrics = entry.get("operationMetrics", {})
        rows = metrics.get("num_added_rows", metrics.get("numAddedRows", ""))
        when = datetime.fromtimestamp(entry["timestamp"] / 1000, UTC)
        print(f"{entry['version']}\t{when.isoformat(timespec='seconds')}\t{operation}\t{rows}")
    return EXIT_OK

