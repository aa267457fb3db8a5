"""`mnist train` in a real terminal (tmux): the dashboard while it runs, at the end, on Ctrl-C."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import MNIST_CMD, cli_env

TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (CI installs it)")
#: Colour escapes (foreground/background, 8/256/truecolour); bold and the like are allowed.
COLOUR_SGR = re.compile(r"\x1b\[[0-9;]*(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


class TmuxPane:
    """One detached tmux session on a private server, running one command."""

    def __init__(self, tmp_path: Path, width: int, height: int) -> None:
        self.socket = str(tmp_path / "tmux.sock")
        self.width, self.height = width, height
        self.exit_file = tmp_path / "exit_code"
        self.cwd = tmp_path

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            [TMUX, "-S", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def start(self, argv: list[str], env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # A detached tmux exports COLUMNS/LINES of its default size (80x24), which Rich would
        # believe over the pane's real size. The pane stays open after the command so its
        # last frame can be captured.
        shell = (
            f"env -u COLUMNS -u LINES {exports} {shlex.join(argv)}; "
            f"echo $? > {self.exit_file}; sleep 600"
        )
        size = ["-x", str(self.width), "-y", str(self.height)]
        # Started in the test's folder, so that `--runs-dir runs` gives short paths.
        self.tmux("new-session", "-d", "-s", "test", "-c", str(self.cwd), *size, shell)

    def capture(self, escapes: bool = False, history: bool = False) -> str:
        """The screen; with `history`, the scrollback above it too."""
        options = [*(["-e"] if escapes else []), *(["-S", "-"] if history else [])]
        return self.tmux("capture-pane", "-p", *options, "-t", "test")

    def wait_for(self, predicate, what: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.capture()
            if predicate(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{self.capture()}")

    def wait_exit(self, timeout: float = 240) -> int:
        self.wait_for(lambda _: self.exit_file.exists(), "the command to exit", timeout)
        time.sleep(0.3)  # let the last frame reach the pane
        return int(self.exit_file.read_text())

    def close(self) -> None:
        subprocess.run([TMUX, "-S", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def pane_factory(tmp_path):
    panes: list[TmuxPane] = []

    def make(width: int, height: int) -> TmuxPane:
        pane = TmuxPane(tmp_path, width, height)
        panes.append(pane)
        return pane

    yield make
    for pane in panes:
        pane.close()


def train_argv(root: Path, runs_dir: Path, epochs: int) -> list[str]:
    return [
        *MNIST_CMD,
        "train",
        "--root",
        str(root),
        "--runs-dir",
        str(runs_dir),
        "--epochs",
        str(epochs),
        "--val-size",
        "500",
        "--batch-size",
        "64",
        "--device",
        "cpu",
        "--precision",
        "fp32",
    ]


def pane_env(**extra: str) -> dict[str, str]:
    env = cli_env(**extra)
    return {k: env[k] for k in ("PYTHONPATH", "OMP_NUM_THREADS", *extra)}


@pytest.mark.slow
@needs_tmux
def test_dashboard_in_tmux_while_running_and_after(synthetic_root, tmp_path, pane_factory):
    runs_dir = tmp_path / "runs"
    pane = pane_factory(100, 30)
    pane.start(train_argv(synthetic_root, Path("runs"), epochs=3), pane_env())

    epoch_bar = r"epoch [1-3]/3 .*\d+/55 .*img/s.*ETA"

    def mid_run(screen: str) -> bool:
        # Bars, at least one finished epoch, and the epoch bar while batches run (between
        # epochs it briefly reads "validating", which a frame may catch on a busy machine).
        return (
            "overall" in screen
            and re.search(r"^\s*1/3\s", screen, re.M) is not None
            and re.search(epoch_bar, screen) is not None
        )

    mid = pane.wait_for(mid_run, "a mid-run frame")
    run_id = next(runs_dir.iterdir()).name
    assert run_id in mid and "simple_cnn (206,922 parameters)" in mid
    assert "cpu / fp32" in mid and "train 3,500" in mid and "seed 42" in mid
    assert "train loss" in mid and "val acc" in mid and "★ best" in mid
    assert "early stopping:" in mid
    assert "run completed" not in mid

    assert pane.wait_exit() == 0
    end = pane.capture()
    for epoch in range(1, 4):
        assert re.search(rf"^\s*{epoch}/3\s", end, re.M), end
    assert "run completed" in end and "completed after 3 epoch(s)" in end
    assert re.search(r"test acc\s+\d+\.\d\d%", end)
    assert f"runs/{run_id}/checkpoint.pt" in end
    assert "overall" not in end  # the bars make way for the summary
    assert end.count("╭─ mnist train") == 1  # redrawn in place, not scrolled frame by frame
    assert (runs_dir / run_id / "curves.png").is_file()


@pytest.mark.slow
@needs_tmux
def test_ctrl_c_at_80_columns_without_colour(synthetic_root, tmp_path, pane_factory):
    runs_dir = tmp_path / "runs"
    pane = pane_factory(80, 24)
    pane.start(train_argv(synthetic_root, Path("runs"), epochs=20), pane_env(NO_COLOR="1"))
    pane.wait_for(lambda s: re.search(r"^\s*1/20\s", s, re.M) is not None, "epoch 1's row")
    coloured = pane.capture(escapes=True)
    assert "overall" in coloured and not COLOUR_SGR.search(coloured), repr(coloured)
    pane.tmux("send-keys", "-t", "test", "C-c")

    assert pane.wait_exit() == 130
    end = pane.capture()
    assert all(len(line) <= 80 for line in end.splitlines())
    assert "run interrupted" in end
    run_id = next(runs_dir.iterdir()).name
    assert f"mnist train --resume {run_id}" in end.replace("\n", "").replace("│", "")
    assert "Traceback" not in end


def epoch_table(text: str, epochs: int) -> list[tuple[str, int]]:
    """An epoch table's lines in order: ("row", epoch) or ("gap", epochs hidden)."""
    shape = []
    for line in text.splitlines():
        if gap := re.match(r"\s*…\s+(\d+) more\s*$", line):
            shape.append(("gap", int(gap.group(1))))
        elif row := re.match(rf"\s*(\d+)/{epochs}\s", line):
            shape.append(("row", int(row.group(1))))
    return shape


@needs_tmux
@pytest.mark.slow
def test_final_frame_at_80x24_keeps_epoch_order_and_prints_every_epoch_after(
    synthetic_root, tmp_path, pane_factory
):
    """Issue 20: 12 epochs at 80x24 showed row 9, "… 9 more", then 11-12, and no table."""
    epochs = 12
    pane = pane_factory(80, 24)
    argv = train_argv(synthetic_root, Path("runs"), epochs=epochs)
    # 500 training images in 5 steps: a second or so per epoch; no early stop.
    argv += ["--val-size", "3500", "--batch-size", "100", "--patience", "0"]
    pane.start(argv, pane_env(NO_COLOR="1"))
    assert pane.wait_exit() == 0
    everything = pane.capture(history=True)
    frame_start = everything.rindex("╭─ mnist train")
    table_start = everything.index("every epoch", frame_start)
    frame = everything[frame_start:table_start]
    assert "run completed" in frame and len(frame.splitlines()) <= 24

    # The final frame: epochs in order, each run of hidden epochs marked where it is.
    shown = epoch_table(frame, epochs)
    assert shown and any(kind == "gap" for kind, _ in shown), frame
    expected = 1
    for kind, value in shown:
        if kind == "gap":
            expected += value
        else:
            assert value == expected, frame
            expected += 1
    assert expected == epochs + 1, frame
    assert all(a[0] != b[0] or a[0] == "row" for a, b in itertools.pairwise(shown))
    assert shown[-1] == ("row", epochs)  # the latest epoch is always on screen
    assert "★ best" in frame

    # Then the whole table once, in the scrollback, after the live display ended.
    table = everything[table_start:]
    assert epoch_table(table, epochs) == [("row", e) for e in range(1, epochs + 1)]
    assert everything.count("every epoch") == 1
    assert all(len(line) <= 80 for line in everything.splitlines())
