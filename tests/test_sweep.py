"""`mnist sweep`: specs refused up front, a grid on synthetic data, pruning, show, compare."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from conftest import run_cli

from mnist_tui.errors import ConfigError
from mnist_tui.sweep.space import build_space, grid_size, parse_param, parse_space_file

#: Small, quick trials: 1 epoch of the small CNN on the synthetic set, fp32 on the CPU.
FIXED = [
    "--model",
    "fast_cnn",
    "--val-size",
    "500",
    "--batch-size",
    "64",
    "--device",
    "cpu",
    "--precision",
    "fp32",
    "--plain",
]


# --- the space, checked before anything runs ------------------------------------------------


def test_specs_parse_to_typed_ranges_and_choices():
    lr = parse_param("lr=1e-3..1e-1:log")
    assert (lr.kind, lr.low, lr.high, lr.log) == ("float", 0.001, 0.1, True)
    batch = parse_param("batch-size=32..256:32")
    assert (batch.kind, batch.low, batch.high, batch.step) == ("int", 32, 256, 32)
    assert batch.grid_values() == [32, 64, 96, 128, 160, 192, 224, 256]
    assert parse_param("optimizer=sgd,adam").choices == ("sgd", "adam")
    assert parse_param("augment=true,false").choices == (True, False)
    assert parse_param("batch_size=64,128").choices == (64, 128)
    assert grid_size([parse_param("lr=0.1,0.2,0.3"), parse_param("batch_size=32,64")]) == 6


def test_space_file(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(
        '[params]\nlr = "1e-3..1e-1:log"\nbatch_size = [64, 128]\n'
        "momentum = { low = 0.8, high = 0.95 }\n"
    )
    params = {p.name: p for p in parse_space_file(space)}
    assert params["batch_size"].choices == (64, 128)
    assert (params["momentum"].low, params["momentum"].high) == (0.8, 0.95)
    # A --param replaces the file's entry for the same setting.
    merged = {p.name: p for p in build_space(["lr=0.01,0.1"], space)}
    assert merged["lr"].choices == (0.01, 0.1)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("lrr=0.01..0.1", "Did you mean lr"),
        ("lr=0.1..0.01", "from low to high"),
        ("momentum=0..0.9:log", "positive low end"),
        ("lr=-1..0.1", "greater than 0"),
        ("optimizer=sgd,adamm", "Did you mean 'adam'"),
        ("optimizer=sgd..adam", "takes choices"),
        ("batch_size=0..64", "at least 1"),
        ("batch_size=32.5,64", "whole number"),
        ("model=simple_cnn,fast_cn", "Did you mean 'fast_cnn'"),
        ("name=a,b", "cannot be searched"),
        ("lr=0.1", "single value"),
        ("lr", "expected NAME=SPEC"),
        ("lr=0.01..0.1:fast", "`log` or a step"),
    ],
)
def test_bad_specs_are_one_line_before_anything_runs(spec, says, runs_dir, capsys):
    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_param(spec)
    code, _, err = run_cli(["sweep", "--param", spec, "--runs-dir", runs_dir], capsys)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not runs_dir.exists()  # no study, no run folder


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--param", "lr=0.01..0.1", "--sampler", "grid"], "--sampler grid needs a list"),
        (["--param", "lr=0.01,0.1", "--sampler", "bayes"], "--sampler 'bayes' is not one of"),
        (["--param", "lr=0.01,0.1", "--lr", "0.1"], "both fixed and searched"),
        (["--param", "lr=0.01,0.1", "--epochs", "0"], "--epochs must be at least 1"),
        (["--param", "lr=0.01,0.1", "--timeout", "soon"], "--timeout 'soon'"),
        (["--param", "lr=0.01,0.1", "--name", "a b"], "a sweep name is"),
        ([], "Nothing to search"),
        (["--join", "x", "--lr", "0.1"], "drop --lr"),
        (["--resume", "x"], "does not exist"),
    ],
)
def test_bad_sweep_options_refused(args, says, runs_dir, capsys):
    code, _, err = run_cli(["sweep", *args, "--runs-dir", runs_dir], capsys)
    assert code != 0 and says in err and len(err.strip().splitlines()) == 1, err
    assert not (runs_dir / "sweeps.db").exists()


def test_password_in_url_refused_without_echo(runs_dir, capsys):
    url = "postgresql://mnist:hunter2secret@127.0.0.1:5432/sweeps"
    code, out, err = run_cli(
        ["sweep", "--param", "lr=0.01,0.1", "--storage", url, "--runs-dir", runs_dir], capsys
    )
    assert code == 2 and "PGPASSWORD" in err and ".pgpass" in err
    assert "hunter2secret" not in out + err and len(err.strip().splitlines()) == 1


def test_unreachable_storage_is_one_line(runs_dir, synthetic_root, capsys):
    url = "postgresql://nobody@127.0.0.1:1/sweeps"  # nothing listens on port 1
    code, _, err = run_cli(
        [
            "sweep",
            "--param",
            "lr=0.01,0.1",
            "--storage",
            url,
            "--root",
            synthetic_root,
            "--runs-dir",
            runs_dir,
        ],
        capsys,
    )
    assert code != 0 and err.startswith("mnist: error: Cannot use the study storage")
    assert len(err.strip().splitlines()) == 1 and not runs_dir.exists()


# --- real sweeps on synthetic data ----------------------------------------------------------


def read(path: Path) -> dict:
    return tomllib.loads(path.read_text())


@pytest.mark.slow
def test_grid_sweep_runs_every_combination_once(synthetic_root, runs_dir, capsys, tmp_path):
    code, out, err = run_cli(
        [
            "sweep",
            "--name",
            "g",
            "--param",
            "lr=0.05,0.1",
            "--param",
            "batch_size=32,64",
            "--sampler",
            "grid",
            "--epochs",
            "1",
            *FIXED[:4],
            *FIXED[6:],
            "--root",
            synthetic_root,
            "--runs-dir",
            runs_dir,
        ],
        capsys,
    )
    assert code == 0, err
    assert "4/4 trials: 4 complete" in out and "Train the best again: mnist train --config" in out
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(folders) == 4
    combos, trials = set(), set()
    for folder in folders:
        config, summary = read(folder / "config.toml"), read(folder / "summary.toml")
        assert config["run"]["sweep"] == summary["sweep"] == "g"
        assert config["run"]["trial"] == summary["trial"]
        assert summary["status"] == "completed" and summary["epochs_run"] == 1
        trials.add(summary["trial"])
        combos.add((config["train"]["lr"], config["train"]["batch_size"]))
        assert config["train"]["model"] == "fast_cnn"  # the fixed settings reach every trial
    assert trials == {0, 1, 2, 3}
    assert combos == {(0.05, 32), (0.05, 64), (0.1, 32), (0.1, 64)}

    # `sweep show --json`: the study's trials are exactly these run folders.
    code, out, err = run_cli(["sweep", "show", "g", "--runs-dir", runs_dir, "--json"], capsys)
    report = json.loads(out)
    assert code == 0, err
    assert {t["run_id"] for t in report["trials"]} == {f.name for f in folders}
    assert report["best"]["best_val_acc"] == max(t["best_val_acc"] for t in report["trials"])
    assert report["best_command"].startswith("mnist train --config ")
    code, out, _ = run_cli(["sweep", "show", "g", "--runs-dir", runs_dir], capsys)
    assert code == 0 and "best: trial" in out and "4/4 trials" in out

    # A name already taken is refused; `mnist runs --json` names the sweep of each run.
    code, _, err = run_cli(
        [
            "sweep",
            "--name",
            "g",
            "--param",
            "lr=0.05,0.1",
            "--root",
            synthetic_root,
            "--runs-dir",
            runs_dir,
        ],
        capsys,
    )
    assert code != 0 and "--resume g" in err
    code, out, _ = run_cli(["runs", "--runs-dir", runs_dir, "--json"], capsys)
    assert {r["sweep"] for r in json.loads(out)} == {"g"}
    code, out, _ = run_cli(["runs", "--sweep", "g", "--runs-dir", runs_dir, "--json"], capsys)
    assert sorted(r["trial"] for r in json.loads(out)) == [0, 1, 2, 3]
    code, out, _ = run_cli(["runs", "--sweep", "h", "--runs-dir", runs_dir], capsys)
    assert code == 0 and "No runs of sweep 'h'" in out

    # compare --sweep: the four trials side by side, with a PNG.
    png = tmp_path / "g.png"
    code, out, err = run_cli(
        ["compare", "--sweep", "g", "--runs-dir", runs_dir, "--png", png], capsys
    )
    assert code == 0, err
    assert "lr" in out and "batch_size" in out and png.stat().st_size > 10_000
    # A resume of a finished sweep has nothing left to do.
    code, out, err = run_cli(["sweep", "--resume", "g", "--runs-dir", runs_dir], capsys)
    assert code == 0 and "4/4 trials" in out, err
    assert len([p for p in runs_dir.iterdir() if p.is_dir() and p.name[0] != "."]) == 4


@pytest.mark.slow
def test_median_pruner_marks_a_hopeless_trial_pruned(synthetic_root, runs_dir):
    """Two good trials, then one with a learning rate too small to learn: pruned at epoch 1."""
    from mnist_tui.config import TrainConfig
    from mnist_tui.sweep.space import build_space
    from mnist_tui.sweep.storage import default_url, open_storage
    from mnist_tui.sweep.study import SweepPlan, base_settings, create_study
    from mnist_tui.sweep.worker import run_worker

    space = build_space(["lr=0.1,0.00001"], None)
    config = TrainConfig(
        model="fast_cnn", epochs=2, val_size=500, batch_size=64, device="cpu", precision="fp32"
    )
    plan = SweepPlan("p", space, base_settings(config, space), trials=3, pruner="median")
    study = create_study(plan, open_storage(default_url(runs_dir)))
    for lr in (0.1, 0.1, 0.00001):  # a fixed order: the median exists when the last one runs
        study.enqueue_trial({"lr": lr})
    result = run_worker(study, plan, data_root=synthetic_root, runs_dir=runs_dir)
    assert result.trials == 3 and not result.interrupted
    states = [t.state.name for t in study.get_trials()]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    pruned = next(p for p in runs_dir.iterdir() if p.name.endswith("-p-t2"))
    summary = read(pruned / "summary.toml")
    assert summary["status"] == "pruned" and summary["epochs_run"] == 1
    assert summary["sweep"] == "p" and summary["trial"] == 2
    assert "test_acc" not in summary  # the test set is never touched for the objective


@pytest.mark.slow
def test_ctrl_c_keeps_finished_trials_and_resume_carries_on(synthetic_root, runs_dir):
    """SIGINT mid-trial: exit 130, finished trials intact; --resume retries and completes."""
    import signal
    import subprocess
    import time

    from conftest import MNIST_CMD, cli_env

    command = [
        *MNIST_CMD,
        "sweep",
        "--name",
        "c",
        "--param",
        "lr=0.05,0.08,0.1",
        "--sampler",
        "grid",
        "--pruner",
        "none",  # the grid's order is random: a slow first epoch must not be pruned
        "--epochs",
        "2",
        *FIXED,
        "--root",
        str(synthetic_root),
        "--runs-dir",
        str(runs_dir),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    deadline = time.monotonic() + 600
    while not list(runs_dir.glob("*-c-t1/metrics.csv")):  # trial 1 is training
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "mnist sweep --resume c" in err and "Traceback" not in err
    first = read(next(runs_dir.glob("*-c-t0")) / "summary.toml")
    stopped = next(runs_dir.glob("*-c-t1"))
    assert first["status"] == "completed"
    assert read(stopped / "summary.toml")["status"] == "interrupted"

    result = subprocess.run(
        [*MNIST_CMD, "sweep", "--resume", "c", "--plain", "--runs-dir", str(runs_dir)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "3/3 trials: 3 complete, 1 interrupted" in result.stdout
    completed = [
        read(p / "config.toml")["train"]["lr"]
        for p in runs_dir.glob("*-c-t*")
        if read(p / "summary.toml")["status"] == "completed"
    ]
    assert sorted(completed) == [0.05, 0.08, 0.1]  # every grid point once, none lost
    # The interrupted point was run again with its own parameters (the grid's order is random).
    assert read(stopped / "config.toml")["train"]["lr"] in completed
