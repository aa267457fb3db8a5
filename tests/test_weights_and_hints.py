"""Commands that need weights, and runs that say what went wrong (issue 20: 2, 9, 10).

A run stopped in its first epoch has no checkpoint: it must not become the `latest` that
predict/inspect/eval/export use, nor hide the user's own mistakes behind "checkpoint.pt
does not exist". A run that learned nothing says so; an empty runs folder says where it
was looked for.
"""

from __future__ import annotations

import io
import json
import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w
from conftest import run_cli
from PIL import Image
from rich.console import Console
from training_events import StopAfter

from mnist_tui.config import TrainConfig
from mnist_tui.runs.folders import list_runs
from mnist_tui.train import run as training
from mnist_tui.train.reporters.dashboard import LiveDashboard
from mnist_tui.train.reporters.plain import PlainReporter

SMALL = {"val_size": 3000, "batch_size": 100, "device": "cpu", "precision": "fp32"}


@pytest.fixture(scope="module")
def stopped_in_epoch_one(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real run Ctrl-C'd during its first epoch: (run folder, plain output, dashboard)."""
    runs = tmp_path_factory.mktemp("stopped") / "runs"
    plain = io.StringIO()
    screen = io.StringIO()
    dashboard = LiveDashboard(Console(file=screen, width=100, height=40, color_system=None))
    stop = StopAfter(0)
    outcome = training.train(
        TrainConfig(**SMALL, epochs=2),
        data_root=synthetic_root,
        runs_dir=runs,
        reporters=[stop, PlainReporter(plain), dashboard],
        should_stop=stop,
    )
    assert outcome.ended.status == "interrupted"
    assert not (outcome.run.path / "checkpoint.pt").exists()
    return outcome.run.path, plain.getvalue(), screen.getvalue()


@pytest.fixture
def runs_with_a_newer_stopped_run(tmp_path, trained_run, stopped_in_epoch_one) -> Path:
    """A finished run, then a newer one that never saved a checkpoint."""
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(trained_run, runs / "20260101-000000-good")
    shutil.copytree(stopped_in_epoch_one[0], runs / "20260102-000000-stopped")
    return runs


@pytest.fixture
def digit_png(tmp_path, synthetic_root) -> Path:
    from test_predict import test_digits

    images, _ = test_digits(synthetic_root, 1)
    path = tmp_path / "digit.png"
    Image.fromarray(images[0]).save(path)
    return path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["notes.txt"], "notes.txt"),
        (["missing.png"], "missing.png: no such file"),
        (["digit.png", "--top-k", "0"], "--top-k 0"),
    ],
)
def test_predict_names_the_real_mistake_before_any_checkpoint(
    tmp_path, stopped_in_epoch_one, digit_png, capsys, monkeypatch, args, needle
):
    # The only run has no checkpoint: before, every case said "checkpoint.pt does not exist".
    runs = tmp_path / "runs"
    shutil.copytree(stopped_in_epoch_one[0], runs / stopped_in_epoch_one[0].name)
    (tmp_path / "notes.txt").write_text("shopping: milk, eggs\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["predict", *args, "--runs-dir", runs], capsys)
    assert code != 0 and needle in err, err
    assert "checkpoint" not in err and "Traceback" not in err


def test_latest_for_weights_is_the_newest_run_with_a_checkpoint(
    runs_with_a_newer_stopped_run, digit_png, synthetic_root, capsys
):
    runs = runs_with_a_newer_stopped_run
    code, out, err = run_cli(["predict", digit_png, "--json", "--runs-dir", runs], capsys)
    assert code == 0, err
    assert len(json.loads(out)) == 1  # stdout stays JSON; the note goes to stderr
    assert "Using run 20260101-000000-good" in err and "20260102-000000-stopped" in err

    code, out, err = run_cli(
        ["eval", "latest", "--json", "--runs-dir", runs, "--root", synthetic_root], capsys
    )
    assert code == 0, err
    assert json.loads(out)["run_id"] == "20260101-000000-good"
    assert "Using run 20260101-000000-good" in err

    # A wrong layer is named as such, with the run's real layers.
    code, _, err = run_cli(["inspect", "conv3", "--runs-dir", runs], capsys)
    assert code != 0 and "conv3" in err and "checkpoint" not in err, err

    code, out, _ = run_cli(["inspect", "--runs-dir", runs], capsys)
    assert code == 0 and "20260101-000000-good" in out

    # Named explicitly, the stopped run says what it lacks and what to do.
    code, _, err = run_cli(["predict", digit_png, "--run", "20260102", "--runs-dir", runs], capsys)
    assert code != 0 and "has no checkpoint.pt yet" in err and "--resume" in err


def test_a_run_stopped_in_its_first_epoch_names_no_missing_checkpoint(stopped_in_epoch_one):
    run, plain, screen = stopped_in_epoch_one
    assert "run interrupted" in screen and "Resume with" in screen
    assert "checkpoint.pt" not in screen and "checkpoint.pt" not in plain
    assert "no epoch validated" in plain and "0.00%" not in plain + screen
    summary = tomllib.loads((run / "summary.toml").read_text())
    assert "best_val_acc" not in summary


def test_runs_shows_a_dash_for_a_run_without_a_validated_epoch(
    runs_with_a_newer_stopped_run, capsys
):
    runs = runs_with_a_newer_stopped_run
    # What earlier versions wrote for such a run.
    summary = runs / "20260102-000000-stopped" / "summary.toml"
    document = tomllib.loads(summary.read_text())
    summary.write_text(tomli_w.dumps({**document, "best_epoch": 0, "best_val_acc": 0.0}))
    stopped = next(r for r in list_runs(runs) if r["id"].endswith("stopped"))
    assert stopped["best_val_acc"] is None
    code, out, _ = run_cli(["runs", "--runs-dir", runs], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if "stopped" in line)
    assert "0.00%" not in row and " - " in row


@pytest.mark.slow
def test_a_run_at_chance_level_says_so_and_what_to_change(synthetic_root, runs_dir, capsys):
    # The issue's `--lr 50` kills every ReLU on MNIST; on the small synthetic set it turns
    # the loss into NaN (a failed run, said as such), while 3 leaves it at chance.
    code, out, err = run_cli(
        [
            *("train", "--epochs", "2", "--lr", "3", "--plain"),
            *("--val-size", "3000", "--batch-size", "100", "--device", "cpu"),
            *("--root", synthetic_root, "--runs-dir", runs_dir),
        ],
        capsys,
    )
    assert code == 0, err
    summary = tomllib.loads(next(runs_dir.iterdir()).joinpath("summary.toml").read_text())
    assert summary["best_val_acc"] < 0.15  # guessing
    assert "chance level" in summary["warning"] and "--lr 3 " in summary["warning"]
    warning = next(line for line in out.splitlines() if line.startswith("warning: "))
    assert "chance level" in warning and "lower --lr" in warning


@pytest.mark.parametrize(
    ("optimizer", "lr", "accuracy", "advice"),
    [
        ("sgd", 50.0, 0.1108, "lower --lr, e.g. --lr 0.05"),
        ("adam", 1.0, 0.098, "lower --lr, e.g. --lr 0.001"),
        ("sgd", 1e-6, 0.11, "too low to learn: train again with --lr 0.05"),
        ("sgd", 0.05, 0.12, "Train longer"),
        ("sgd", 50.0, 0.16, None),  # above 1.5x chance: it learned something
    ],
)
def test_chance_level_advice_fits_the_cause(optimizer, lr, accuracy, advice):
    from training_events import final_events

    _, ended = final_events("completed")
    ended = type(ended)(**{**ended.__dict__, "best_val_acc": accuracy})
    warning = training.chance_warning(ended, TrainConfig(optimizer=optimizer, lr=lr), 10)
    if advice is None:
        assert warning == ""
    else:
        assert "chance level" in warning and advice in warning


def test_the_dashboard_shows_the_chance_level_warning():
    from training_events import dispatch, epoch_events, final_events, run_started

    console = Console(file=io.StringIO(), width=80, height=40, color_system=None)
    dashboard = LiveDashboard(console)
    _, ended = final_events("completed")
    ended = type(ended)(
        **{**ended.__dict__, "warning": "Validation accuracy 10.2% is chance level"}
    )
    for event in [run_started(), *epoch_events(), ended]:
        dispatch(dashboard, event)
    assert "is chance level" in console.file.getvalue()


def test_no_runs_says_where_it_looked_and_how_to_look_elsewhere(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MNIST_RUNS_DIR", raising=False)
    code, out, _ = run_cli(["runs"], capsys)
    assert code == 0
    assert str(tmp_path / "runs") in out
    assert "--runs-dir" in out and "MNIST_RUNS_DIR" in out
    for command in (
        ["eval"],
        ["export", "--out", tmp_path / "out"],
        ["train", "--resume", "latest"],
    ):
        code, _, err = run_cli(command, capsys)
        assert code != 0 and str(tmp_path / "runs") in err and "MNIST_RUNS_DIR" in err, err
