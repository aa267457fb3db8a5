"""Time to a test accuracy: the tool's own Trainer, with the test set checked off the clock.

The tool never looks at the test set during training; the benchmark does, after every
epoch, outside the timed part (each epoch's seconds come from the EpochEnded event: the
training pass plus the validation pass, exactly what `mnist train` reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mnist_tui.config import resolve_config
from mnist_tui.data.tensors import load_data
from mnist_tui.models.architectures import build_model
from mnist_tui.train.devices import fast_layout, resolve_device, resolve_precision, seed_everything
from mnist_tui.train.events import Callback, EpochEnded
from mnist_tui.train.loop import Trainer, evaluate


@dataclass
class TargetResult:
    seconds: float | None  # training seconds until the target was first met; None: never
    epochs: int  # epochs run
    test_acc: float  # test accuracy at the last epoch run


class _NoFiles:
    """A CheckpointStore that keeps nothing: the benchmark writes no run folder."""

    def save_best(self, state_dict: dict[str, torch.Tensor], epoch: int, val_acc: float) -> None:
        pass

    def save_last(self, state: dict[str, Any]) -> None:
        pass


class _TestWatch(Callback):
    """Adds up epoch seconds and tests the model after each epoch, off the clock."""

    def __init__(self, model: torch.nn.Module, data: Any, precision: str, target: float) -> None:
        self.model, self.data, self.precision, self.target = model, data, precision, target
        self.train_seconds = 0.0
        self.reached_at: float | None = None
        self.test_acc = 0.0
        self.epochs = 0

    def on_epoch_end(self, event: EpochEnded) -> None:
        self.train_seconds += event.seconds
        self.epochs = event.epoch
        self.test_acc = evaluate(self.model, self.data.test, precision=self.precision).accuracy
        if self.reached_at is None and self.test_acc >= self.target:
            self.reached_at = self.train_seconds

    def reached(self) -> bool:
        return self.reached_at is not None


def time_to_accuracy(root: Path, settings: dict[str, Any], target: float = 0.99) -> TargetResult:
    """Train with `settings` (TrainConfig overrides, e.g. a preset) until `target` test acc."""
    config = resolve_config(None, settings)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    seed_everything(config.seed, config.deterministic)
    data = load_data(root, config.dataset, config.val_size, config.seed, device)
    model = fast_layout(build_model(config.model, len(data.spec.classes)).to(device), device)
    watch = _TestWatch(model, data, precision, target)
    trainer = Trainer(model, data, config, precision, watch, _NoFiles(), should_stop=watch.reached)
    trainer.fit()
    return TargetResult(watch.reached_at, watch.epochs, watch.test_acc)
