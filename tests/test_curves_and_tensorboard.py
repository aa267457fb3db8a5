"""Other subscribers of the loop's events: curves.png from metrics.csv, TensorBoard scalars."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from conftest import run_cli
from PIL import Image

from mnist_tui.runs.folders import RunFolder
from mnist_tui.ui.plots import draw_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_curves_png_is_a_valid_png_drawn_from_metrics_csv(trained_run, tmp_path):
    run = RunFolder(trained_run)
    png = run.curves.read_bytes()
    assert png[:8] == PNG_SIGNATURE
    with Image.open(run.curves) as image:
        image.verify()
    with Image.open(run.curves) as image:
        assert image.format == "PNG" and image.size == (1500, 400)  # loss, accuracy, lr

    # Drawn from the CSV: the same rows draw the same picture, byte for byte...
    rows = run.read_metrics()
    assert len(rows) >= 2 and [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    best = tomllib.loads(run.summary.read_text())["best_epoch"]
    redrawn = draw_curves(rows, tmp_path / "again.png", title=run.id, best_epoch=best)
    redrawn = redrawn.read_bytes()
    assert redrawn == png
    # ...and other numbers draw another one.
    rows[1] = {**rows[1], "val_acc": rows[1]["val_acc"] / 2}
    assert draw_curves(rows, tmp_path / "other.png", title=run.id).read_bytes() != png


def test_curves_png_draws_the_lr_and_marks_the_best_epoch(tmp_path):
    # Issue 20: the learning rate has its own panel and the best epoch is marked.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "train_acc": 0.9,
            "val_loss": 1 / e,
            "val_acc": acc,
            "lr": lr,
            "seconds": 1.0,
            "samples_per_s": 1.0,
        }
        for e, acc, lr in [(1, 0.90, 0.1), (2, 0.97, 0.05), (3, 0.95, 0.01)]
    ]
    figures: list = []
    original = plt.close
    plt.close = lambda fig=None: figures.append(fig)  # keep the figure to look at it
    try:
        draw_curves(rows, tmp_path / "c.png", best_epoch=2)
    finally:
        plt.close = original
    (fig,) = figures
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy", "learning rate"]
    lr_axis = fig.axes[2]
    assert list(lr_axis.lines[0].get_ydata()) == [0.1, 0.05, 0.01]
    for ax in fig.axes:  # a vertical line at epoch 2 in every panel
        assert any(list(line.get_xdata()) == [2, 2] for line in ax.lines), ax.get_title()
    assert any("best epoch 2" in t.get_text() for t in fig.axes[1].get_legend().get_texts())
    original(fig)


FAST = ["--epochs", "2", "--val-size", "500", "--batch-size", "64", "--device", "cpu", "--plain"]


@pytest.mark.slow
def test_tensorboard_scalars_per_epoch(synthetic_root, runs_dir, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = ["train", *FAST, "--tensorboard", "--root", synthetic_root, "--runs-dir", runs_dir]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    run = RunFolder(next(runs_dir.iterdir()))
    events = EventAccumulator(str(run.path / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr"} <= tags
    assert {"loss/test", "accuracy/test"} <= tags
    rows = run.read_metrics()
    for tag, column in [("loss/val", "val_loss"), ("accuracy/train", "train_acc"), ("lr", "lr")]:
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx(
            [r[column] for r in rows], rel=1e-5
        )  # CSV: 6 digits


def test_tensorboard_missing_is_one_clear_line_before_any_work(
    synthetic_root, runs_dir, capsys, monkeypatch
):
    # None in sys.modules makes `import` fail the way a missing package does.
    for name in [
        m for m in sys.modules if m.startswith(("tensorboard", "torch.utils.tensorboard"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    args = ["train", *FAST, "--tensorboard", "--root", synthetic_root, "--runs-dir", runs_dir]
    code, out, err = run_cli(args, capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "pip install" in lines[0] and "tensorboard" in lines[0], err
    assert "Traceback" not in err and out == ""
    assert not Path(runs_dir).exists() or not any(Path(runs_dir).iterdir())
