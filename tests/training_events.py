"""A fixed sequence of training events, as the loop would emit them, for reporter tests."""

from __future__ import annotations

from mnist_tui.train.events import (
    BatchEnded,
    Callback,
    EpochEnded,
    EpochStarted,
    Evaluated,
    RunEnded,
    RunStarted,
)

EPOCHS = 5
BATCHES = 4
PATIENCE = 3
#: (train_loss, train_acc, val_loss, val_acc) per epoch; epoch 3 is the best.
CURVE = [
    (0.9, 0.70, 0.5, 0.85),
    (0.4, 0.88, 0.3, 0.91),
    (0.2, 0.94, 0.2, 0.95),
    (0.15, 0.95, 0.21, 0.94),
    (0.1, 0.97, 0.22, 0.945),
]


def run_started(epochs: int = EPOCHS) -> RunStarted:
    return RunStarted(
        run_id="20260101-000000-simple_cnn",
        run_dir="runs/20260101-000000-simple_cnn",
        model="simple_cnn",
        parameters=206_922,
        device="cpu",
        precision="fp32",
        train_size=55_000,
        val_size=5_000,
        test_size=10_000,
        seed=42,
        epochs=epochs,
        batches_per_epoch=BATCHES,
        batch_size=64,
    )


def epoch_events(
    curve: list[tuple[float, float, float, float]] = CURVE, epochs: int = EPOCHS
) -> list:
    """EpochStarted, BatchEnded x BATCHES and EpochEnded for each epoch of `curve`."""
    events: list = []
    best_epoch, best_acc, waiting = 0, -1.0, 0
    for epoch, (tl, ta, vl, va) in enumerate(curve, start=1):
        events.append(EpochStarted(epoch, epochs, BATCHES))
        events += [BatchEnded(epoch, b, BATCHES, b * 64) for b in range(1, BATCHES + 1)]
        improved = va > best_acc
        if improved:
            best_epoch, best_acc, waiting = epoch, va, 0
        else:
            waiting += 1
        events.append(
            EpochEnded(
                epoch=epoch,
                epochs=epochs,
                train_loss=tl,
                train_acc=ta,
                val_loss=vl,
                val_acc=va,
                lr=0.01,
                seconds=12.5,
                samples_per_s=4400.0,
                is_best=improved,
                best_epoch=best_epoch,
                best_val_acc=best_acc,
                epochs_without_improvement=waiting,
                patience=PATIENCE,
            )
        )
    return events


def final_events(status: str = "completed") -> list:
    interrupted = status == "interrupted"
    ended = RunEnded(
        status=status,
        epochs_run=len(CURVE),
        best_epoch=3,
        best_val_acc=0.95,
        test_loss=None if interrupted else 0.1875,
        test_acc=None if interrupted else 0.9512,
        seconds=75.0,
        run_dir="runs/20260101-000000-simple_cnn",
        checkpoint="runs/20260101-000000-simple_cnn/checkpoint.pt",
        curves="runs/20260101-000000-simple_cnn/curves.png",
        message="Interrupted. Resume with: mnist train --resume 20260101-000000-simple_cnn"
        if interrupted
        else "",
    )
    return [] if interrupted else [Evaluated("test", 0.1875, 0.9512, 10_000)], ended


def dispatch(callback, event) -> None:
    """Deliver one event to the matching hook of `callback`."""
    hooks = {
        RunStarted: callback.on_run_start,
        EpochStarted: callback.on_epoch_start,
        BatchEnded: callback.on_batch_end,
        EpochEnded: callback.on_epoch_end,
        Evaluated: callback.on_evaluated,
        RunEnded: callback.on_run_end,
    }
    hooks[type(event)](event)


class StopAfter(Callback):
    """should_stop for train(), as Ctrl-C: true once epoch `epoch` ended (0: after a batch)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.stop = False

    def __call__(self) -> bool:
        return self.stop

    def on_batch_end(self, e: BatchEnded) -> None:
        self.stop = self.stop or self.epoch == 0

    def on_epoch_end(self, e: EpochEnded) -> None:
        self.stop = self.stop or e.epoch == self.epoch
