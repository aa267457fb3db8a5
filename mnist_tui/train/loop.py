"""fit() and evaluate(): the training loop, early stopping and checkpoint policy.

The loop knows nothing of terminals or files: it emits events to a Callback and hands
checkpoint contents to a CheckpointStore. Losses are averaged per sample.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from mnist_tui.config import TrainConfig
from mnist_tui.data.tensors import DataBundle, Split, batches
from mnist_tui.errors import TrainingDiverged
from mnist_tui.models.ema import ModelEMA
from mnist_tui.train.devices import autocast
from mnist_tui.train.events import (
    BatchEnded,
    Callback,
    EpochEnded,
    EpochStarted,
    Evaluated,
    RunEnded,
)
from mnist_tui.train.schedules import (
    Schedule,
    ScheduleChange,
    build_scheduler,
    planned_epochs,
    replan,
    restore,
)


class CheckpointStore(Protocol):
    """Where fit() puts checkpoints; runs a RunFolder in practice."""

    def save_best(
        self, state_dict: dict[str, torch.Tensor], epoch: int, val_acc: float
    ) -> None: ...

    def save_last(self, state: dict[str, Any]) -> None: ...


class Parallel(Protocol):
    """Data parallelism over processes (train/distributed.py's Cluster); None: one process."""

    def wrap(self, model: nn.Module) -> nn.Module: ...

    def batches(
        self, split: Split, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]: ...

    def sum(self, *values: float | torch.Tensor) -> list[float]: ...

    def evaluate(self, model: nn.Module, split: Split, precision: str) -> EvalResult: ...


@dataclass
class EvalResult:
    loss: float  # per-sample average
    accuracy: float
    samples: int
    predictions: torch.Tensor | None = None  # (N,) int64, CPU
    probabilities: torch.Tensor | None = None  # (N, C) float32, CPU


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: Split,
    *,
    # Small enough that a batch's activations stay in cache: on the 2-core CPU, 256 runs
    # 2-3x the images/s of 2000 (benchmarks/bench.py's "evaluation pass alone" row).
    batch_size: int = 256,
    precision: str = "fp32",
    keep_outputs: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Per-sample-averaged loss and accuracy of `model` on `split`.

    `on_batch(done, total)` is called after each batch (progress bars for `mnist eval`).
    """
    model.eval()
    device = split.images.device
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    outputs = []
    done = 0
    for images, labels in batches(split, batch_size):
        with autocast(device, precision):
            logits = model(images)
        logits = logits.float()
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum")
        predicted = logits.argmax(1)
        correct += (predicted == labels).sum()
        if keep_outputs:
            outputs.append(logits.softmax(1).cpu())
        if on_batch is not None:
            done += len(labels)
            on_batch(done, len(split))
    n = len(split)
    result = EvalResult(loss=loss_sum.item() / n, accuracy=correct.item() / n, samples=n)
    if keep_outputs:
        result.probabilities = torch.cat(outputs)
        result.predictions = result.probabilities.argmax(1)
    return result


def build_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    betas = (config.momentum, config.beta2)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=betas, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, betas=betas, weight_decay=config.weight_decay)


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every random state the next epoch depends on, as weights_only-loadable values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "data_order": generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    generator.set_state(state["data_order"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class FitProgress:
    """Early-stopping bookkeeping; saved in last.pt so a resumed run continues it."""

    epoch: int = 0  # last finished epoch
    best_epoch: int = 0
    best_val_acc: float = -1.0
    epochs_without_improvement: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FitResult:
    status: str
    progress: FitProgress
    test: EvalResult | None
    seconds: float


def _check_same_optimizer(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """torch loads another optimizer's state without a word and fails at the first step
    (SGD: KeyError 'momentum'): its hyperparameter names must be this optimizer's."""
    ours = {k for k in optimizer.param_groups[0] if k != "params"}
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not groups or not isinstance(groups[0], dict):
        raise ValueError("the optimizer state has no parameter groups")
    theirs = {k for k in groups[0] if k != "params"}
    if ours != theirs:
        missing = ", ".join(sorted(ours - theirs)[:3]) or ", ".join(sorted(theirs - ours)[:3])
        raise ValueError(
            f"its optimizer state is another optimizer's (differs in {missing}), not "
            f"{type(optimizer).__name__}'s"
        )


class Trainer:
    """One training run: model, optimiser, schedule and the state that resumes them."""

    def __init__(
        self,
        model: nn.Module,
        data: DataBundle,
        config: TrainConfig,
        precision: str,
        callbacks: Callback,
        store: CheckpointStore,
        should_stop: Callable[[], bool] = lambda: False,
        batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        parallel: Parallel | None = None,
    ) -> None:
        self.model = model
        # What the training step calls: DDP around the model when data-parallel. `model`
        # itself keeps plain state-dict keys for checkpoints, EMA and evaluation.
        self.parallel = parallel
        self.step_model = parallel.wrap(model) if parallel is not None else model
        self.data = data
        self.config = config
        self.precision = precision
        self.callbacks = callbacks
        self.store = store
        self.should_stop = should_stop
        self.batch_transform = batch_transform
        self.device = data.train.images.device
        self.steps_per_epoch = -(-len(data.train) // config.batch_size)
        self.optimizer = build_optimizer(config, model)
        self.scheduler: Schedule | None = build_scheduler(
            config, self.optimizer, self.steps_per_epoch
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.progress = FitProgress()
        # With --ema, the average is what gets evaluated and checkpointed.
        self.ema = ModelEMA(model, config.ema) if config.ema > 0 else None
        self.best_state: dict[str, torch.Tensor] | None = None

    # --- state for last.pt --------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "format": "mnist_tui.training_state/1",
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict(),
            "progress": self.progress.as_dict(),
            "rng": rng_state(self.generator),
            "best_state": self.best_state,
            "ema": self.ema.state_dict() if self.ema else None,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        _check_same_optimizer(self.optimizer, state["optimizer"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler = restore(self.scheduler, self.optimizer, state.get("scheduler"))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.progress = FitProgress(**state["progress"])
        self.best_state = state.get("best_state")
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        set_rng_state(state["rng"], self.generator)

    def fit_schedule_to_epochs(self) -> ScheduleChange | None:
        """After load_state: re-plan a schedule that spans the run for config.epochs.

        None when the schedule already ends at config.epochs (an ordinary resume, which
        then continues bit for bit) or does not depend on the run's length.
        """
        planned = planned_epochs(self.scheduler, self.steps_per_epoch)
        if self.scheduler is None or planned is None or planned == self.config.epochs:
            return None
        self.scheduler, change = replan(
            self.scheduler, self.optimizer, self.config, self.steps_per_epoch, self.progress.epoch
        )
        return change

    # --- the loop -------------------------------------------------------------------------

    def evaluated_model(self) -> nn.Module:
        """The weights that validation judges and checkpoints keep: the EMA when on."""
        return self.ema.module if self.ema is not None else self.model

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def train_epoch(self, epoch: int) -> tuple[float, float, float, bool]:
        """One pass over the training split: (loss, accuracy, lr, interrupted)."""
        self.model.train()
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        seen = 0
        lr = self.current_lr()
        total = self.steps_per_epoch
        for step, (images, labels, share) in enumerate(self.train_batches(), start=1):
            if self.batch_transform is not None:
                images = self.batch_transform(images)
            with autocast(self.device, self.precision):
                logits = self.step_model(images)
                loss = self.criterion(logits.float(), labels)
            self.optimizer.zero_grad(set_to_none=True)
            # Data-parallel: this rank's share of the global batch weights its mean loss,
            # so DDP's average over ranks is the gradient of the global batch's mean.
            self.scaler.scale(loss if share is None else loss * share).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.scheduler is not None:
                self.scheduler.step()
            if self.ema is not None:
                self.ema.update(self.model)
            n = labels.shape[0]
            # Accumulated on the device: no host sync per batch.
            loss_sum += loss.detach() * n
            correct += (logits.argmax(1) == labels).sum()
            seen += n
            # Global count (all ranks): the same number one process would report.
            done = min(step * self.config.batch_size, len(self.data.train))
            self.callbacks.on_batch_end(BatchEnded(epoch, step, total, done))
            if self.should_stop():
                return 0.0, 0.0, lr, True
        if self.parallel is not None:
            total_loss, total_correct, seen = self.parallel.sum(loss_sum, correct, seen)
            return total_loss / seen, total_correct / seen, lr, False
        return loss_sum.item() / seen, correct.item() / seen, lr, False

    def train_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, float | None]]:
        """(images, labels, share of the global batch or None) for one epoch."""
        if self.parallel is not None:
            yield from self.parallel.batches(
                self.data.train, self.config.batch_size, self.generator
            )
            return
        for images, labels in batches(self.data.train, self.config.batch_size, self.generator):
            yield images, labels, None

    def evaluate(self, model: nn.Module, split: Split) -> EvalResult:
        """evaluate() on this run's precision; over all ranks' shards when data-parallel."""
        if self.parallel is not None:
            return self.parallel.evaluate(model, split, self.precision)
        return evaluate(model, split, precision=self.precision)

    def patience_exhausted(self) -> bool:
        return self.progress.epochs_without_improvement >= self.config.patience > 0

    def record_epoch(self, epoch: int, val_acc: float) -> bool:
        """Update early-stopping state; save the best checkpoint. True if it improved."""
        progress = self.progress
        progress.epoch = epoch
        if val_acc <= progress.best_val_acc:
            progress.epochs_without_improvement += 1
            return False
        progress.best_epoch, progress.best_val_acc = epoch, val_acc
        progress.epochs_without_improvement = 0
        weights = self.evaluated_model().state_dict()
        self.best_state = {k: v.detach().clone() for k, v in weights.items()}
        self.store.save_best(self.best_state, epoch, val_acc)
        return True

    def fit(self) -> FitResult:
        config, progress = self.config, self.progress
        started = time.perf_counter()
        status = "completed"
        if progress.epoch == 0:
            self.store.save_last(self.state())  # so that even epoch 1 can be resumed
        for epoch in range(progress.epoch + 1, config.epochs + 1):
            if self.patience_exhausted():  # a resumed run that had already stopped early
                status = "early_stopped"
                break
            self.callbacks.on_epoch_start(EpochStarted(epoch, config.epochs, self.steps_per_epoch))
            epoch_start = time.perf_counter()
            train_loss, train_acc, lr, interrupted = self.train_epoch(epoch)
            if interrupted:
                status = "interrupted"
                break
            if not math.isfinite(train_loss):  # checked once an epoch: no extra sync per batch
                raise TrainingDiverged(
                    f"Training diverged in epoch {epoch}: the loss became {train_loss}. "
                    f"Train again with a lower --lr (this run's peak: {config.lr:g})"
                    + (" or --weight-decay." if config.weight_decay else ".")
                    + (
                        f" Its best checkpoint so far (epoch {progress.best_epoch}) is kept."
                        if self.best_state is not None
                        else ""
                    )
                )
            val = self.evaluate(self.evaluated_model(), self.data.val)
            seconds = time.perf_counter() - epoch_start
            improved = self.record_epoch(epoch, val.accuracy)
            self.callbacks.on_epoch_end(
                EpochEnded(
                    epoch=epoch,
                    epochs=config.epochs,
                    train_loss=train_loss,
                    train_acc=train_acc,
                    val_loss=val.loss,
                    val_acc=val.accuracy,
                    lr=lr,
                    seconds=seconds,
                    samples_per_s=len(self.data.train) / seconds,
                    is_best=improved,
                    best_epoch=progress.best_epoch,
                    best_val_acc=progress.best_val_acc,
                    epochs_without_improvement=progress.epochs_without_improvement,
                    patience=config.patience,
                )
            )
            # After the metrics row: a kill between the two re-runs this epoch on resume
            # (its row is replaced) instead of resuming past an epoch with no row.
            self.store.save_last(self.state())
            if self.should_stop():
                status = "interrupted"
                break
            if self.patience_exhausted() and epoch < config.epochs:
                status = "early_stopped"
                break
        test = None
        if status != "interrupted" and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            test = self.evaluate(self.model, self.data.test)
            self.callbacks.on_evaluated(Evaluated("test", test.loss, test.accuracy, test.samples))
        return FitResult(status, progress, test, time.perf_counter() - started)


def run_ended(result: FitResult, run_dir: str, checkpoint: str, message: str = "") -> RunEnded:
    """The RunEnded event for a finished fit()."""
    return RunEnded(
        status=result.status,
        epochs_run=result.progress.epoch,
        best_epoch=result.progress.best_epoch,
        best_val_acc=result.progress.best_val_acc if result.progress.best_epoch else None,
        test_loss=result.test.loss if result.test else None,
        test_acc=result.test.accuracy if result.test else None,
        seconds=result.seconds,
        run_dir=run_dir,
        checkpoint=checkpoint,
        message=message,
    )
