"""Hostile run folders: damaged records, nesting bombs, odd run ids, a second resume,
damaged metrics.csv and another optimizer's state, a terminal that cannot print UTF-8."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import cli_env, run_cli

from mnist_tui.models import checkpoints
from mnist_tui.runs.folders import LOCK_NAME


def _one_line(code: int, err: str, needle: str) -> str:
    assert code != 0 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist: error: ") and needle in lines[0], err
    return lines[0]


def _copy(run: Path, runs: Path, name: str | None = None) -> Path:
    return Path(shutil.copytree(run, runs / (name or run.name)))


SUMMARY_DAMAGE = {
    "epochs_run = nan": "epochs_run = nan\n",
    "seconds = inf": "seconds = inf\n",
    "best_val_acc = -inf": "best_val_acc = -inf\n",
    "test_acc text": 'test_acc = "high"\n',
    "epochs_run a list": "epochs_run = [1, 2]\n",
    "seconds = 2**70": f"seconds = {2**70}\n",
    "pid = 2**70": f'pid = {2**70}\nhost = "{os.uname().nodename}"\n',
    "5000-deep arrays": "x = " + "[" * 5000 + "]" * 5000 + "\n",
    "3000 nested tables": "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n",
}


def test_one_damaged_record_is_one_damaged_row(trained_run, tmp_path, capsys):
    runs = tmp_path / "runs"
    good = _copy(trained_run, runs)
    for number, line in enumerate(SUMMARY_DAMAGE.values()):
        bad = _copy(trained_run, runs, f"20200101-0000{number:02d}-bad")
        summary = (bad / "summary.toml").read_text()
        kept = [entry for entry in summary.splitlines() if entry.split(" =")[0] not in line]
        (bad / "summary.toml").write_text("\n".join(kept) + "\n" + line)
    nested = _copy(trained_run, runs, "20200101-000099-nested-config")
    (nested / "config.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")

    code, out, err = run_cli(["runs", "--json", "--runs-dir", runs], capsys)
    assert code == 0 and err == ""
    records = json.loads(out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    status = {r["id"]: r["status"] for r in records}
    assert status.pop(good.name) == "completed"
    expected = {f"20200101-0000{n:02d}-bad": "damaged" for n in range(len(SUMMARY_DAMAGE))}
    # A pid that cannot exist is a run whose process is gone: interrupted, not damaged.
    expected["20200101-000006-bad"] = "completed"
    expected["20200101-000099-nested-config"] = "damaged"
    assert status == expected
    code, out, err = run_cli(["runs", "--runs-dir", runs], capsys)
    assert code == 0 and "Traceback" not in err
    assert out.count("damaged") >= 2 * (len(SUMMARY_DAMAGE) - 1)  # in the table and the notes


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("seed = 1180591620717411303424", "--seed must be at most"),
        ("val_size = -5", "--val-size must be at least 1"),
        ('dataset = ["mnist"]', "--dataset must be str"),
    ],
)
def test_run_record_settings_are_checked_by_training_rules(
    trained_run, synthetic_root, tmp_path, capsys, setting, needle
):
    run = _copy(trained_run, tmp_path / "runs")
    key = setting.split(" =")[0]
    lines = (run / "config.toml").read_text().splitlines()
    lines = [setting if line.startswith(f"{key} =") else line for line in lines]
    (run / "config.toml").write_text("\n".join(lines) + "\n")
    code, _, err = run_cli(["eval", run, "--root", synthetic_root], capsys)
    line = _one_line(code, err, needle)
    assert "config.toml is damaged" in line


def test_run_ids_with_markup_and_escapes_are_printed_as_text(trained_run, tmp_path, capsys):
    runs = tmp_path / "runs"
    # A folder name cannot hold "/": no closing tags here (labels have them, elsewhere).
    _copy(trained_run, runs, "20200101-000000-[red]x\x1b[2J")
    _copy(trained_run, runs, "20200101-000001-:smile:[bold]")
    code, out, err = run_cli(["runs", "--runs-dir", runs], capsys)
    assert code == 0 and err == "" and "\x1b" not in out
    assert ":smile:[bold]" in out and "[red]x\\x1b[2J" in out


@pytest.mark.slow
def test_a_non_utf8_terminal_degrades_to_ascii(trained_run, synthetic_root, tmp_path):
    runs = tmp_path / "runs"
    run = _copy(trained_run, runs, "20200101-000000-café-数字")
    image = tmp_path / "blank.png"
    from PIL import Image, ImageDraw

    picture = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(picture).line((32, 8, 32, 56), fill=255, width=6)
    picture.save(image)
    env = cli_env(PYTHONIOENCODING="ascii", MNIST_RUNS_DIR=str(runs))
    for args in (
        ["runs"],
        ["eval", run.name, "--root", str(synthetic_root), "--plain"],
        ["predict", str(image), "--run", run.name],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "mnist_tui", *args],
            capture_output=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-1500:]
        assert b"Traceback" not in done.stderr
        done.stdout.decode("ascii")  # nothing but ASCII reached the terminal
        assert b"caf?-??" in done.stdout or args[0] == "predict"


# --- resume ------------------------------------------------------------------------------


def _interrupted(trained_run: Path, tmp_path: Path) -> Path:
    run = _copy(trained_run, tmp_path / "runs")
    summary = (run / "summary.toml").read_text().replace('"completed"', '"interrupted"')
    (run / "summary.toml").write_text(summary)
    return run


def test_a_second_resume_is_refused_while_the_first_holds_the_run(
    trained_run, synthetic_root, tmp_path, capsys
):
    run = _interrupted(trained_run, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with open(run / LOCK_NAME, "w") as held:  # what a running `train --resume` holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        code, _, err = run_cli(
            ["train", "--resume", run, "--root", synthetic_root, "--plain", "--epochs", "6"],
            capsys,
        )
    _one_line(code, err, "is already being trained by another `mnist train` (pid 4242)")
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_NAME}
    assert after == {k: v for k, v in before.items() if k != LOCK_NAME}


METRICS_DAMAGE = {
    "a non-UTF-8 byte": (b"epoch,train_loss\n1,\xff\n", "metrics.csv is damaged"),
    "a 200 KB field": (
        b"epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,samples_per_s\n1,"
        + b"9" * 200_000,
        "metrics.csv is damaged",
    ),
    "a wrong header": (b"a,b\n1,2\n", "metrics.csv is damaged: its header is not epoch,"),
}


@pytest.mark.parametrize("case", list(METRICS_DAMAGE))
def test_resume_with_a_damaged_metrics_csv_is_one_line(
    trained_run, synthetic_root, tmp_path, capsys, case
):
    run = _interrupted(trained_run, tmp_path)
    content, needle = METRICS_DAMAGE[case]
    (run / "metrics.csv").write_bytes(content)
    code, _, err = run_cli(
        ["train", "--resume", run, "--root", synthetic_root, "--plain", "--epochs", "6"], capsys
    )
    _one_line(code, err, needle)
    assert 'status = "interrupted"' in (run / "summary.toml").read_text()


def test_resume_with_another_optimizers_state_is_one_line(
    trained_run, synthetic_root, tmp_path, capsys
):
    run = _interrupted(trained_run, tmp_path)
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    state.pop(checkpoints.CHECKSUM, None)
    model = torch.nn.Linear(1, 1)
    adam = torch.optim.Adam(model.parameters())
    theirs = adam.state_dict()
    ours = state["optimizer"]
    theirs["param_groups"] = [
        {**{k: v for k, v in adam.param_groups[0].items() if k != "params"}, "params": g["params"]}
        for g in ours["param_groups"]
    ]
    theirs["state"] = {}
    state["optimizer"] = theirs
    checkpoints.save(state, run / "last.pt")
    code, _, err = run_cli(
        ["train", "--resume", run, "--root", synthetic_root, "--plain", "--epochs", "6"], capsys
    )
    _one_line(code, err, "optimizer state is another optimizer's")
    assert 'status = "interrupted"' in (run / "summary.toml").read_text()
