"""`mnist runs rm`: delete named runs or prune by status / all but the newest N; asks
first unless --yes, refuses without a terminal to ask on, never touches a run still
training, and says what it freed (issue 20)."""

from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path

import pytest
from conftest import run_cli


@pytest.fixture
def runs(tmp_path: Path, trained_run: Path) -> Path:
    """Copies of a real run, oldest first: completed, interrupted, failed, completed,
    and the newest still training (this very process)."""
    runs = tmp_path / "runs"
    runs.mkdir()
    statuses = ["completed", "interrupted", "failed", "completed", "running"]
    for i, status in enumerate(statuses):
        run = runs / f"2026010{i + 1}-000000-{status}"
        shutil.copytree(trained_run, run)
        summary = (run / "summary.toml").read_text().replace('"completed"', f'"{status}"')
        if status == "running":
            summary = "\n".join(
                line for line in summary.splitlines() if not line.startswith(("pid", "host"))
            )
            summary += f'\npid = {os.getpid()}\nhost = "{socket.gethostname()}"\n'
        (run / "summary.toml").write_text(summary)
    return runs


def test_rm_named_runs_with_yes_says_what_it_freed(runs, capsys):
    doomed = runs / "20260102-000000-interrupted"
    code, out, err = run_cli(["runs", "rm", doomed.name, "--runs-dir", runs, "--yes"], capsys)
    assert code == 0, err
    assert not doomed.exists() and len(list(runs.iterdir())) == 4
    assert "Deleted 1 run, freed" in out and "MB" in out and doomed.name in out


def test_without_a_terminal_it_asks_for_yes_and_deletes_nothing(runs, capsys):
    code, _out, err = run_cli(["runs", "rm", "20260102", "--runs-dir", runs], capsys)
    assert code != 0
    assert "--yes" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert len(list(runs.iterdir())) == 5


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "left"), [("n\n", 5), ("y\n", 4)])
def test_on_a_terminal_it_asks_first(runs, capsys, monkeypatch, answer, left):
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    code, out, err = run_cli(["runs", "rm", "20260102", "--runs-dir", runs], capsys)
    assert code == 0, err
    assert "20260102-000000-interrupted" in out and "Delete 1 run" in out
    assert len(list(runs.iterdir())) == left


def test_a_run_still_training_is_refused(runs, capsys):
    running = runs / "20260105-000000-running"
    code, _out, err = run_cli(
        ["runs", "rm", "20260101", running.name, "--runs-dir", runs, "--yes"], capsys
    )
    assert code != 0 and "still training" in err and "nothing was deleted" in err
    assert len(list(runs.iterdir())) == 5


def test_prune_by_status(runs, capsys):
    code, out, err = run_cli(
        ["runs", "rm", "--status", "interrupted,failed", "--runs-dir", runs, "--yes"], capsys
    )
    assert code == 0, err
    assert sorted(p.name for p in runs.iterdir()) == [
        "20260101-000000-completed",
        "20260104-000000-completed",
        "20260105-000000-running",
    ]
    assert "Deleted 2 runs, freed" in out


def test_prune_all_but_the_newest_n_never_the_running_one(runs, capsys):
    code, out, err = run_cli(["runs", "rm", "--keep", "0", "--runs-dir", runs, "--yes"], capsys)
    assert code == 0, err
    assert [p.name for p in runs.iterdir()] == ["20260105-000000-running"]
    assert "20260105-000000-running is still training: kept." in out
    assert "Deleted 4 runs" in out


def test_keep_counts_the_newest(runs, capsys):
    code, _out, err = run_cli(["runs", "rm", "--keep", "3", "--runs-dir", runs, "-y"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in runs.iterdir()) == [
        "20260103-000000-failed",
        "20260104-000000-completed",
        "20260105-000000-running",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Name the runs to delete"),
        (["--status", "broken"], "--status 'broken': choose among"),
        (["--keep", "-1"], "0 or more"),
        (["20260101", "--keep", "1"], "not both"),
        (["nosuchrun"], "No run 'nosuchrun'"),
    ],
)
def test_bad_requests_are_one_line(runs, capsys, args, message):
    code, _, err = run_cli(["runs", "rm", *args, "--runs-dir", runs, "--yes"], capsys)
    assert code != 0 and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert len(list(runs.iterdir())) == 5


def test_nothing_to_prune(runs, capsys):
    code, out, err = run_cli(["runs", "rm", "--status", "damaged", "--runs-dir", runs], capsys)
    assert code == 0, err
    assert "nothing deleted" in out
