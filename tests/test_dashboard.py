"""The live dashboard and the plain reporter, fed the same events, rendered without colour."""

from __future__ import annotations

import io
import re
import subprocess

import pytest
from conftest import MNIST_CMD, cli_env
from rich.console import Console
from training_events import (
    EPOCHS,
    PATIENCE,
    dispatch,
    epoch_events,
    final_events,
    run_started,
)

from mnist_tui.train.reporters.dashboard import LiveDashboard
from mnist_tui.train.reporters.dashboard_view import BEST_MARK, sparkline, visible_rows
from mnist_tui.train.reporters.plain import PlainReporter


def plain_console(width: int, height: int = 30) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=width, height=height, color_system=None, force_terminal=False)
    return console, out


def snapshot(dashboard: LiveDashboard, width: int, height: int = 30) -> list[str]:
    """The dashboard's current frame as the lines a `width`-column terminal shows."""
    console, out = plain_console(width, height)
    console.print(dashboard.view())
    return out.getvalue().splitlines()


def line_with(lines: list[str], needle: str) -> str:
    matches = [line for line in lines if needle in line]
    assert matches, f"{needle!r} not in:\n" + "\n".join(lines)
    return matches[0]


def table_shape(lines: list[str], epochs: int) -> list[tuple[str, int]]:
    """The epoch table's lines in order: ("row", epoch) or ("gap", epochs hidden)."""
    shape = []
    for line in lines:
        if gap := re.match(r"\s*…\s+(\d+) more\s*$", line):
            shape.append(("gap", int(gap.group(1))))
        elif row := re.match(rf"\s*(\d+)/{epochs}\s", line):
            shape.append(("row", int(row.group(1))))
    return shape


def feed(dashboard, events) -> None:
    for event in events:
        dispatch(dashboard, event)


@pytest.mark.parametrize("width", [80, 120])
def test_mid_run_frame_shows_where_training_is(width):
    console, _ = plain_console(width)
    dashboard = LiveDashboard(console=console)
    events = epoch_events()
    # Four epochs done, the fifth two batches in.
    feed(dashboard, [run_started(), *events[: 4 * 6 + 3]])
    lines = snapshot(dashboard, width)
    dashboard.close()
    text = "\n".join(lines)

    assert all(len(line) <= width for line in lines)
    # Header: run, folder, model + parameters, device/precision, data sizes, seed.
    assert "20260101-000000-simple_cnn" in text and "runs/20260101-000000-simple_cnn" in text
    assert "simple_cnn (206,922 parameters)" in text and "cpu / fp32" in text
    assert "train 55,000" in text and "val 5,000" in text and "test 10,000" in text
    assert "seed 42" in text
    # Progress: overall epochs and this epoch's batches, with a rate and an ETA.
    assert "4/5" in line_with(lines, "overall")
    epoch_bar = line_with(lines, f"epoch 5/{EPOCHS}")
    assert "2/4" in epoch_bar and "img/s" in epoch_bar and "ETA" in epoch_bar
    # One table row per finished epoch; the best (epoch 3) marked, and only it.
    for epoch in range(1, 5):
        assert line_with(lines, f"  {epoch}/{EPOCHS} ")
    assert BEST_MARK in line_with(lines, f"3/{EPOCHS} ")
    assert text.count(BEST_MARK) == 1
    row = line_with(lines, f"2/{EPOCHS} ")
    assert "0.4000" in row and "88.00%" in row and "0.3000" in row and "91.00%" in row
    assert "0.01" in row and "12.5s" in row
    # Early stopping state and trend.
    assert f"no improvement for 1 of {PATIENCE} epochs" in text
    assert "val acc" in text and sparkline([0.85, 0.91, 0.95, 0.94], 10) in text
    assert "run completed" not in text


@pytest.mark.parametrize("width", [80, 120])
def test_final_frame_is_the_summary(width):
    console, out = plain_console(width)
    dashboard = LiveDashboard(console=console)
    evaluated, ended = final_events("completed")
    feed(dashboard, [run_started(), *epoch_events(), *evaluated, ended])
    # A console that is not a terminal gets exactly one frame: the last, at the end.
    lines = out.getvalue().splitlines()
    text = "\n".join(lines)
    assert all(len(line) <= width for line in lines)
    assert "run completed" in text and "completed after 5 epoch(s)" in text
    assert "3  (val acc 95.00%)" in line_with(lines, "best epoch")
    assert "95.12%" in line_with(lines, "test acc")
    assert "1m15s" in line_with(lines, "total time")
    assert "runs/20260101-000000-simple_cnn/checkpoint.pt" in line_with(lines, "checkpoint")
    assert "runs/20260101-000000-simple_cnn/curves.png" in line_with(lines, "curves")
    assert "overall" not in text  # the bars are gone once the run ended
    assert BEST_MARK in line_with(lines, f"3/{EPOCHS} ")
    assert not dashboard._live.is_started


def test_between_the_last_epoch_and_the_end_it_says_what_it_is_doing():
    console, _ = plain_console(80)
    dashboard = LiveDashboard(console=console)
    events = epoch_events()
    feed(dashboard, [run_started(), *events[:-1]])  # the last batch of the last epoch
    assert "epoch 5: validating…" in "\n".join(snapshot(dashboard, 80))
    dispatch(dashboard, events[-1])
    assert "testing the best checkpoint…" in "\n".join(snapshot(dashboard, 80))
    dashboard.close()


def test_interrupted_run_ends_cleanly_with_the_resume_command():
    console, out = plain_console(80)
    dashboard = LiveDashboard(console=console)
    _, ended = final_events("interrupted")
    feed(dashboard, [run_started(), *epoch_events()[:8], ended])
    text = out.getvalue()
    assert "run interrupted" in text
    assert "Resume with: mnist train --resume 20260101-000000-simple_cnn" in text
    assert "not measured" in line_with(text.splitlines(), "test acc")
    assert not dashboard._live.is_started


def test_context_manager_restores_the_terminal_when_training_raises():
    console, _ = plain_console(80)
    with pytest.raises(RuntimeError), LiveDashboard(console=console) as dashboard:
        dispatch(dashboard, run_started())
        assert dashboard._live.is_started
        raise RuntimeError("disk on fire")
    assert not dashboard._live.is_started


def test_long_run_keeps_the_latest_rows_and_the_best_one():
    epochs = 40
    curve = [(0.1, 0.9, 0.2, 0.95 if e == 2 else 0.9 + e / 1000) for e in range(1, epochs + 1)]
    curve[1] = (0.1, 0.9, 0.2, 0.99)  # epoch 2 stays the best
    console, _ = plain_console(80, height=30)
    dashboard = LiveDashboard(console=console)
    feed(dashboard, [run_started(epochs), *epoch_events(curve, epochs)])
    lines = snapshot(dashboard, 80, height=30)
    dashboard.close()
    assert len(lines) <= 30  # fits the terminal
    assert BEST_MARK in line_with(lines, f"2/{epochs} ")
    assert line_with(lines, f"{epochs}/{epochs} ")
    # In epoch order, each gap marked where its epochs belong: 1 hidden, 2 (best), the
    # middle hidden, then the latest epochs.
    table = table_shape(lines, epochs)
    shown = [n for kind, n in table if kind == "row"]
    assert table[:3] == [("gap", 1), ("row", 2), ("gap", shown[1] - 3)]
    assert shown[1:] == list(range(shown[1], epochs + 1)) and len(shown) > 5
    assert [kind for kind, _ in table[3:]] == ["row"] * (len(table) - 3)


def test_visible_rows_keep_epoch_order_and_mark_each_gap():
    events = [e for e in epoch_events() if type(e).__name__ == "EpochEnded"]

    def shape(lines):
        return [line if isinstance(line, int) else f"e{line.epoch}" for line in lines]

    assert visible_rows(events, 10) == events
    # Best is epoch 3: shown where it belongs, with the hidden epochs counted around it.
    assert shape(visible_rows(events, 4)) == [2, "e3", "e4", "e5"]
    # Too little room for the best row and its gaps: the latest epochs win.
    assert shape(visible_rows(events, 3)) == [3, "e4", "e5"]
    assert shape(visible_rows(events, 2)) == [4, "e5"]
    # A best row in the middle: a gap on each side of it.
    curve = [(0.5, 0.5, 0.5, 0.9), (0.5, 0.5, 0.5, 0.99)] + [(0.5, 0.5, 0.5, 0.9)] * 8
    events = [e for e in epoch_events(curve, 10) if type(e).__name__ == "EpochEnded"]
    assert shape(visible_rows(events, 5)) == [1, "e2", 6, "e9", "e10"]


def test_sparkline_scales_to_its_own_range():
    assert sparkline([0.0, 0.5, 1.0], 10) == "▁▅█"
    assert sparkline([1.0, 1.0], 10) == "▅▅"
    assert sparkline(list(range(100)), 5) == "▁▃▅▆█"
    assert sparkline([], 5) == ""


def test_plain_reporter_prints_the_same_events_line_by_line():
    out = io.StringIO()
    reporter = PlainReporter(stream=out)
    evaluated, ended = final_events("completed")
    feed(reporter, [run_started(), *epoch_events(), *evaluated, ended])
    assert out.getvalue().splitlines() == [
        "training simple_cnn (206,922 parameters) on cpu/fp32: train 55,000 val 5,000 "
        "test 10,000, seed 42, run 20260101-000000-simple_cnn in runs/20260101-000000-simple_cnn",
        "epoch 1/5  train loss 0.9000 acc 70.00%  val loss 0.5000 acc 85.00%  "
        "lr 0.01  12.5s 4,400/s *best*",
        "epoch 2/5  train loss 0.4000 acc 88.00%  val loss 0.3000 acc 91.00%  "
        "lr 0.01  12.5s 4,400/s *best*",
        "epoch 3/5  train loss 0.2000 acc 94.00%  val loss 0.2000 acc 95.00%  "
        "lr 0.01  12.5s 4,400/s *best*",
        "epoch 4/5  train loss 0.1500 acc 95.00%  val loss 0.2100 acc 94.00%  "
        "lr 0.01  12.5s 4,400/s (no improvement for 1 of 3)",
        "epoch 5/5  train loss 0.1000 acc 97.00%  val loss 0.2200 acc 94.50%  "
        "lr 0.01  12.5s 4,400/s (no improvement for 2 of 3)",
        "test loss 0.1875 acc 95.12% (10,000 images)",
        "completed after 5 epoch(s) in 1m15s: best epoch 3, val acc 95.00%, "
        "test acc 95.12% (loss 0.1875)",
        "run folder: runs/20260101-000000-simple_cnn",
        "checkpoint: runs/20260101-000000-simple_cnn/checkpoint.pt",
        "curves: runs/20260101-000000-simple_cnn/curves.png",
    ]
    assert "\x1b" not in out.getvalue()


def test_plain_reporter_interrupted_says_how_to_resume():
    out = io.StringIO()
    reporter = PlainReporter(stream=out)
    _, ended = final_events("interrupted")
    feed(reporter, [run_started(), *epoch_events()[:6], ended])
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("epoch 1/5")
    assert lines[2].startswith("interrupted after 5 epoch(s) in 1m15s: best epoch 3")
    assert "test acc" not in lines[2]
    assert lines[-1] == "Interrupted. Resume with: mnist train --resume 20260101-000000-simple_cnn"


def test_failure_before_the_run_starts_leaves_no_dashboard_behind():
    console, out = plain_console(80)
    with pytest.raises(ValueError), LiveDashboard(console=console) as dashboard:
        assert "loading data" in "\n".join(snapshot(dashboard, 80))
        raise ValueError("no dataset")
    assert not dashboard._live.is_started
    assert out.getvalue().strip() == ""


@pytest.mark.slow
def test_a_pipe_gets_plain_lines_without_escapes(synthetic_root, runs_dir):
    result = subprocess.run(
        [
            *MNIST_CMD,
            "train",
            *("--root", str(synthetic_root), "--runs-dir", str(runs_dir)),
            *("--epochs", "1", "--val-size", "500", "--device", "cpu", "--precision", "fp32"),
        ],
        capture_output=True,
        text=True,
        env=cli_env(TERM="xterm-256color"),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("training simple_cnn (206,922 parameters) on cpu/fp32")
    assert lines[1].startswith("epoch 1/1  train loss ")
    assert lines[2].startswith("test loss ")
    assert lines[3].startswith("completed after 1 epoch(s)")
    assert "\x1b" not in result.stdout + result.stderr
    assert "━" not in result.stdout


def test_header_shows_optimizer_lr_schedule_and_preset():
    # Issue 20: how the run trains, next to what and where.
    import dataclasses

    from mnist_tui.train.reporters.dashboard_view import header

    start = dataclasses.replace(
        run_started(),
        config={
            "optimizer": "adam",
            "lr": 0.01,
            "momentum": 0.7,
            "scheduler": "onecycle",
            "preset": "fast",
            "augment": True,
        },
    )
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(header(start))
    text = console.export_text()
    assert "adam lr 0.01" in text and "onecycle schedule" in text and "preset fast" in text
    assert "augmented" in text


def _final_frame(height: int, epochs: int = 12) -> tuple[str, str]:
    """The final frame and the table printed after it, for a run whose best is epoch 9."""
    curve = [(0.1, 0.9, 0.2, 0.9 + e / 1000) for e in range(1, epochs + 1)]
    curve[8] = (0.1, 0.9, 0.2, 0.99)
    console, out = plain_console(80, height=height)
    dashboard = LiveDashboard(console=console)
    evaluated, ended = final_events("completed")
    feed(dashboard, [run_started(epochs), *epoch_events(curve, epochs), *evaluated, ended])
    frame, table = out.getvalue().split("every epoch")
    return frame, table


@pytest.mark.parametrize("height", [24, 25, 26])
def test_final_frame_at_80_columns_in_epoch_order_then_every_epoch(height):
    """Issue 20's case: 12 epochs, the best the 9th, in a terminal too short for them."""
    frame, table = _final_frame(height)
    assert len(frame.splitlines()) < height and "run completed" in frame
    shape = table_shape(frame.splitlines(), 12)
    shown = [epoch for kind, epoch in shape if kind == "row"]
    # Rows in epoch order, each gap where its epochs belong, the latest epoch last.
    assert shown == sorted(shown) and shown[-1] == 12
    assert sum(n for kind, n in shape if kind == "gap") + len(shown) == 12
    position = 0
    for kind, n in shape:
        position += n if kind == "gap" else 1
        assert kind == "gap" or n == position, shape
    if len(shape) >= 4:  # room for the best row and a gap on each side of it
        assert 9 in shown, shape
    assert table_shape(table.splitlines(), 12) == [("row", e) for e in range(1, 13)]


def test_final_frame_keeps_the_best_row_when_four_lines_fit():
    frame, _ = _final_frame(25)
    assert table_shape(frame.splitlines(), 12) == [("gap", 8), ("row", 9), ("gap", 2), ("row", 12)]


def test_a_run_that_fits_prints_no_second_table():
    console, out = plain_console(80, height=40)
    dashboard = LiveDashboard(console=console)
    evaluated, ended = final_events("completed")
    feed(dashboard, [run_started(), *epoch_events(), *evaluated, ended])
    assert "every epoch" not in out.getvalue()
