"""`mnist show RUN`: a run's whole story in the terminal, and as JSON (issue 20)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

from conftest import MNIST_CMD, cli_env, run_cli
from rich.console import Console

from mnist_tui.runs.folders import RunFolder
from mnist_tui.show.core import read_story
from mnist_tui.show.view import show_view


def test_show_tells_the_whole_story(trained_run: Path, capsys) -> None:
    code, out, err = run_cli(["show", trained_run], capsys)
    assert code == 0, err
    summary = tomllib.loads((trained_run / "summary.toml").read_text())
    rows = RunFolder(trained_run).read_metrics()
    # Settings: model, optimizer, lr, schedule, preset, augmentation.
    assert "sgd lr 0.05" in out and "cosine schedule" in out and "no preset" in out
    assert re.search(r"augment\s+off", out) and re.search(r"model\s+simple_cnn", out)
    # The full epoch table, the best epoch marked.
    for row in rows:
        assert re.search(rf"│\s+{int(row['epoch'])} │\s+{row['train_loss']:.4f}", out)
    assert re.search(rf"│\s+{summary['best_epoch']} │.*\* best", out)
    # Validation curves; not a terminal here, so as plain text lines.
    assert "val accuracy (%) by epoch: 1 " in out and "val loss by epoch" in out
    # The test result and the files.
    assert f"test accuracy {summary['test_acc']:.2%}" in out
    for name in ("checkpoint.pt", "config.toml", "metrics.csv", "summary.toml", "curves.png"):
        assert name in out


def test_show_json(trained_run: Path, capsys) -> None:
    code, out, err = run_cli(
        ["show", trained_run.name, "--runs-dir", trained_run.parent, "--json"], capsys
    )
    assert code == 0, err
    story = json.loads(out)
    assert story["id"] == trained_run.name and story["status"] == "completed"
    assert story["settings"]["optimizer"] == "sgd" and story["settings"]["scheduler"] == "cosine"
    assert [e["epoch"] for e in story["epochs"]] == [1, 2, 3, 4, 5]
    assert (
        story["summary"]["test_acc"]
        == tomllib.loads((trained_run / "summary.toml").read_text())["test_acc"]
    )
    assert {"checkpoint.pt", "metrics.csv"} <= {f["name"] for f in story["files"]}


def test_show_draws_curves_with_plotext_on_a_terminal(trained_run: Path) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, color_system="256", width=100)
    console.print(show_view(read_story(RunFolder(trained_run))))
    out = console.file.getvalue()
    best = read_story(RunFolder(trained_run)).best_epoch
    assert f"val accuracy (%) (x: best epoch {best})" in out
    assert "\x1b[" in out and "┤" in out  # plotext's axes, in colour


def test_show_of_a_run_stopped_before_any_epoch(trained_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "stopped"
    run.mkdir()
    shutil.copy(trained_run / "config.toml", run / "config.toml")
    (run / "summary.toml").write_text('status = "interrupted"\nepochs_run = 0\n')
    code, out, err = run_cli(["show", run, "--plain"], capsys)
    assert code == 0, err
    assert "interrupted" in out and "No epoch finished yet" in out
    assert "not evaluated on the test set" in out


def test_show_does_not_import_torch(trained_run: Path) -> None:
    code = (
        "import sys\nfrom mnist_tui.cli import main\n"
        f"try:\n    main(['show', {str(trained_run)!r}])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run(
        [*MNIST_CMD[:1], "-c", code], env=cli_env(), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
