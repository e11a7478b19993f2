"""Every command's everyday mistakes, as a process (issue 12, acceptance 2).

Each row: the arguments (``{tmp}`` is a fresh folder, ``{lake}`` the sample lake), the text the
one-line message must name. Each mistake must exit 2 with that one line on stderr, nothing on
stdout, no traceback, and no file created (in the folder, or a cache lake).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloudtrail_hunt import cli
from tests.conftest import REPO, SAMPLE_LOGS
from tests.test_cli import run

EMPTY_RANGE = "the range is empty"
SIGNAL = "aws-iam-07/create-role-without-boundary-burst"
BAD_DATE = "invalid date"
MISTAKES = [
    # ingest
    (["ingest", "{tmp}/nope", "{tmp}/lake"], "does not exist"),
    (["ingest", "{logs}", "{tmp}/lake", "--start", "2026-13-01"], BAD_DATE),
    (["ingest", "{logs}", "{tmp}/lake", "--start", "01/11/2026"], BAD_DATE),
    (["ingest", "{logs}", "{tmp}/lake", "--start", "2026-10-05", "--end", "2026-10-01"],
     EMPTY_RANGE),
    (["ingest", "{logs}", "{tmp}/lake", "--side-inputs", "{tmp}/nope"], "is not a folder"),
    (["ingest", "{logs}"], "required: lake"),
    (["ingest", "{logs}", "{tmp}/lake", "--workers", "two"], "at least 1"),
    (["ingest", "{logs}", "{tmp}/lake", "--workers", "0"], "at least 1"),
    # query
    (["query", "{tmp}/nonexistent", "fields @timestamp"], "does not exist"),
    (["query", "{lake}", "fields @timestamp", "--start", "2026-13-01"], BAD_DATE),
    (["query", "{lake}", "fields @timestamp", "--start", "01/11/2026"], BAD_DATE),
    (["query", "{lake}", "fields @timestamp", "--start", "2026-10-05", "--end", "2026-10-01"],
     EMPTY_RANGE),
    (["query", "{lake}", "fields @timestamp", "--start", "2026-10-05", "--end", "2026-10-05"],
     EMPTY_RANGE),
    (["query", "{lake}", "@{tmp}/no-such-query.txt"], "no-such-query.txt"),
    (["query", "{lake}", "stats count(*) by", "--format", "xml"], "invalid choice: 'xml'"),
    # hunt
    (["hunt", "{tmp}/nonexistent"], "does not exist"),
    (["hunt", "{lake}", "--start", "2026-13-01"], BAD_DATE),
    (["hunt", "{logs}", "--start", "01/11/2026"], BAD_DATE),
    (["hunt", "{logs}", "--start", "2026-11-03", "--end", "2026-11-01"], EMPTY_RANGE),
    (["hunt", "{logs}", "--side-inputs", "{tmp}/nope"], "is not a folder"),
    (["hunt", "{lake}", "--config", "{tmp}/nope.toml"], "nope.toml"),
    (["hunt", "{lake}", "--detections", "aws-iam-99"], "aws-iam-99"),
    # compact, quarantine
    (["compact", "{tmp}/nope"], "is not a lake"),
    (["quarantine", "{logs}"], "is not a lake"),
    (["quarantine", "{tmp}"], "is not a lake"),
    # synth
    (["synth", "{tmp}/out", "--start", "2026-13-01"], BAD_DATE),
    (["synth", "{tmp}/out", "--days", "ten"], "at least 1"),
    (["synth", "{tmp}/out", "--days", "5"], "scenarios need"),
    (["synth", "{tmp}/out", "--accounts", "0"], "at least 1"),
    # timeline, trace, evidence
    (["timeline", "{tmp}/nope", "--principal", "arn:aws:iam::111122223333:user/x"],
     "does not exist"),
    (["timeline", "{lake}", "--principal", "arn:x", "--before", "2parsecs"],
     "invalid time span"),
    (["timeline", "{lake}", "--principal", "arn:x", "--at", "2026-13-01"], BAD_DATE),
    (["timeline", "{lake}"], "one of the arguments --principal --access-key --finding"),
    (["trace", "{tmp}/nope", "--access-key", "AKIAEXAMPLE"], "does not exist"),
    (["trace", "{logs}", "--access-key", "AKIAEXAMPLE", "--start", "01/11/2026"], BAD_DATE),
    (["trace", "{lake}", "--access-key", "AKIAEXAMPLE", "--start", "2026-10-05", "--end",
      "2026-10-01"], EMPTY_RANGE),
    (["evidence", "{tmp}/nope", "--principal", "arn:x", "-o", "{tmp}/out"], "does not exist"),
    (["evidence", "{lake}", "--principal", "arn:x"], "-o DIR"),
    (["evidence", "verify", "{tmp}"], "no readable manifest.json"),
    # tune, calibrate
    (["tune", "{tmp}/nope", "--signal", SIGNAL], "does not exist"),
    (["tune", "{logs}", "--signal", "aws-iam-99/x"], "aws-iam-99"),
    (["tune", "{logs}", "--signal", SIGNAL, "--grid", "count=x"], "count=x"),
    (["tune", "{logs}", "--signal", SIGNAL, "--budget", "pages=lots"], "pages=lots"),
    (["tune", "{logs}", "--signal", SIGNAL, "--end", "2026-13-01"], BAD_DATE),
    (["tune", "{logs}", "--signal", SIGNAL, "--write-config", "{tmp}/x.toml"],
     "needs a --budget"),
    (["calibrate", "{tmp}/nope", "--detection", "aws-iam-01"], "does not exist"),
    (["calibrate", "{logs}", "--detection", "aws-iam-09"], "no calibration for aws-iam-09"),
    (["calibrate", "{logs}", "--detection", "aws-iam-03", "--ledger", "{tmp}/none.csv"],
     "none.csv"),
    (["calibrate", "{logs}", "--detection", "aws-iam-01", "--days", "0"], "at least 1"),
    # verify
    (["verify", "{tmp}/nope"], "does not exist"),
    (["verify", "{logs}", "--start", "01/11/2026"], BAD_DATE),
    (["verify", "{tmp}"], "no CloudTrail public keys"),
    # compact, vacuum, lake
    (["vacuum", "{tmp}/nope"], "is not a lake"),
    (["vacuum", "{lake}", "--retention-days", "0"], "at least 1"),
    (["vacuum", "{lake}", "--retention-days", "3"], "below the minimum"),
    (["lake", "history", "{tmp}"], "not a cloudtrail-hunt lake"),
    (["lake", "upgrade", "{tmp}/nope", "{tmp}/new"], "nope"),
    (["lake"], "required"),
    (["query", "{lake}", "fields @timestamp", "--as-of", "yesterday"], BAD_DATE),
    # cache, detections
    (["cache", "clean", "{tmp}/never-cached"], "no cache lake"),
    (["cache"], "required: ACTION"),
    (["detections", "--config", "{tmp}/nope.toml"], "nope.toml"),
    # the command line itself
    ([], "required: COMMAND"),
    (["hunts", "{lake}"], "invalid choice: 'hunts'"),
    (["hunt", "{lake}", "--strat", "2026-10-01"], "unrecognized arguments: --strat"),
]  # fmt: skip


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize(
    ("args", "named"), MISTAKES, ids=[" ".join(a) or "(nothing)" for a, _ in MISTAKES]
)
def test_mistake_exits_2_with_one_line_and_creates_nothing(
    args: list[str], named: str, sample_lake: Path, tmp_path: Path
) -> None:
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    values = {"tmp": str(work), "lake": str(sample_lake), "logs": str(SAMPLE_LOGS)}
    lake_before = _files(sample_lake)
    done = run(*(a.format(**values) for a in args), env={"CLOUDTRAIL_HUNT_CACHE": str(cache)})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("cloudtrail-hunt") and "error" in lines[0]
    assert named in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert _files(work) == set()
    assert not cache.exists()
    assert _files(sample_lake) == lake_before


def test_every_command_has_a_mistake_in_the_table() -> None:
    commands = set(_commands())
    tried = {args[0] for args, _ in MISTAKES if args}
    assert commands <= tried, commands - tried


def _commands() -> list[str]:
    parser = cli._parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return list(action.choices)


_CRASH = """
import cloudtrail_hunt.cli as cli
def broken(args):
    raise KeyError("no such column")
cli._synth = broken
raise SystemExit(cli.main({argv!r}))
"""


@pytest.mark.parametrize("debug", [False, True])
def test_internal_error_exits_3_with_a_hint_and_a_traceback_only_with_debug(
    tmp_path: Path, debug: bool
) -> None:
    argv = ["synth", str(tmp_path / "out"), *(["--debug"] if debug else [])]
    done = subprocess.run(
        [sys.executable, "-c", _CRASH.format(argv=argv)],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )  # fmt: skip
    if debug:
        assert done.returncode == 1 and "Traceback" in done.stderr  # Python's own handling
        assert "KeyError" in done.stderr
        return
    assert done.returncode == 3
    (line,) = done.stderr.strip().splitlines()
    assert "internal error: KeyError" in line and "--debug" in line
    assert "Traceback" not in done.stderr


def test_help_and_version_exit_0(tmp_path: Path) -> None:
    version = run("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"cloudtrail-hunt {__import__('cloudtrail_hunt').__version__}"
    for command in _commands():
        done = run(command, "--help")
        assert done.returncode == 0 and "usage: cloudtrail-hunt " + command in done.stdout


def test_ingest_fail_on_quarantine_exits_1(tmp_path: Path) -> None:
    src = tmp_path / "src"
    bad = src / "AWSLogs/o-test000001/012345678901/CloudTrail/us-east-1/2026/10/01/bad.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    plain = run("ingest", str(src), str(tmp_path / "a"))
    assert plain.returncode == 0, plain.stderr
    strict = run("ingest", str(src), str(tmp_path / "b"), "--fail-on-quarantine")
    assert strict.returncode == 1
    assert "quarantined" in strict.stderr.splitlines()[-1]


def test_cache_list_and_clean(tmp_path: Path) -> None:
    cache = {"CLOUDTRAIL_HUNT_CACHE": str(tmp_path / "cache")}
    logs = tmp_path / "logs"
    src = SAMPLE_LOGS / "AWSLogs/o-qp3tso2uxb/099074203064/CloudTrail/us-east-1/2026/10/01"
    (logs / src.relative_to(SAMPLE_LOGS)).mkdir(parents=True)
    for file in sorted(src.iterdir())[:3]:
        (logs / file.relative_to(SAMPLE_LOGS)).write_bytes(file.read_bytes())
    query = run("query", str(logs), "stats count(*) as n", "--format", "csv", env=cache)
    assert query.returncode == 0, query.stderr
    # Raw logs: the ingest summary and the cache lake's path are on stderr, not in the result.
    assert "ingested into " in query.stderr and "records" in query.stderr
    listed = run("cache", "list", env=cache)
    assert listed.returncode == 0
    (row,) = listed.stdout.splitlines()
    lake = row.split("\t")[0]
    assert lake in query.stderr and str(logs.resolve()) in row
    assert run("cache", "clean", str(logs), env=cache).returncode == 0
    assert not Path(lake).exists()
    assert run("cache", "list", env=cache).stdout == ""


def test_detections_lists_thresholds_in_force_after_config(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        '[detections."aws-iam-03-identity-center".thresholds."iam-user-console-login".page]\n'
        'suppress = "12h"\n'
    )

    def login_page(*args: str) -> str:
        done = run("detections", "--json", *args)
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert {r["detection"][:10] for r in rows} == {f"aws-iam-{n:02}" for n in range(1, 11)}
        (row,) = [r for r in rows if r["signal"] == "iam-user-console-login"]
        return row["threshold"]

    assert "suppress 1d" in login_page()
    assert "suppress 12h" in login_page("--config", str(config))


_LAZY = """
import sys
import cloudtrail_hunt as ch
assert "polars" not in sys.modules, "import cloudtrail_hunt loaded Polars"
import cloudtrail_hunt.ingest.pipeline, cloudtrail_hunt.query.run  # bind the subpackages
from cloudtrail_hunt.detect.hunt import hunt
from cloudtrail_hunt.ingest.pipeline import ingest
from cloudtrail_hunt.query.run import query
assert (ch.hunt, ch.ingest, ch.query) == (hunt, ingest, query)
print(ch.scan.__module__, ch.IngestSummary.__name__, ch.Lake.__name__)
"""


def test_package_api_is_lazy_and_complete() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LAZY], capture_output=True, text=True, cwd=REPO, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cloudtrail_hunt.lake", "IngestSummary", "Lake"]


def test_a_bad_side_input_is_named_quarantined_and_reported(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    src = SAMPLE_LOGS / "AWSLogs/o-qp3tso2uxb/099074203064/CloudTrail/us-east-1/2026/10/01"
    (logs / src.relative_to(SAMPLE_LOGS)).mkdir(parents=True)
    for file in sorted(src.iterdir())[:2]:
        (logs / file.relative_to(SAMPLE_LOGS)).write_bytes(file.read_bytes())
    (logs / "side_inputs" / "config").mkdir(parents=True)
    org = (SAMPLE_LOGS / "side_inputs" / "org.json").read_bytes()
    (logs / "side_inputs" / "org.json").write_bytes(org)
    (logs / "side_inputs" / "config" / "099074203064-RULE-2026-10-01.json").write_text("[oops")
    lake = tmp_path / "lake"
    done = run("ingest", str(logs), str(lake), "--fail-on-quarantine")
    assert done.returncode == 1, done.stderr
    assert "side inputs: 1 documents stored" in done.stderr  # org.json
    assert "config/099074203064-RULE-2026-10-01.json quarantined" in done.stderr
    report = run("quarantine", str(lake), "--json")
    assert report.returncode == 0
    (entry,) = [json.loads(line) for line in report.stdout.splitlines()]
    assert entry["source"] == "config/099074203064-RULE-2026-10-01.json" and entry["reason"]
