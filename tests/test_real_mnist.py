"""On the real MNIST files (present after `make data`; CI fetches them first)."""

import tomllib

import pytest
from conftest import REAL_DATA, requires_real_mnist, run_cli


@pytest.mark.slow
@requires_real_mnist
def test_one_default_epoch_reaches_97_5_percent(runs_dir, capsys):
    code, _out, err = run_cli(
        [
            "train",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--plain",
            "--root",
            REAL_DATA,
            "--runs-dir",
            runs_dir,
        ],
        capsys,
    )
    assert code == 0, err
    run = next(runs_dir.iterdir())
    summary = tomllib.loads((run / "summary.toml").read_text())
    assert summary["test_acc"] >= 0.975, summary
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["data"]["md5"]["train-images"] == "6bbc9ace898e44ae57da46a324031adb"
    assert config["data"]["train_size"] == 55_000 and config["data"]["test_size"] == 10_000


@pytest.mark.slow
@requires_real_mnist
def test_the_fast_preset_reaches_99_percent_in_its_one_epoch(runs_dir, capsys):
    # Measured 99.11% (bf16) and 99.17% (fp32) on this seed; seeds 0-2: 99.13-99.18%.
    args = ["train", "--preset", "fast", "--device", "cpu", "--plain"]
    code, _out, err = run_cli([*args, "--root", REAL_DATA, "--runs-dir", runs_dir], capsys)
    assert code == 0, err
    run = next(runs_dir.iterdir())
    summary = tomllib.loads((run / "summary.toml").read_text())
    assert summary["epochs_run"] == 1 and summary["test_acc"] >= 0.99, summary
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["train"]["model"] == "fast_cnn" and config["train"]["beta2"] == 0.9
