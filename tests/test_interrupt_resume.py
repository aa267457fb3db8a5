"""Ctrl-C / SIGTERM during `mnist train` and `--resume`, in real subprocesses.

One uninterrupted reference run and three runs interrupted at different points (mid-epoch,
during validation with a second Ctrl-C while saving, right after a checkpoint) are made
concurrently; each interrupted run is then resumed and must end bit for bit where the
reference ended (CPU, --deterministic): same per-epoch metrics, same weights.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch
from conftest import MNIST_CMD, cli_env, run_cli

from mnist_tui.config import TrainConfig, resolve_config
from mnist_tui.models import checkpoints
from mnist_tui.train import run as training

HARNESS = Path(__file__).with_name("interrupt_harness.py")
# Adam + one-cycle: optimizer moments and the schedule's position must survive a resume.
RECIPE = [
    "--epochs",
    "3",
    # 1,500 training images: enough to learn, few enough that seven runs stay quick.
    "--val-size",
    "2500",
    "--batch-size",
    "64",
    "--optimizer",
    "adamw",
    "--lr",
    "0.003",
    "--scheduler",
    "onecycle",
    "--deterministic",
    "--device",
    "cpu",
    "--plain",
]
#: Where each run is interrupted: (harness point, signal, extra harness flags, exit code).
POINTS = {
    "mid-epoch": ("batch:2:7", "INT", [], 130),
    "validation": ("validation:2", "TERM", ["--again"], 143),
    "after-checkpoint": ("after-save:1", "INT", [], 130),
}
COMPARED = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]  # not timings


def _start(args: list[str], cwd: Path, harness: list[str] | None = None) -> subprocess.Popen:
    command = [sys.executable, str(HARNESS), *harness, "--"] if harness else MNIST_CMD
    return subprocess.Popen(
        [*command, *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def _metrics(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))


def _summary(run: Path) -> dict:
    return tomllib.loads((run / "summary.toml").read_text())


def _weights(path: Path, key: str) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)[key]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.fixture(scope="module")
def interrupted(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """{name: (folder, exit code, stdout, stderr)} for each point, plus the reference run.

    The interrupted runs are real processes (they need real signals), started together;
    the reference trains in this process meanwhile: same code, same single thread.
    """
    work = tmp_path_factory.mktemp("interrupts")
    runs = work / "runs"
    common = [*RECIPE, "--root", str(synthetic_root), "--runs-dir", str(runs)]
    processes = {
        name: _start(["train", *common, "--name", name], work, [point, signame, *flags])
        for name, (point, signame, flags, _) in POINTS.items()
    }
    settings = _recipe_settings()
    reference = training.train(
        resolve_config(None, {**settings, "name": "reference"}),
        data_root=synthetic_root,
        runs_dir=runs,
        reporters=[],
    )
    results = {"reference": (reference.run.path, 0, "", ""), "work": work}
    for name, process in processes.items():
        code, out, err = _finish(process)
        (folder,) = runs.glob(f"*-{name}")
        results[name] = (folder, code, out, err)
    return results


def _recipe_settings() -> dict:
    """RECIPE as TrainConfig settings (the reference run gets them without a CLI)."""
    settings, args = {}, [a for a in RECIPE if a != "--plain"]
    while args:
        option = args.pop(0)[2:].replace("-", "_")
        if option == "deterministic":
            settings[option] = True
            continue
        value = args.pop(0)
        settings[option] = type(getattr(TrainConfig(), option))(value)
    return settings


@pytest.mark.slow
@pytest.mark.parametrize("name", list(POINTS))
def test_interrupted_run_saves_everything_and_says_how_to_resume(interrupted, name):
    folder, code, out, err = interrupted[name]
    expected_code = POINTS[name][3]
    assert code == expected_code, err
    assert "Traceback" not in err and "Stopping after the current step" in err
    # The last line says how to resume; the id is enough from where it ran (runs/ there).
    resume_line = f"Interrupted. Resume with: mnist train --resume {folder.name}"
    assert out.strip().splitlines()[-1] == resume_line
    summary = _summary(folder)
    assert summary["status"] == "interrupted" and "pid" not in summary
    state = checkpoints.load(folder / "last.pt", checkpoints.STATE_FORMAT)
    finished = state["progress"]["epoch"]
    # Mid-epoch: epoch 2 is dropped; during validation: epoch 2 completes first.
    assert finished == {"mid-epoch": 1, "validation": 2, "after-checkpoint": 1}[name]
    assert [int(r["epoch"]) for r in _metrics(folder)] == list(range(1, finished + 1))
    assert summary["epochs_run"] == finished
    assert not list(folder.glob(".*.tmp"))
    if name == "validation":  # the second signal arrived while files were being saved
        assert "Still saving" in err
        checkpoints.load(folder / "checkpoint.pt")


def test_runs_lists_interrupted_runs(interrupted):
    work = interrupted["work"]
    process = subprocess.run(
        [*MNIST_CMD, "runs", "--json", "--runs-dir", str(work / "runs")],
        env=cli_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    statuses = {r["id"].split("-", 2)[-1]: r["status"] for r in json.loads(process.stdout)}
    assert statuses == {
        "reference": "completed",
        "mid-epoch": "interrupted",
        "validation": "interrupted",
        "after-checkpoint": "interrupted",
    }


@pytest.mark.parametrize(
    ("name", "safe_options"),
    [
        ("mid-epoch", []),
        ("validation", ["--device", "cpu"]),
        ("after-checkpoint", ["--epochs", "3"]),
    ],
)
@pytest.mark.slow
def test_resumed_run_matches_an_uninterrupted_one_bit_for_bit(
    interrupted, capsys, monkeypatch, name, safe_options
):
    reference = interrupted["reference"][0]
    folder = interrupted[name][0]
    # Resumed from another folder without --root: the run's recorded data folder is used.
    monkeypatch.chdir(interrupted["work"].parent)
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    code, out, err = run_cli(["train", "--resume", folder, "--plain", *safe_options], capsys)
    assert code == 0, err
    assert "resuming simple_cnn" in out
    assert _summary(folder)["status"] == "completed"
    ours, theirs = _metrics(folder), _metrics(reference)
    assert [r["epoch"] for r in ours] == ["1", "2", "3"]  # no duplicate, none missing
    assert [[r[c] for c in COMPARED] for r in ours] == [[r[c] for c in COMPARED] for r in theirs]
    for file, key in (("checkpoint.pt", "state_dict"), ("last.pt", "model")):
        mine, ref = _weights(folder / file, key), _weights(reference / file, key)
        assert mine.keys() == ref.keys()
        for k in ref:
            assert torch.equal(mine[k], ref[k]), (file, k)
    assert _summary(folder)["test_acc"] == _summary(reference)["test_acc"]


def test_resuming_a_completed_run_says_so_and_changes_nothing(interrupted, capsys):
    reference = interrupted["reference"][0]
    before = _digest(reference)
    code, _, err = run_cli(["train", "--resume", reference, "--plain"], capsys)
    assert code != 0 and "already completed: nothing to resume" in err
    assert len(err.strip().splitlines()) == 1
    assert _digest(reference) == before


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--model", "other"], "Cannot change --model"),
        (["--dataset", "fashion"], "Cannot change --dataset"),
        (["--lr", "0.5"], "Cannot change --lr"),
        (["--seed", "1"], "Cannot change --seed"),
        # Allowed to change, but fewer epochs than already trained leaves nothing to do.
        (["--epochs", "3"], "has already trained 5 epochs, more than --epochs 3"),
    ],
)
def test_resume_refuses_options_that_would_change_the_run(
    trained_run, tmp_path, capsys, extra, needle
):
    run = _copy_as_interrupted(trained_run, tmp_path)
    before = _digest(run)
    code, _, err = run_cli(["train", "--resume", run, *extra, "--plain"], capsys)
    assert code != 0 and needle in err and len(err.strip().splitlines()) == 1
    assert _digest(run) == before


def test_a_run_stopped_after_its_last_epoch_resumes_to_its_test_evaluation(
    trained_run, tmp_path, capsys
):
    # Ctrl-C during the last epoch's validation: every epoch ran, the test did not.
    run = _copy_as_interrupted(trained_run, tmp_path)
    code, out, err = run_cli(["train", "--resume", run, "--plain"], capsys)
    assert code == 0, err
    assert "resuming simple_cnn" in out and "completed after 5 epoch(s)" in out
    summary = _summary(run)
    assert summary["status"] == "completed" and summary["epochs_run"] == 5
    assert 0 < summary["test_acc"] <= 1


def test_resume_refuses_a_config_file_a_running_run_and_a_run_without_last(
    trained_run, tmp_path, capsys
):
    run = _copy_as_interrupted(trained_run, tmp_path)
    code, _, err = run_cli(["train", "--resume", run, "--config", run / "config.toml"], capsys)
    assert code != 0 and "drop --config" in err

    # A run whose recorded process is alive (this one) is still running: two trainers
    # writing one folder would interleave their epochs.
    summary = (run / "summary.toml").read_text().replace('"interrupted"', '"running"')
    host = tomllib.loads(summary).get("host")
    assert host, "the summary records the host"
    (run / "summary.toml").write_text(summary + f"pid = {os.getpid()}\n")
    code, _, err = run_cli(["train", "--resume", run], capsys)
    assert code != 0 and "is still running" in err

    (run / "summary.toml").write_text(summary.replace('"running"', '"interrupted"'))
    (run / "last.pt").unlink()
    code, _, err = run_cli(["train", "--resume", run], capsys)
    assert code != 0 and "has no last.pt" in err and len(err.strip().splitlines()) == 1


def _copy_as_interrupted(run: Path, tmp_path: Path) -> Path:
    """A copy of a finished run whose summary says it was interrupted."""
    copy = tmp_path / "runs" / run.name
    copy.mkdir(parents=True)
    for file in run.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    summary = (copy / "summary.toml").read_text()
    (copy / "summary.toml").write_text(summary.replace('"completed"', '"interrupted"'))
    return copy


@pytest.mark.slow
def test_ctrl_c_twice_from_outside_exits_130_with_whole_files(synthetic_root, tmp_path):
    """A real double Ctrl-C from another process, timed by the first epoch's line."""
    args = [*RECIPE, "--epochs", "50", "--root", str(synthetic_root)]  # the last --epochs wins
    process = _start(["train", *args, "--runs-dir", str(tmp_path / "runs")], tmp_path)
    assert process.stdout is not None
    for line in process.stdout:
        if line.split()[:2] == ["epoch", "1/50"]:
            break
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    code, out, err = _finish(process)
    assert code == 130, err
    assert "Traceback" not in err
    assert out.strip().splitlines()[-1].startswith("Interrupted. Resume with: mnist train --resume")
    (folder,) = (tmp_path / "runs").iterdir()
    state = checkpoints.load(folder / "last.pt", checkpoints.STATE_FORMAT)
    assert len(_metrics(folder)) == state["progress"]["epoch"] >= 1
    checkpoints.load(folder / "checkpoint.pt")
    assert _summary(folder)["status"] == "interrupted"
