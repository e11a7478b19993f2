"""`cloudtrail-hunt detections`: the detections, signals, tiers and thresholds in force."""

from __future__ import annotations

import argparse
import json

from cloudtrail_hunt.cli import EXIT_OK


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `detections`."""
    parser = commands.add_parser(
        "detections", help="list detections, signals, tiers and thresholds (after --config)"
    )
    parser.add_argument("--config", help="TOML file whose thresholds and allow-lists apply")
    parser.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    parser.set_defaults(handler=_detections)


def rows(config_path: str | None = None) -> list[dict[str, str]]:
    """One row per detection, signal and tier: the threshold in force after the config."""
    from cloudtrail_hunt.config import load_config
    from cloudtrail_hunt.detect import engine, registry
    from cloudtrail_hunt.detect.model import Computed

    pack = registry.load()
    tuning = load_config(config_path, pack).tuning if config_path else {}
    out = []
    for detection in pack:
        tuned = tuning.get(detection.id, engine.NO_TUNING)
        for signal in detection.signals:
            base = {"detection": detection.id, "signal": signal.name}
            if isinstance(signal, Computed):
                for tier in signal.tiers:
                    out.append({**base, "tier": str(tier), "threshold": "computed"})
                continue
            for threshold in signal.thresholds:
                in_force = engine.tuned(threshold, tuned, signal)
                out.append(
                    {**base, "tier": str(in_force.tier), "threshold": engine.describe(in_force)}
                )
    return out


def _detections(args: argparse.Namespace) -> int:
    import polars as pl

    from cloudtrail_hunt import output

    listed = rows(args.config)
    if args.json:
        for row in listed:
            print(json.dumps(row))
        return EXIT_OK
    output.write(pl.DataFrame(listed), "table")
    return EXIT_OK
