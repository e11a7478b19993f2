"""`cloudtrail-hunt tune` and `calibrate` as processes: output, exit codes, config writing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import run

SIGNAL = "aws-iam-07-permission-boundary/create-role-without-boundary-burst"
CONFIG = '# reviewed by the SOC lead\n[site]\nbreak_glass_prefix = "bg-"  # ours\n'


def test_tune_recommends_writes_the_config_and_the_hunt_reads_it(
    sample_lake: Path, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    config.write_text(CONFIG)
    done = run(
        "tune", str(sample_lake), "--signal", SIGNAL, "--grid", "count=2,3", "--grid",
        "window=2h", "--budget", "tickets=100/day", "--format", "jsonl",
        "--write-config", str(config),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["setting"] for r in rows] == ["count=3 window=1h", "count=2 window=2h",
                                            "count=3 window=2h"]  # fmt: skip
    assert [r["recommended"] for r in rows] == [False, True, False]
    assert all(r["fits"] for r in rows) and rows[1]["alerts"] > rows[0]["alerts"]
    assert "recommended: count=2 window=2h" in done.stderr and "+count = 2" in done.stderr
    text = config.read_text()
    assert text.startswith(CONFIG) and 'window = "2h"' in text
    hunted = run(
        "hunt", str(sample_lake), "--config", str(config), "--detections", "aws-iam-07",
        "--start", "2026-10-06", "--end", "2026-11-05", "--format", "jsonl", "--no-fail",
    )  # fmt: skip
    assert hunted.returncode == 0, hunted.stderr
    bursts = [
        json.loads(line)
        for line in hunted.stdout.splitlines()
        if '"create-role-without-boundary-burst"' in line
    ]
    assert len(bursts) == rows[1]["alerts"]


def test_tune_table_and_charts(sample_lake: Path, tmp_path: Path) -> None:
    done = run(
        "tune", str(sample_lake), "--signal", SIGNAL, "--grid", "count=2..4",
        "--budget", "tickets=1/day", "--chart", str(tmp_path / "charts"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "count=4" in done.stdout and "3 settings" in done.stdout  # the guide's 3 among them
    pngs = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert pngs == ["daily.png", "distribution.png", "tradeoff.png"]


def test_tune_usage_errors_exit_2_and_create_nothing(sample_lake: Path, tmp_path: Path) -> None:
    config, charts = tmp_path / "new.toml", tmp_path / "charts"
    for args, message in [
        (["--grid", "colour=red"], "AXIS=VALUES"),
        (["--grid", "count=3", "--budget", "pages=many"], "KIND=N"),
        (["--grid", "count=3"], "needs a --budget"),
    ]:
        done = run(
            "tune", str(sample_lake), "--signal", SIGNAL, *args,
            "--write-config", str(config), "--chart", str(charts),
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    unknown = run("tune", str(sample_lake), "--signal", "aws-iam-07/no-such-signal")
    assert unknown.returncode == 2 and "no signal 'no-such-signal'" in unknown.stderr
    assert not config.exists() and not charts.exists()


def test_calibrate_lists_the_ledger_diff(sample_lake: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("user,account\nnobody-ever,\n")
    done = run(
        "calibrate", str(sample_lake), "--detection", "aws-iam-03", "--ledger", str(ledger),
        "--format", "jsonl", "--chart", str(tmp_path / "charts"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    never = [r["user"] for r in rows if r["status"] == "never seen"]
    assert never == ["nobody-ever"]
    assert rows and all(r["status"] in ("unknown", "never seen") for r in rows)
    assert (tmp_path / "charts" / "aws-iam-03-identity-center.png").is_file()
    refused = run("calibrate", str(sample_lake), "--detection", "aws-iam-05")
    assert refused.returncode == 2 and "no calibration" in refused.stderr


def test_calibrate_reads_the_ledger_and_org_facts_beside_raw_logs(
    generated_lake: Path, tmp_path: Path
) -> None:
    from cloudtrail_hunt.synth.ledger import NEVER_SEEN

    logs = generated_lake.parent / "logs"
    env = {"CLOUDTRAIL_HUNT_CACHE": str(tmp_path / "cache")}
    done = run("calibrate", str(logs), "--detection", "aws-iam-03", "--format", "jsonl", env=env)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert {"user": NEVER_SEEN, "status": "never seen"}.items() <= next(
        r for r in rows if r["user"] == NEVER_SEEN
    ).items()
    # org.json's break-glass prefix is read: those users are flagged.
    assert all(r["break_glass"] == r["user"].startswith("break-glass-") for r in rows)
