"""End to end through the CLI on the synthetic dataset."""

import csv
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch
from conftest import MNIST_CMD, cli_env, run_cli

from mnist_tui.data.files import parse_idx, raw_dir
from mnist_tui.data.specs import DATASETS
from mnist_tui.models.checkpoints import model_from_checkpoint
from mnist_tui.runs.folders import METRICS_COLUMNS

FAST = [
    "--epochs",
    "2",
    "--val-size",
    "500",
    "--batch-size",
    "32",
    "--lr",
    "0.05",
    "--device",
    "cpu",
    "--plain",
]


def _only_run(runs_dir: Path) -> Path:
    runs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1
    return runs[0]


def test_train_writes_a_complete_run_folder_that_learns(synthetic_root, runs_dir, capsys):
    code, out, err = run_cli(
        ["train", *FAST, "--root", synthetic_root, "--runs-dir", runs_dir], capsys
    )
    assert code == 0, err
    run = _only_run(runs_dir)
    assert {p.name for p in run.iterdir()} >= {
        "config.toml",
        "metrics.csv",
        "checkpoint.pt",
        "last.pt",
        "summary.toml",
        "curves.png",
    }
    assert "epoch 2/2" in out and "test acc" in out

    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert list(rows[0]) == list(METRICS_COLUMNS)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[-1]["val_acc"]) > 0.8  # chance is 0.1

    summary = tomllib.loads((run / "summary.toml").read_text())
    assert summary["status"] == "completed"
    assert summary["test_acc"] > 0.8
    assert summary["best_val_acc"] == max(float(r["val_acc"]) for r in rows)

    config = tomllib.loads((run / "config.toml").read_text())
    assert config["train"]["lr"] == 0.05 and config["train"]["seed"] == 42
    assert config["data"]["val_size"] == 500 and config["data"]["split_seed"] == 42
    assert set(config["data"]["md5"]) == {
        "train-images",
        "train-labels",
        "test-images",
        "test-labels",
    }
    assert config["environment"]["torch"] == torch.__version__
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoint_loads_with_plain_torch_and_predicts_the_same(trained_run, synthetic_root):
    checkpoint = torch.load(trained_run / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert checkpoint["model"] == "simple_cnn" and checkpoint["classes"][3] == "3"
    model = model_from_checkpoint(checkpoint)
    spec = DATASETS["mnist"]
    folder = raw_dir(synthetic_root, spec)
    images = torch.from_numpy(parse_idx((folder / "t10k-images-idx3-ubyte").read_bytes()).copy())
    labels = torch.from_numpy(parse_idx((folder / "t10k-labels-idx1-ubyte").read_bytes()).copy())
    x = ((images.float() / 255 - checkpoint["mean"]) / checkpoint["std"]).unsqueeze(1)
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == labels).sum().item() / len(labels)
    summary = tomllib.loads((trained_run / "summary.toml").read_text())
    assert abs(accuracy - summary["test_acc"]) < 1e-9
    last = torch.load(trained_run / "last.pt", map_location="cpu", weights_only=True)
    assert {"model", "optimizer", "rng", "progress"} <= set(last)


@pytest.mark.slow
def test_config_file_reproduces_first_epoch(synthetic_root, runs_dir, capsys):
    base = ["--root", synthetic_root, "--runs-dir", runs_dir]
    args = [
        "train",
        "--epochs",
        "1",
        "--val-size",
        "500",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--deterministic",
        "--plain",
        *base,
    ]
    assert run_cli(args, capsys)[0] == 0
    first = _only_run(runs_dir)
    code, _, err = run_cli(["train", "--config", first / "config.toml", "--plain", *base], capsys)
    assert code == 0, err
    second = next(p for p in runs_dir.iterdir() if p != first)
    assert second.name != first.name
    assert (first / "metrics.csv").read_text().splitlines()[1].split(",")[:6] == (
        second / "metrics.csv"
    ).read_text().splitlines()[1].split(",")[:6]


def test_bad_options_are_one_line_errors(synthetic_root, runs_dir, capsys):
    cases = [
        (["--lr", "-1"], "--lr"),
        (["--batch-size", "0"], "--batch-size"),
        (["--model", "resnet9000"], "--model"),
        (["--optimizer", "adamm"], "adam"),
        (
            ["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"],
            "--device",
        ),
        (["--val-size", "999999"], "--val-size"),
        (["--config", runs_dir / "missing.toml"], "does not exist"),
        (["--lr", "abc"], "--lr"),
        (["--resume", "nothing-here"], "No run"),
    ]
    for extra, needle in cases:
        code, _out, err = run_cli(
            ["train", *extra, "--root", synthetic_root, "--runs-dir", runs_dir], capsys
        )
        assert code != 0, extra
        lines = err.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (extra, err)
        assert "Traceback" not in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())  # nothing half-made


def test_missing_dataset_says_how_to_get_it(tmp_path, runs_dir, capsys):
    code, _, err = run_cli(["train", "--root", tmp_path, "--runs-dir", runs_dir], capsys)
    assert code != 0 and "mnist download" in err and len(err.strip().splitlines()) == 1


def test_help_does_not_import_torch():
    code = (
        "import sys; from mnist_tui.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'torchvision', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=cli_env()
    ).stdout
    assert "HEAVY []" in out and "train" in out


def test_python_dash_m_works():
    out = subprocess.run(
        [*MNIST_CMD, "--version"], capture_output=True, text=True, check=True, env=cli_env()
    ).stdout
    assert out.startswith("mnist ")
