"""`mnist compare`: differing settings, results side by side, curves in the terminal and PNG.

The run folders are written by the real RunRecorder from the events a loop emits (no
training needed: compare only reads folders); sweeps' trials are compared in test_sweep.py.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

import pytest
import tomli_w
from conftest import MNIST_CMD, cli_env, run_cli
from PIL import Image

from mnist_tui.config import TrainConfig
from mnist_tui.runs.folders import create_run
from mnist_tui.train.events import EpochEnded, RunEnded, RunStarted
from mnist_tui.train.recorder import RunRecorder


def make_run(runs_dir: Path, label: str, val_accs: list[float], **settings) -> Path:
    """A finished run folder as `mnist train` leaves it: config, metrics, summary."""
    config = TrainConfig(epochs=len(val_accs), name=label, **settings)
    run = create_run(runs_dir, label)
    run.write_toml(run.config, {"train": config.to_dict(), "run": {"id": run.id}})
    recorder = RunRecorder(run)
    recorder.on_run_start(
        RunStarted(
            run.id,
            str(run.path),
            config.model,
            1,
            "cpu",
            "fp32",
            100,
            10,
            10,
            config.seed,
            config.epochs,
            1,
            config.batch_size,
        )
    )
    best = 0.0
    for epoch, acc in enumerate(val_accs, 1):
        best = max(best, acc)
        recorder.on_epoch_end(
            EpochEnded(
                epoch,
                len(val_accs),
                1.0 / epoch,
                acc,
                1.0 - acc,
                acc,
                config.lr,
                1.5,
                100.0,
                acc >= best,
                val_accs.index(best) + 1,
                best,
                0,
                5,
            )
        )
    recorder.on_run_end(
        RunEnded(
            "completed",
            len(val_accs),
            val_accs.index(best) + 1,
            best,
            0.3,
            best - 0.01,
            1.5 * len(val_accs),
            str(run.path),
            str(run.checkpoint),
        )
    )
    return run.path


@pytest.fixture
def two_runs(runs_dir: Path) -> list[Path]:
    return [
        make_run(runs_dir, "slow-lr", [0.50, 0.70, 0.80, 0.85], lr=0.01),
        make_run(runs_dir, "fast-lr", [0.80, 0.90, 0.93, 0.94], lr=0.1),
    ]


def test_compare_plain_shows_what_differs_results_and_a_chart(two_runs, runs_dir, capsys):
    code, out, err = run_cli(
        ["compare", *[p.name for p in two_runs], "--runs-dir", runs_dir], capsys
    )
    assert code == 0, err
    assert "\x1b[" not in out  # not a terminal: no colour codes
    header = next(line for line in out.splitlines() if "best val" in line)
    assert "lr" in header.split() and "batch_size" not in header  # only what differs
    assert "85.00%" in out and "94.00%" in out and "4/4" in out
    # A real chart: title, frame, axis label, both runs' markers and the legend labels.
    assert "validation accuracy (%)" in out and "validation loss" in out
    assert "┌" in out and "epoch" in out
    chart = out[out.index("validation accuracy") :]
    assert chart.count("slow-lr") >= 1 and chart.count("fast-lr") >= 1
    assert "o" in chart and "x" in chart


def test_compare_json(two_runs, runs_dir, capsys):
    code, out, _ = run_cli(
        ["compare", *[p.name for p in two_runs], "--runs-dir", runs_dir, "--json"], capsys
    )
    report = json.loads(out)
    assert code == 0 and report["differing"] == ["lr"]
    assert [r["curves"]["val_acc"][-1] for r in report["runs"]] == [0.85, 0.94]


def test_compare_png_is_a_real_png(two_runs, runs_dir, tmp_path, capsys):
    png = tmp_path / "cmp.png"
    code, _, err = run_cli(
        ["compare", *[p.name for p in two_runs], "--runs-dir", runs_dir, "--png", png], capsys
    )
    assert code == 0, err
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 600 and image.height > 300
        # Not blank: curves and text in more than a couple of colours.
        assert len(image.convert("RGB").getcolors(1_000_000)) > 10


def test_compare_on_a_terminal_has_colour(two_runs, runs_dir):
    """Under a pseudo-terminal the chart is coloured, one colour per run."""
    master, slave = pty.openpty()
    env = cli_env(COLUMNS="100", LINES="50", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [*MNIST_CMD, "compare", *[p.name for p in two_runs], "--runs-dir", str(runs_dir)],
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=60)
    os.close(master)
    out = b"".join(chunks).decode(errors="replace")
    assert process.returncode == 0, out
    # The two runs' colours (Rich writes 256-colour codes below 16 as the short SGR codes).
    colours = set(re.findall(r"\x1b\[((?:3|9)[0-7]|38;5;\d+)m", out))
    assert len(colours) >= 2, colours
    assert "validation accuracy (%)" in out


def test_compare_needs_two_runs(two_runs, runs_dir, capsys):
    code, _, err = run_cli(["compare", two_runs[0].name, "--runs-dir", runs_dir], capsys)
    assert code != 0 and "at least two runs" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["compare", "--sweep", "nope", "--runs-dir", runs_dir], capsys)
    assert code != 0 and "No runs of sweep 'nope'" in err and "Traceback" not in err


def test_compare_sweep_selects_trials(runs_dir, capsys):
    """--sweep NAME picks the runs whose summary names that sweep, in trial order."""
    paths = [
        make_run(runs_dir, f"s-t{i}", [0.5 + i / 10, 0.6 + i / 10], lr=0.01 * (i + 1))
        for i in range(3)
    ]
    make_run(runs_dir, "other", [0.9, 0.95])
    for i, path in enumerate(paths):
        summary = path / "summary.toml"
        import tomllib

        data = tomllib.loads(summary.read_text())
        summary.write_text(tomli_w.dumps({**data, "sweep": "s", "trial": 2 - i}))
    code, out, err = run_cli(["compare", "--sweep", "s", "--runs-dir", runs_dir, "--json"], capsys)
    assert code == 0, err
    assert [r["trial"] for r in json.loads(out)["runs"]] == [0, 1, 2]
