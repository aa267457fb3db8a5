"""`mnist eval --png`: confusion.png and mistakes.png in the run folder."""

from __future__ import annotations

from pathlib import Path

from mnist_tui.evaluate.core import Evaluation
from mnist_tui.runs.folders import RunFolder
from mnist_tui.ui.plots import draw_confusion, draw_mistakes

MISTAKES_SHOWN = 36  # a 6x6 grid: the most confidently wrong first


def write_eval_pngs(run: RunFolder, evaluation: Evaluation) -> list[Path]:
    """Draw both images atomically into the run folder; return their paths."""
    report = evaluation.report
    title = f"{report.run_id} - {report.split}: {report.accuracy:.2%}"
    confusion = draw_confusion(
        report.confusion, report.classes, run.path / "confusion.png", title=title
    )
    mistakes = report.mistakes[:MISTAKES_SHOWN]
    mistakes_png = draw_mistakes(
        [evaluation.images[m.index] for m in mistakes],
        [f"true {m.true} / said {m.predicted}\n{m.confidence:.0%}" for m in mistakes],
        run.path / "mistakes.png",
        title=f"{report.run_id} - worst {len(mistakes)} mistakes ({report.split})",
    )
    return [confusion, mistakes_png]
