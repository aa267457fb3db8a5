"""PlainReporter: one line per epoch and a final summary, for pipes, CI and `--plain`.

Takes plain event data only; writes no escape codes.
"""

from __future__ import annotations

import sys
from typing import TextIO

from mnist_tui.train.events import Callback, EpochEnded, Evaluated, RunEnded, RunStarted
from mnist_tui.ui.format import format_seconds


def epoch_line(e: EpochEnded) -> str:
    width = len(str(e.epochs))
    best = " *best*" if e.is_best else ""
    patience = (
        f" (no improvement for {e.epochs_without_improvement} of {e.patience})"
        if e.epochs_without_improvement and e.patience
        else ""
    )
    return (
        f"epoch {e.epoch:>{width}}/{e.epochs}  train loss {e.train_loss:.4f} "
        f"acc {e.train_acc:.2%}  val loss {e.val_loss:.4f} acc {e.val_acc:.2%}  "
        f"lr {e.lr:.3g}  {e.seconds:.1f}s {e.samples_per_s:,.0f}/s{best}{patience}"
    )


def total_time(e: RunEnded) -> str:
    """The run's training time; a resumed run's also says this session's part."""
    if e.session_seconds is None:
        return format_seconds(e.seconds)
    return f"{format_seconds(e.seconds)} ({format_seconds(e.session_seconds)} this session)"


def summary_lines(e: RunEnded) -> list[str]:
    best = (
        f"best epoch {e.best_epoch}, val acc {e.best_val_acc:.2%}"
        if e.best_val_acc is not None
        else "no epoch validated"
    )
    lines = [
        f"{e.status.replace('_', ' ')} after {e.epochs_run} epoch(s) in {total_time(e)}: {best}"
        + (
            f", test acc {e.test_acc:.2%} (loss {e.test_loss:.4f})"
            if e.test_acc is not None
            else ""
        )
    ]
    if e.warning:
        lines.append(f"warning: {e.warning}")
    lines.append(f"run folder: {e.run_dir}")
    if e.checkpoint:
        lines.append(f"checkpoint: {e.checkpoint}")
    if e.curves:
        lines.append(f"curves: {e.curves}")
    if e.message:
        lines.append(e.message)
    return lines


class PlainReporter(Callback):
    """Line-by-line progress for non-terminals."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def on_run_start(self, e: RunStarted) -> None:
        action = "resuming" if e.resumed else "training"
        self._print(
            f"{action} {e.model} ({e.parameters:,} parameters) on {e.device}/{e.precision}: "
            f"train {e.train_size:,} val {e.val_size:,} test {e.test_size:,}, seed {e.seed}, "
            f"run {e.run_id} in {e.run_dir}"
        )
        if e.resume_note:
            self._print(f"resume: {e.resume_note}")
        if e.history:  # the whole run reads in one place, not only this session's epochs
            self._print(f"epochs before the resume ({format_seconds(e.previous_seconds)}):")
            for row in e.history:
                self._print(epoch_line(row))

    def on_epoch_end(self, e: EpochEnded) -> None:
        self._print(epoch_line(e))

    def on_evaluated(self, e: Evaluated) -> None:
        self._print(f"{e.split} loss {e.loss:.4f} acc {e.accuracy:.2%} ({e.samples:,} images)")

    def on_run_end(self, e: RunEnded) -> None:
        for line in summary_lines(e):
            self._print(line)
