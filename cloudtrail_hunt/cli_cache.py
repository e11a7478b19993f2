"""`cloudtrail-hunt cache list|clean`: the cache lakes `query` and `hunt` ingest raw logs into."""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from cloudtrail_hunt.cli import EXIT_OK
from cloudtrail_hunt.errors import ConfigError


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `cache list` and `cache clean`."""
    cache = commands.add_parser("cache", help="list or remove the cache lakes of raw logs")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="each cache lake: its source, size and last use")
    listing.set_defaults(handler=_list)
    clean = actions.add_parser("clean", help="remove cache lakes (all, or those of SOURCE)")
    clean.add_argument("source", nargs="*", help="raw logs whose cache lake to remove")
    clean.set_defaults(handler=_clean)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _list(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.escape import escape_for_terminal
    from cloudtrail_hunt.lake_cache import cache_lakes, cache_root

    lakes = cache_lakes()
    for lake, source in lakes:
        used = datetime.fromtimestamp(lake.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
        size = _size(lake) / 1e6
        print(f"{lake}\t{size:,.1f} MB\t{used}\t{escape_for_terminal(source or '?', 300)}")
    total = sum(_size(lake) for lake, _ in lakes) / 1e6
    print(f"{len(lakes)} cache lake(s), {total:,.1f} MB in {cache_root()}", file=sys.stderr)
    return EXIT_OK


def _clean(args: argparse.Namespace) -> int:
    from cloudtrail_hunt.lake_cache import cache_lake, cache_lakes

    lakes = [lake for lake, _ in cache_lakes()]
    if args.source:
        wanted = {cache_lake(s) for s in args.source}
        missing = [s for s in args.source if cache_lake(s) not in lakes]
        if missing:
            why = f"no cache lake for {missing[0]!r}"
            raise ConfigError(key="source", reason=why, hint="see `cloudtrail-hunt cache list`")
        lakes = [lake for lake in lakes if lake in wanted]
    freed = 0
    for lake in lakes:
        freed += _size(lake)
        shutil.rmtree(lake)
    print(f"removed {len(lakes)} cache lake(s), {freed / 1e6:,.1f} MB", file=sys.stderr)
    return EXIT_OK
