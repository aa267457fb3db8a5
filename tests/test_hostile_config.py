"""Hostile config files and option values: nesting, huge numbers, FIFOs, long names.

Every case is one line on stderr through the real entry point, and nothing is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import cli_env, run_cli

from mnist_tui.config import FIELDS

DEEP_ARRAYS = "x = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_TABLES = "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"
LONG_NAME = "n" * 300

CASES = {
    "5000-deep arrays": (DEEP_ARRAYS, "nests tables or arrays too deeply"),
    "3000 nested inline tables": (DEEP_TABLES, "nests tables or arrays too deeply"),
    "lr = 1 and 400 zeros": ("lr = 1" + "0" * 400 + "\n", "--lr must be a finite number"),
    "seed with 400 digits": ("seed = 1" + "0" * 400 + "\n", "--seed must be at most"),
    "patience = 2**70": (f"patience = {2**70}\n", "--patience must be at most 100000"),
    "val_size = 2**70": (f"val_size = {2**70}\n", "--val-size must be at most"),
    "an int of 5000 digits": ("epochs = 1" + "0" * 5000 + "\n", "is not valid TOML"),
    "a 2 MB file": ("# " + "x" * (2 << 20) + "\n", "is larger than 1,048,576 bytes"),
}


def _one_line(code: int, err: str, needle: str) -> str:
    assert code != 0 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist: error: ") and needle in lines[0], err
    return lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_config_files_are_one_line(synthetic_root, tmp_path, capsys, case):
    content, needle = CASES[case]
    config = tmp_path / "cfg.toml"
    config.write_text(content)
    runs = tmp_path / "runs"
    code, _, err = run_cli(
        ["train", "--config", config, "--root", synthetic_root, "--runs-dir", runs], capsys
    )
    _one_line(code, err, needle)
    assert not runs.exists()


def test_every_number_setting_has_a_ceiling():
    """TOML ints have no size limit: a setting without a max lets 2**70 through to torch."""
    unbounded = [
        name
        for name, f in FIELDS.items()
        if type(f.default) in (int, float)
        and "max" not in f.metadata
        and "max_exclusive" not in f.metadata
    ]
    assert unbounded == []


@pytest.mark.timeout(60)
def test_a_fifo_as_config_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "cfg.toml"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "train", "--config", str(fifo)],
        capture_output=True,
        text=True,
        timeout=30,  # the old code blocked here forever
        env=cli_env(),
        check=False,
    )
    _one_line(done.returncode, done.stderr, "is a FIFO (named pipe)")


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--config", f"{LONG_NAME}.toml"],
        ["runs", "--runs-dir", LONG_NAME],
        ["eval", LONG_NAME],
        ["eval", "--runs-dir", f"{LONG_NAME}/x"],
        ["inspect", "conv1", "--image", f"{LONG_NAME}.png"],
        ["download", "--from", LONG_NAME],
        ["export", "--out", f"{LONG_NAME}/bundle"],
        ["predict", f"{LONG_NAME}.png", "--export", f"{LONG_NAME}.pt"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_path_name_over_255_bytes_is_one_line(trained_run, tmp_path, capsys, args):
    if args[0] in ("inspect", "export"):
        args = [*args, "--run", trained_run] if args[0] == "inspect" else [*args, trained_run]
    if args[0] == "eval" and "--runs-dir" in args:
        args = [*args, "latest"]
    if args[0] == "download":
        args = [*args, "--root", tmp_path / "data"]
    code, _, err = run_cli(args, capsys)
    assert code != 0 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist: error: "), err
    assert "255" in lines[0] or "no such file" in lines[0].lower() or "No run" in lines[0], err


@pytest.mark.timeout(60)  # a regression blocks on the FIFO: the timeout fails the test
def test_fifos_for_images_models_and_checkpoints_are_refused(trained_run, tmp_path, capsys):
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    code, _, err = run_cli(["predict", fifo, "--run", trained_run], capsys)
    _one_line(code, err, "is a FIFO (named pipe)")
    code, _, err = run_cli(["inspect", "conv1", "--image", fifo, "--run", trained_run], capsys)
    _one_line(code, err, "is a FIFO (named pipe)")
    # A real digit: images are read before any model, so only the model can be at fault.
    from PIL import Image

    digit = tmp_path / "one.png"
    Image.frombytes(
        "L", (28, 28), bytes(255 if 12 <= i % 28 <= 15 else 0 for i in range(784))
    ).save(digit)
    model = tmp_path / "model.pt"
    os.mkfifo(model)
    code, _, err = run_cli(["predict", digit, "--export", model], capsys)
    _one_line(code, err, "is a FIFO (named pipe)")
    run = shutil.copytree(trained_run, tmp_path / "runs" / trained_run.name)
    (run / "checkpoint.pt").unlink()
    os.mkfifo(run / "checkpoint.pt")
    code, _, err = run_cli(["predict", digit, "--run", run], capsys)
    _one_line(code, err, "is a FIFO (named pipe)")
