"""`mnist eval --png`: confusion-<split>.png and mistakes-<split>.png in the run folder."""

from __future__ import annotations

from pathlib import Path

from mnist_tui.evaluate.core import Evaluation
from mnist_tui.runs.folders import RunFolder
from mnist_tui.ui.plots import draw_confusion, draw_mistakes

MISTAKES_SHOWN = 36  # a 6x6 grid: the most confidently wrong first


def eval_png_paths(run: RunFolder, split: str) -> tuple[Path, Path]:
    """Where `eval --png` draws a split's confusion matrix and mistakes: the names carry
    the split, so evaluating val never overwrites the test split's pictures."""
    return run.path / f"confusion-{split}.png", run.path / f"mistakes-{split}.png"


def write_eval_pngs(run: RunFolder, evaluation: Evaluation) -> list[Path]:
    """Draw both images atomically into the run folder; return their paths."""
    report = evaluation.report
    confusion_path, mistakes_path = eval_png_paths(run, report.split)
    title = f"{report.run_id} - {report.split}: {report.accuracy:.2%}"
    confusion = draw_confusion(report.confusion, report.classes, confusion_path, title=title)
    mistakes = report.mistakes[:MISTAKES_SHOWN]
    mistakes_png = draw_mistakes(
        [evaluation.images[m.index] for m in mistakes],
        [f"true {m.true} / said {m.predicted}\n{m.confidence:.0%}" for m in mistakes],
        mistakes_path,
        title=f"{report.run_id} - worst {len(mistakes)} mistakes ({report.split})",
    )
    return [confusion, mistakes_png]
