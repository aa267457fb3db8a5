"""Events the training loop emits, and the Callback protocol reporters implement.

Events carry plain Python data (floats, ints, strings, lists), never tensors, so the
dashboard, CSV writer and other reporters need neither torch nor the loop's internals.
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    run_dir: str
    model: str
    parameters: int
    device: str
    precision: str
    train_size: int
    val_size: int
    test_size: int
    seed: int
    epochs: int
    batches_per_epoch: int
    batch_size: int
    start_epoch: int = 1  # > 1 when resuming
    config: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False
    # A resume: the epochs before it (metrics.csv), the time they took, what changed.
    history: tuple[EpochEnded, ...] = ()
    previous_seconds: float = 0.0
    resume_note: str = ""


@dataclass(frozen=True)
class EpochStarted:
    epoch: int
    epochs: int
    batches: int


@dataclass(frozen=True)
class BatchEnded:
    epoch: int
    batch: int  # 1-based index of the batch just finished
    batches: int
    samples: int  # samples seen so far in this epoch


@dataclass(frozen=True)
class EpochEnded:
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    samples_per_s: float
    is_best: bool
    best_epoch: int
    best_val_acc: float
    epochs_without_improvement: int
    patience: int

    def csv_row(self) -> dict[str, float | int]:
        """The metrics.csv row for this epoch."""
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "lr": self.lr,
            "seconds": self.seconds,
            "samples_per_s": self.samples_per_s,
        }


def history_from_rows(
    rows: list[dict[str, float]], epochs: int, patience: int
) -> tuple[EpochEnded, ...]:
    """metrics.csv rows as the EpochEnded events they came from (best and patience redone)."""
    events = []
    best_epoch, best_acc, since = 0, -1.0, 0
    for row in rows:
        epoch, val_acc = int(row["epoch"]), float(row["val_acc"])
        improved = val_acc > best_acc  # the loop's rule: strictly better
        if improved:
            best_epoch, best_acc, since = epoch, val_acc, 0
        else:
            since += 1
        events.append(
            EpochEnded(
                epoch=epoch,
                epochs=epochs,
                train_loss=float(row["train_loss"]),
                train_acc=float(row["train_acc"]),
                val_loss=float(row["val_loss"]),
                val_acc=val_acc,
                lr=float(row["lr"]),
                seconds=float(row["seconds"]),
                samples_per_s=float(row["samples_per_s"]),
                is_best=improved,
                best_epoch=best_epoch,
                best_val_acc=best_acc,
                epochs_without_improvement=since,
                patience=patience,
            )
        )
    return tuple(events)


@dataclass(frozen=True)
class Evaluated:
    """The final evaluation of the best checkpoint on the test set."""

    split: str
    loss: float
    accuracy: float
    samples: int


@dataclass(frozen=True)
class RunEnded:
    status: str  # completed | early_stopped | interrupted | failed
    epochs_run: int
    best_epoch: int
    best_val_acc: float | None  # None: no epoch was validated
    test_loss: float | None
    test_acc: float | None
    seconds: float  # the whole run's training time, every session of a resumed run included
    run_dir: str
    checkpoint: str  # "" when none was saved
    curves: str | None = None
    message: str = ""
    warning: str = ""  # the run learned nothing worth keeping: why and what to change
    session_seconds: float | None = None  # this session's part of `seconds`, when resumed


class Callback:
    """Base class of reporters: override the hooks you need; each takes one event."""

    def on_run_start(self, event: RunStarted) -> None: ...
    def on_epoch_start(self, event: EpochStarted) -> None: ...
    def on_batch_end(self, event: BatchEnded) -> None: ...
    def on_epoch_end(self, event: EpochEnded) -> None: ...
    def on_evaluated(self, event: Evaluated) -> None: ...
    def on_run_end(self, event: RunEnded) -> None: ...


class CallbackList(Callback):
    """Fans every event out to a list of callbacks, in order."""

    def __init__(self, callbacks: list[Callback] | None = None) -> None:
        self.callbacks = list(callbacks or [])

    def on_run_start(self, event: RunStarted) -> None:
        for cb in self.callbacks:
            cb.on_run_start(event)

    def on_epoch_start(self, event: EpochStarted) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(event)

    def on_batch_end(self, event: BatchEnded) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(event)

    def on_epoch_end(self, event: EpochEnded) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(event)

    def on_evaluated(self, event: Evaluated) -> None:
        for cb in self.callbacks:
            cb.on_evaluated(event)

    def on_run_end(self, event: RunEnded) -> None:
        for cb in self.callbacks:
            cb.on_run_end(event)
