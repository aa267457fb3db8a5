"""`mnist runs`: newest first, every column, damaged folders listed instead of crashing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import MNIST_CMD, cli_env, run_cli


@pytest.fixture
def runs_with_damage(tmp_path: Path, trained_run: Path) -> Path:
    """A copy of a real run, plus folders broken in the ways a crash or a user breaks them."""
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(trained_run, runs / trained_run.name)
    (runs / "20990101-000000-empty").mkdir()  # created, nothing written yet
    half = runs / "20990101-000001-half"
    half.mkdir()
    (half / "config.toml").write_text((trained_run / "config.toml").read_text())
    garbled = runs / "20990101-000002-garbled"
    shutil.copytree(trained_run, garbled)
    (garbled / "summary.toml").write_text('status = "completed"\nbest_val_acc = ')
    wrong_types = runs / "20990101-000003-types"
    shutil.copytree(trained_run, wrong_types)
    (wrong_types / "config.toml").write_text("train = 5\n")
    (wrong_types / "summary.toml").write_text(
        'status = "completed"\nepochs_run = "three"\nbest_val_acc = "high"\ntest_acc = true\n'
    )
    odd_status = runs / "20990101-000004-odd"
    shutil.copytree(trained_run, odd_status)
    (odd_status / "summary.toml").write_text('status = "exploded"\n')
    blank = runs / "20990101-000005-blank"
    shutil.copytree(trained_run, blank)
    (blank / "summary.toml").write_text("")  # truncated to nothing by a crash
    (runs / "notes.txt").write_text("a stray file is not a run")
    return runs


def test_runs_table_has_every_column(trained_run: Path, capsys) -> None:
    code, out, err = run_cli(["runs", "--runs-dir", trained_run.parent], capsys)
    assert code == 0, err
    summary = tomllib.loads((trained_run / "summary.toml").read_text())
    for header in ("id", "status", "model", "epochs", "best val", "test", "time", "started"):
        assert header in out
    assert trained_run.name in out and "completed" in out and "simple_cnn" in out
    assert f"{summary['test_acc']:.2%}" in out and f"{summary['best_val_acc']:.2%}" in out


def test_damaged_folders_are_listed_not_fatal(
    runs_with_damage: Path, trained_run: Path, capsys
) -> None:
    code, out, err = run_cli(["runs", "--runs-dir", runs_with_damage, "--json"], capsys)
    assert code == 0, err
    records = json.loads(out)
    ids = [r["id"] for r in records]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert "notes.txt" not in ids
    status = {r["id"]: r["status"] for r in records}
    for broken in ("000000-empty", "000001-half", "000002-garbled", "000004-odd", "000005-blank"):
        assert status[f"20990101-{broken}"] == "damaged"
    problem = {r["id"]: r.get("problem", "") for r in records}
    assert "unknown status 'exploded'" in problem["20990101-000004-odd"]
    assert "records no status" in problem["20990101-000005-blank"]
    assert all(r.get("problem") for r in records if r["status"] == "damaged")
    # Values of the wrong type are a damaged record (issue 24), named in its problem.
    typed = next(r for r in records if r["id"].endswith("-types"))
    assert typed["status"] == "damaged"
    assert "epochs_run = 'three'" in typed["problem"] and "best_val_acc" in typed["problem"]
    good = next(r for r in records if r["status"] == "completed" and r["model"])
    fixture_epochs = tomllib.loads((trained_run / "config.toml").read_text())["train"]["epochs"]
    assert good["epochs_run"] == fixture_epochs and 0 < good["test_acc"] <= 1

    code, out, err = run_cli(["runs", "--runs-dir", runs_with_damage], capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("20990101-")]
    assert sum(row.split()[1] == "damaged" for row in rows) == 6
    assert "summary.toml is missing" in out  # the notes under the table say why


def test_no_runs_and_bad_runs_dir(tmp_path: Path, capsys) -> None:
    code, out, _ = run_cli(["runs", "--runs-dir", tmp_path / "none"], capsys)
    assert code == 0 and "No runs in" in out
    code, out, _ = run_cli(["runs", "--runs-dir", tmp_path / "none", "--json"], capsys)
    assert code == 0 and json.loads(out) == []
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, _, err = run_cli(["runs", "--runs-dir", a_file], capsys)
    assert code != 0 and "is a file, not a runs folder" in err


@pytest.mark.skipif(
    os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads anything"
)
def test_unreadable_runs_dir(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "locked"
    runs.mkdir()
    runs.chmod(0)
    try:
        code, _, err = run_cli(["runs", "--runs-dir", runs], capsys)
    finally:
        runs.chmod(0o755)
    assert code != 0 and "Cannot read the runs folder" in err


def test_runs_does_not_import_torch(trained_run: Path) -> None:
    probe = (
        "import sys; from mnist_tui.cli import main\n"
        "try:\n    main(['runs', '--runs-dir', sys.argv[1]])\n"
        "except SystemExit:\n    pass\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(trained_run.parent)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert done.stderr.strip().splitlines()[-1] == "False"
    assert MNIST_CMD[0] == sys.executable


def test_an_empty_run_name_is_refused_not_taken_for_latest(trained_run, capsys):
    from conftest import run_cli

    for command in (["eval", ""], ["predict", "x.png", "--run", ""], ["inspect", "--run", ""]):
        code, _, err = run_cli([*command, "--runs-dir", trained_run.parent], capsys)
        assert code != 0 and "empty name" in err and "Traceback" not in err, command


def test_runs_show_the_recipe(trained_run: Path, capsys) -> None:
    # Issue 20: optimizer, lr, schedule and preset in `mnist runs` (table and JSON).
    code, out, err = run_cli(["runs", "--runs-dir", trained_run.parent], capsys)
    assert code == 0, err
    assert "recipe" in out and "sgd 0.05 cosine" in out
    code, out, err = run_cli(["runs", "--runs-dir", trained_run.parent, "--json"], capsys)
    (record,) = [r for r in json.loads(out) if r["id"] == trained_run.name]
    assert (record["optimizer"], record["lr"], record["scheduler"]) == ("sgd", 0.05, "cosine")
    assert record["preset"] == ""
