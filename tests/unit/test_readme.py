"""The README says what stays true: no counts that drift, every command in its table."""

from __future__ import annotations

import re

from orchestrator.cli import main
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_gives_no_test_count():
    # a count of tests is wrong the day a test is added; say what runs and how long instead
    assert re.findall(r"\b\d[\d,]*\s+tests\b", README) == []


def test_the_commands_table_lists_every_command():
    table = README[README.index("## Commands"):]
    listed = set(re.findall(r"^\| `orchestrator (\w+)", table, re.M))
    assert listed == set(main.commands)
