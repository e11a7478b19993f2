"""`cloudtrail-hunt tune` and `cloudtrail-hunt calibrate`: threshold tuning on the command line.

``tune SOURCE --signal DETECTION/SIGNAL --grid count=3..8 --grid window=30m,1h
--budget pages=2/day [--end …] [--write-config FILE] [--chart DIR] [--format table|jsonl|csv]``
backtests the grid over the 30 days before ``--end`` and recommends the setting with the least
sensitivity lost within the budget; ``calibrate SOURCE --detection aws-iam-0N [--ledger CSV]``
prints the guide's calibration for that control.

Exit codes: 0 done; 2 a usage, input or config error (including no setting within the budget
when ``--write-config`` asked for one: nothing is written); 3 an internal error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cloudtrail_hunt.cli import instant, positive

EXIT_OK, EXIT_ERROR = 0, 2
_CHART, _WRITE = "--chart", "--write-config"
_LEDGER_USERS = ("aws-iam-03", "aws-iam-03-identity-center")
_TUNE_FORMATS = ("table", "jsonl", "csv")
_SUMMARY = (
    "setting", "current", "fits", "recommended", "alerts", "alerts_per_day", "max_per_day",
    "entities", "max_per_entity_week", "pages", "tickets", "kept", "dropped", "new",
)  # fmt: skip


def add_parsers(commands: Any) -> None:
    """Register `tune` and `calibrate` on the CLI's subparsers."""
    tune = commands.add_parser(
        "tune", help="backtest a signal's threshold settings and recommend one within a budget"
    )
    tune.add_argument("source", help="lake folder, or raw logs (folder, file or s3://…)")
    tune.add_argument(
        "--signal", required=True, help="DETECTION/SIGNAL, e.g. aws-iam-07/create-role-…"
    )
    tune.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="AXIS=VALUES",
        help="count=3..8, window=30m,1h, suppress=none,24h, group=principal, tier=ticket, "
        "batch=, digest=, distinct= (repeatable)",
    )
    tune.add_argument(
        "--budget",
        action="append",
        default=[],
        help="pages=2/day, tickets=10/week, alerts=3/entity/week (repeatable; all must hold)",
    )
    tune.add_argument("--tier", help="which threshold of the signal, when it has several")
    tune.add_argument("--start", type=instant, help="backtest from (default: 30 days before --end)")
    tune.add_argument(
        "--end", type=instant, help="backtest until, exclusive (default: end of the last day)"
    )
    tune.add_argument("--config", help="TOML site config: its facts and current thresholds")
    tune.add_argument("--write-config", metavar="FILE", help="write the recommendation here")
    tune.add_argument("--chart", metavar="DIR", help="write trade-off and daily charts (PNG)")
    tune.add_argument("--format", choices=_TUNE_FORMATS, default="table", help="output format")

    calibrate = commands.add_parser("calibrate", help="the guide's baseline calibration")
    calibrate.add_argument("source", help="lake folder, or raw logs (folder, file or s3://…)")
    calibrate.add_argument("--detection", required=True, help="aws-iam-01 … aws-iam-08")
    calibrate.add_argument("--ledger", help="onboarding ledger CSV (aws-iam-03): user[,account]")
    calibrate.add_argument(
        "--end", type=instant, help="calibrate until, exclusive (default: end of data)"
    )
    calibrate.add_argument("--days", type=positive, default=30, help="days before --end (30)")
    calibrate.add_argument("--config", help="TOML site config: organisation facts")
    calibrate.add_argument("--chart", metavar="DIR", help="write the calibration's chart (PNG)")
    calibrate.add_argument("--format", choices=_TUNE_FORMATS, default="table")
    tune.set_defaults(handler=tune_command)
    calibrate.set_defaults(handler=calibrate_command)


def _say(text: str) -> None:
    print(f"cloudtrail-hunt: {text}", file=sys.stderr)


def _chart_folder(path: str | None) -> None:
    """Refuse a --chart path that cannot be a folder before any work starts."""
    from cloudtrail_hunt.errors import ConfigError

    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(_CHART, f"{path} exists and is not a folder")


def _config(args: argparse.Namespace) -> Any:
    """The site config, or None (checked before anything is read or ingested)."""
    from cloudtrail_hunt.config import load_config
    from cloudtrail_hunt.detect import registry

    return load_config(args.config, registry.load()) if args.config else None


def _site(config: Any, source: str) -> Any:
    """The site facts: the config's, else the org.json the ingest stored in the lake's side
    tables, as the hunt reads them (raw logs: their cache lake's, else the one beside them)."""
    from cloudtrail_hunt.detect.hunt import site_of

    return config.site if config and config.site else site_of(source)


def tune_command(args: argparse.Namespace) -> int:
    """Run `cloudtrail-hunt tune`."""
    import polars as pl

    from cloudtrail_hunt import output
    from cloudtrail_hunt.cli import _cached_lake
    from cloudtrail_hunt.console import escape_for_terminal, progress_bar
    from cloudtrail_hunt.errors import ConfigError
    from cloudtrail_hunt.tune.backtest import backtest, parse_grid, resolve_signal
    from cloudtrail_hunt.tune.recommend import parse_budget, recommend, write_config

    # Everything the user typed is checked before the source is read or anything written.
    resolve_signal(args.signal)
    grid = parse_grid(args.grid)
    budgets = [parse_budget(b) for b in args.budget]
    if args.write_config and not budgets:
        raise ConfigError(_WRITE, "needs a --budget to choose a setting by")
    _chart_folder(args.chart)
    config = _config(args)
    source = _cached_lake(args.source)
    site = _site(config, args.source)  # after the ingest: the cache lake's side tables
    with progress_bar("backtest", enabled=args.format == "table") as advance:
        result = backtest(
            source,
            args.signal,
            grid,
            start=args.start,
            end=args.end,
            tier=args.tier,
            site=site,
            tuning=config.tuning if config else None,
            on_progress=advance,
        )
    choice = recommend(result, budgets) if budgets else None
    fits = choice.table.select("setting", "fits") if choice else None
    summary = result.summary
    if fits is not None:
        summary = summary.join(fits, on="setting", how="left")
    chosen = choice.setting.label if choice and choice.setting else None
    summary = summary.with_columns(
        fits=pl.col("fits") if fits is not None else pl.lit(None, pl.Boolean),
        recommended=pl.col("setting") == (chosen or ""),
    ).select(_SUMMARY)
    if args.format == "table":
        days = f"{result.start:%Y-%m-%d} to {result.end:%Y-%m-%d}"
        print(f"{result.detection}/{result.signal}: {len(result.settings)} settings, {days}")
    output.write(summary, args.format)
    if choice is not None:
        if choice.setting is None:
            _say(f"no setting keeps to {', '.join(b.text for b in budgets)}; widen the grid")
        else:
            lost = choice.lost.height
            _say(
                f"recommended: {escape_for_terminal(choice.setting.label)} (drops {lost} of "
                f"{result.summary.filter(pl.col('current'))['alerts'].item()} current findings)"
            )
            if args.format == "table" and lost:
                print("findings the recommendation drops:")
                output.write(choice.lost, "table")
    if args.chart:
        from cloudtrail_hunt.tune import charts

        peaks = charts.peaks(result)
        written = charts.save_charts(
            [
                ("tradeoff", charts.tradeoff(result, choice)),
                ("daily", charts.daily_alerts(result)),
                (
                    "distribution",
                    charts.entity_distribution(
                        peaks,
                        "principal",
                        "in_window",
                        result.current.threshold.count,
                        "Matches per entity within the current window",
                    ),
                ),
            ],
            args.chart,
        )
        _say(f"charts: {', '.join(escape_for_terminal(str(p), 200) for p in written)}")
    if args.write_config:
        if choice is None or choice.setting is None:
            _say("nothing written to the config")
            return EXIT_ERROR
        diff = write_config(args.write_config, args.signal, choice.setting, tier=args.tier)
        stream = sys.stdout if args.format == "table" else sys.stderr
        for line in diff.splitlines() or [f"{args.write_config} already holds this setting"]:
            print(escape_for_terminal(line, None), file=stream)
    return EXIT_OK


def calibrate_command(args: argparse.Namespace) -> int:
    """Run `cloudtrail-hunt calibrate`."""
    from cloudtrail_hunt import output
    from cloudtrail_hunt.cli import _cached_lake
    from cloudtrail_hunt.console import escape_for_terminal
    from cloudtrail_hunt.tune.calibrate import calibrate as run_calibration
    from cloudtrail_hunt.tune.calibrate import calibration_of, ledger_beside, read_ledger

    calibration_of(args.detection)  # a usage error before anything is ingested
    ledger = read_ledger(args.ledger) if args.ledger else None
    # The ledger beside raw logs (not among the side tables the ingest stores in the lake).
    book = ledger_beside(args.source)
    if ledger is None and book is not None and args.detection in _LEDGER_USERS:
        ledger = read_ledger(book)
    _chart_folder(args.chart)
    config = _config(args)
    source = _cached_lake(args.source)
    site = _site(config, args.source)  # after the ingest: the cache lake's side tables
    result = run_calibration(
        source,
        args.detection,
        end=args.end,
        days=args.days,
        ledger=ledger,
        site=site,
    )
    frame = result.frame.drop("gap", strict=False)  # 04: gap_minutes says it in numbers
    if args.format == "table":
        print(f"{result.detection}: {result.title}")
    output.write(frame, args.format)
    if args.chart:
        from cloudtrail_hunt.tune import charts

        (path,) = charts.save_charts(
            [(result.detection, charts.calibration_chart(result))], args.chart
        )
        _say(f"chart: {escape_for_terminal(str(path), 200)}")
    return EXIT_OK
