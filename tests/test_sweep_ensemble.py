"""issue 21: `mnist eval --ensemble --sweep NAME --top K`, members chosen from run folders."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w
from conftest import run_cli

SWEEP = "ens"


@pytest.fixture(scope="module")
def sweep_runs(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """Three 1-epoch trials of sweep `ens` (different learning rates) and one pruned copy."""
    from mnist_tui.config import TrainConfig
    from mnist_tui.train.run import train

    runs = tmp_path_factory.mktemp("sweep-runs")
    for trial, lr in enumerate((0.1, 0.001, 0.03)):
        config = TrainConfig(
            epochs=1,
            val_size=200,
            batch_size=64,
            lr=lr,
            model="fast_cnn",
            precision="fp32",
            device="cpu",
            name=f"{SWEEP}-t{trial}",
        )
        train(
            config,
            data_root=synthetic_root,
            runs_dir=runs,
            reporters=[],
            tags={"sweep": SWEEP, "trial": trial},
        )
    # A pruned trial with the best validation accuracy of all: never a member.
    first = sorted(p for p in runs.iterdir())[0]
    pruned = runs / "29991231-235959-ens-t3"
    shutil.copytree(first, pruned)
    summary = tomllib.loads((pruned / "summary.toml").read_text())
    summary.update(status="pruned", trial=3, best_val_acc=0.999)
    (pruned / "summary.toml").write_text(tomli_w.dumps(summary))
    return runs


def _best_val(runs: Path) -> dict[str, tuple[float, str]]:
    found = {}
    for folder in runs.iterdir():
        summary = tomllib.loads((folder / "summary.toml").read_text())
        found[folder.name] = (summary["best_val_acc"], summary["status"])
    return found


@pytest.fixture(scope="module")
def recorded_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run folders as a sweep leaves them (config and summary only): 3 finished, 1 pruned."""
    runs = tmp_path_factory.mktemp("recorded")
    for trial, (status, acc) in enumerate(
        [("completed", 0.9), ("early_stopped", 0.8), ("completed", 0.7), ("pruned", 0.95)]
    ):
        folder = runs / f"20260101-00000{trial}-ens-t{trial}"
        folder.mkdir()
        (folder / "config.toml").write_text(tomli_w.dumps({"train": {"model": "fast_cnn"}}))
        summary = {"status": status, "epochs_run": 1, "best_epoch": 1, "best_val_acc": acc}
        (folder / "summary.toml").write_text(
            tomli_w.dumps({**summary, "sweep": SWEEP, "trial": trial})
        )
    return runs


def test_members_are_the_best_finished_trials_by_validation(recorded_runs):
    from mnist_tui.runs.folders import sweep_best_runs

    chosen = [run.id for run in sweep_best_runs(recorded_runs, SWEEP, 3)]
    assert chosen == ["20260101-000000-ens-t0", "20260101-000001-ens-t1", "20260101-000002-ens-t2"]


@pytest.mark.slow
def test_ensemble_of_a_sweeps_best_finished_trials(sweep_runs, synthetic_root, capsys):
    code, out, err = run_cli(
        [
            "eval",
            "--ensemble",
            "--sweep",
            SWEEP,
            "--top",
            "2",
            "--json",
            "--runs-dir",
            sweep_runs,
            "--root",
            synthetic_root,
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads(out)
    finished = {k: v[0] for k, v in _best_val(sweep_runs).items() if v[1] == "completed"}
    assert len(finished) == 3
    best_two = sorted(finished, key=finished.get, reverse=True)[:2]
    assert [m["name"] for m in report["members"]] == best_two
    assert report["split"] == "test" and 0 < report["ensemble"]["accuracy"] <= 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--ensemble", "--sweep", "nope", "--top", "2"], "No runs of sweep 'nope'"),
        (["--ensemble", "--sweep", SWEEP, "--top", "0"], "--top 0: an ensemble needs at least 2"),
        (["--ensemble", "--sweep", SWEEP, "--top", "4"], "has 3 finished run(s) of 4"),
        (["--sweep", SWEEP, "--top", "2"], "add --ensemble"),
        (["--ensemble", "--sweep", SWEEP], "needs --top K"),
        (["--ensemble", "--top", "2"], "add --ensemble --sweep NAME"),
    ],
)
def test_sweep_ensemble_errors_are_one_line(args, says, recorded_runs, capsys):
    code, out, err = run_cli(["eval", *args, "--runs-dir", recorded_runs], capsys)
    assert code != 0 and out == ""
    assert says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
