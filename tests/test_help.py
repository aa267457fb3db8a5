"""`--help` reads like a conventional command-line tool's, at 80 columns (issue 20, defect 5)."""

from __future__ import annotations

import re

import pytest
from conftest import run_cli


@pytest.fixture
def help_of(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")

    def show(*command: str) -> str:
        code, out, _ = run_cli([*command, "--help"], capsys)
        assert code == 0
        return out

    return show


def test_usage_lines_are_conventional(help_of):
    assert "Usage: mnist eval [OPTIONS] [RUN]...\n" in help_of("eval")
    assert "Usage: mnist predict [OPTIONS] IMAGE...\n" in help_of("predict")
    assert "Usage: mnist export [OPTIONS] [RUN]\n" in help_of("export")


@pytest.mark.parametrize("command", ["train", "eval", "predict", "runs", "inspect", "download"])
def test_flags_take_no_value_placeholder(help_of, command):
    out = help_of(command)
    assert "<bool>" not in out and "<str>" not in out
    assert re.search(r"^\s+-h, --help\s+Show this message", out, re.M)
    if command in ("eval", "predict", "runs"):
        assert re.search(r"^\s+--json\s+Print JSON", out, re.M)


def test_train_help_is_readable_at_80_columns(help_of):
    out = help_of("train")
    assert max(len(line) for line in out.splitlines()) <= 80
    options = out.split("Options:")[1].split("Models:")[0]
    # Every option's description has room: at least 40 columns of text beside it.
    descriptions = [line[34:] for line in options.splitlines() if line.startswith(" " * 34)]
    assert descriptions and max(len(d) for d in descriptions) >= 40
    # Each list of choices once, below the options, one name per line.
    assert options.count("simple_cnn") == 1  # the default only
    assert "bn_cnn_wide" not in options and "one-cycle" not in options
    below = out.split("Models:")[1]
    for name in ("simple_cnn", "bn_cnn", "bn_cnn_wide", "fast_cnn", "notebook", "fast", "best"):
        assert re.search(rf"^  {name}\s{{2,}}\S", below, re.M), name
    # The longest option list stays short: no option takes more than 5 lines.
    entries = re.split(r"\n  (?=-)", options)
    assert max(e.count("\n") for e in entries) <= 5


def test_new_commands_are_in_help(help_of):
    top = help_of()
    assert re.search(r"^  show\s+One run's whole story", top, re.M)
    assert re.search(r"^  runs\s+A table of runs, newest first; `mnist runs rm` deletes", top, re.M)
    assert not re.search(r"\.\.\.$", top.split("Commands:")[1], re.M)  # not cut off
    assert "Usage: mnist show [OPTIONS] [RUN]\n" in help_of("show")
    rm = help_of("runs", "rm")
    assert "Usage: mnist runs rm [OPTIONS] [RUN]...\n" in rm
    for option in ("--status STATUS,...", "--keep N", "-y, --yes"):
        assert option in rm
