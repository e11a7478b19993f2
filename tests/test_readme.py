"""The README: every relative link resolves, every command is documented (issue 12, acc. 3)."""

from __future__ import annotations

import re

from cloudtrail_hunt import cli
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
#: Markdown links `[text](target)`, and file names in code spans (`reference/x.md`).
LINKS = re.findall(r"\]\(([^)\s]+)\)", README)
FILES = re.findall(r"`([\w./-]+\.(?:md|txt|ipynb|py|toml))`", README)


def test_every_relative_link_resolves() -> None:
    relative = [t for t in LINKS if not re.match(r"[a-z]+://|#|mailto:", t)]
    assert relative, "the README links files of the repository"
    missing = [t for t in relative if not (REPO / t.split("#")[0]).exists()]
    assert not missing


def test_every_named_document_is_in_the_repository() -> None:
    # A document named in a code span is one a reader will look for.
    named = [f for f in FILES if "/" in f or f.endswith(".md")]
    assert named
    missing = [f for f in named if not (REPO / f).exists() and not list(REPO.glob(f"*/{f}"))]
    assert not missing


def test_the_guide_is_linked() -> None:
    assert "tests/data/hardening-guide.txt" in LINKS


def test_every_command_is_documented() -> None:
    parser = cli._parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    for command in action.choices:
        assert f"cloudtrail-hunt {command}" in README, command
    assert "--version" in README and "| 3 |" in README  # the exit-code table
