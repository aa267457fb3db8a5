"""Learning-rate schedules: built from the config, and re-planned when a resume changes --epochs.

cosine and onecycle span the whole run: their shape depends on the number of steps. A run
resumed with another --epochs cannot keep the old plan (a cosine past its end climbs back
up; a one-cycle schedule refuses to step past its total), so the rest of the run gets a
`ReplannedSchedule`: cosine segments in closed form that start at the learning rate the
optimizer has now (no jump) and reach the schedule's end at the new last epoch. step
(x0.7 per epoch) and none do not depend on the run's length and are left alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from mnist_tui.config import TrainConfig

#: One-cycle: share of the run spent warming up, and PyTorch's defaults for the rest.
PCT_START = 0.25
DIV_FACTOR = 25.0
FINAL_DIV_FACTOR = 1e4
BASE_MOMENTUM, MAX_MOMENTUM = 0.85, 0.95


def build_scheduler(
    config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step schedule (stepped after every batch) or None."""
    total = config.epochs * steps_per_epoch
    if config.scheduler == "step":
        # The PyTorch MNIST example's schedule: x0.7 every epoch.
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=steps_per_epoch, gamma=0.7)
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if config.scheduler == "onecycle":
        # Momentum cycling (0.95 down to 0.85 and back) belongs to the SGD recipe of the
        # one-cycle paper; with Adam it would override beta1, and keeping --momentum as
        # beta1 measured 99.15% instead of 99.0% after the `fast` preset's one epoch.
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=total,
            pct_start=PCT_START,
            div_factor=DIV_FACTOR,
            final_div_factor=FINAL_DIV_FACTOR,
            base_momentum=BASE_MOMENTUM,
            max_momentum=MAX_MOMENTUM,
            cycle_momentum=config.optimizer == "sgd",
        )
    return None


def _cosine(start: float, end: float, fraction: float) -> float:
    """From `start` (fraction 0) to `end` (fraction 1) along half a cosine."""
    return end + (start - end) * (1.0 + math.cos(math.pi * fraction)) / 2.0


class ReplannedSchedule:
    """Cosine segments over global step numbers, continuing an earlier schedule.

    Each segment is [first_step, last_step, lr_from, lr_to, momentum_from, momentum_to]
    (momentum None when it is not cycled). Its state is plain numbers, so last.pt stays
    loadable with weights_only=True and the run can be interrupted and resumed again.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        segments: list[list[Any]],
        step: int,
        epochs: int,
        peak: float = -1.0,
    ) -> None:
        self.optimizer = optimizer
        self.segments = segments
        self.step_count = step
        self.epochs = epochs  # the run length this plan ends at
        self.peak = peak  # step where a warm-up ends (-1: none left)
        self._apply()

    def value(self, step: int) -> tuple[float, float | None]:
        """(lr, momentum) at a global step; past the last segment its end value holds."""
        for first, last, lr0, lr1, m0, m1 in self.segments:
            if step <= first:
                return lr0, m0
            if step < last:
                fraction = (step - first) / (last - first)
                momentum = None if m0 is None else _cosine(m0, m1, fraction)
                return _cosine(lr0, lr1, fraction), momentum
        _, _, _, lr1, _, m1 = self.segments[-1]
        return lr1, m1

    def _apply(self) -> None:
        lr, momentum = self.value(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if momentum is not None:
                group["momentum"] = momentum

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {
            "replanned": True,
            "segments": [list(s) for s in self.segments],
            "step": self.step_count,
            "epochs": self.epochs,
            "peak": self.peak,
        }

    @classmethod
    def from_state(
        cls, optimizer: torch.optim.Optimizer, state: dict[str, Any]
    ) -> ReplannedSchedule:
        return cls(
            optimizer,
            [list(s) for s in state["segments"]],
            int(state["step"]),
            int(state["epochs"]),
            float(state.get("peak", -1.0)),
        )


Schedule = torch.optim.lr_scheduler.LRScheduler | ReplannedSchedule


def restore(
    scheduler: Schedule | None, optimizer: torch.optim.Optimizer, state: dict[str, Any] | None
) -> Schedule | None:
    """The schedule saved in last.pt: a re-planned one as such, else loaded into `scheduler`."""
    if scheduler is None or not state:
        return scheduler
    if state.get("replanned"):
        return ReplannedSchedule.from_state(optimizer, state)
    scheduler.load_state_dict(state)
    return scheduler


def planned_epochs(scheduler: Schedule | None, steps_per_epoch: int) -> int | None:
    """How many epochs the schedule was planned for; None when it does not span the run."""
    if isinstance(scheduler, ReplannedSchedule):
        return scheduler.epochs
    if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
        return scheduler.T_max // steps_per_epoch
    if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        return scheduler.total_steps // steps_per_epoch
    return None


def _steps_taken(scheduler: Schedule) -> int:
    if isinstance(scheduler, ReplannedSchedule):
        return scheduler.step_count
    return int(scheduler.last_epoch)


def _warm_up_end(scheduler: Schedule) -> float:
    """The step where the schedule's warm-up ends (-1 when it has none)."""
    if isinstance(scheduler, ReplannedSchedule):
        return scheduler.peak
    if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        return PCT_START * scheduler.total_steps - 1
    return -1.0


@dataclass(frozen=True)
class ScheduleChange:
    """What a resume with another --epochs did to the learning-rate schedule."""

    scheduler: str
    at_epoch: int  # epochs finished when re-planned
    epochs_before: int
    epochs: int
    lr: float  # the learning rate the run continues from
    end_lr: float | None = None  # where the re-planned schedule ends (None: not re-planned)
    peak_lr: float | None = None  # a one-cycle warm-up still to finish

    def sentence(self) -> str:
        """One line for the resume message and config.toml."""
        change = f"--epochs {self.epochs_before} -> {self.epochs}: "
        if self.end_lr is None:
            if self.scheduler == "step":
                return change + "the step schedule (x0.7 every epoch) continues unchanged."
            return change + f"the learning rate stays {self.lr:.3g}."
        name = {"cosine": "cosine", "onecycle": "one-cycle"}[self.scheduler]
        via = f" up to {self.peak_lr:.3g} and" if self.peak_lr is not None else ""
        return (
            change + f"{name} schedule re-planned from lr {self.lr:.3g} at epoch "
            f"{self.at_epoch + 1},{via} down to {self.end_lr:.3g} at the end of epoch "
            f"{self.epochs}."
        )

    def record(self) -> dict[str, Any]:
        """The [[run.resumed]] entry of config.toml."""
        record: dict[str, Any] = {
            "after_epoch": self.at_epoch,
            "epochs_before": self.epochs_before,
            "epochs": self.epochs,
            "scheduler": self.scheduler,
            "lr": self.lr,
            "schedule": self.sentence(),
        }
        if self.end_lr is not None:
            record["end_lr"] = self.end_lr
        if self.peak_lr is not None:
            record["peak_lr"] = self.peak_lr
        return record


def replan(
    scheduler: Schedule,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    steps_per_epoch: int,
    epochs_done: int,
) -> tuple[Schedule, ScheduleChange]:
    """The rest of the run's schedule for config.epochs, from where `scheduler` is now.

    Never climbs back: only a one-cycle warm-up that had not peaked yet goes on rising,
    to the peak of the new plan.
    """
    before = planned_epochs(scheduler, steps_per_epoch) or config.epochs
    group = optimizer.param_groups[0]
    lr = float(group["lr"])
    change = ScheduleChange(config.scheduler, epochs_done, before, config.epochs, lr)
    end = config.epochs * steps_per_epoch
    if epochs_done == 0:
        # Nothing trained yet: the schedule a new run of this length gets, exactly.
        fresh = build_scheduler(config, optimizer, steps_per_epoch)
        assert fresh is not None
        start = float(optimizer.param_groups[0]["lr"])
        peak = config.lr if config.scheduler == "onecycle" else None
        end_lr = _end_lr(config)
        return fresh, ScheduleChange(
            config.scheduler, 0, before, config.epochs, start, end_lr, peak
        )
    now = _steps_taken(scheduler)
    if config.scheduler == "cosine":
        segments = [[now, end, lr, 0.0, None, None]]
        planned = ReplannedSchedule(optimizer, segments, now, config.epochs)
        return planned, ScheduleChange(**{**change.__dict__, "end_lr": 0.0})
    # onecycle: PyTorch's phases end one step before the boundaries (the last step of the
    # run is taken at the final learning rate).
    last = end - 1
    final = _end_lr(config)
    momentum = float(group["momentum"]) if config.optimizer == "sgd" else None
    peak_momentum = BASE_MOMENTUM if momentum is not None else None
    end_momentum = MAX_MOMENTUM if momentum is not None else None
    new_peak = PCT_START * end - 1
    if now < _warm_up_end(scheduler) and now < new_peak:
        segments = [
            [now, new_peak, lr, config.lr, momentum, peak_momentum],
            [new_peak, last, config.lr, final, peak_momentum, end_momentum],
        ]
        planned = ReplannedSchedule(optimizer, segments, now, config.epochs, new_peak)
        return planned, ScheduleChange(**{**change.__dict__, "end_lr": final, "peak_lr": config.lr})
    segments = [[now, last, lr, final, momentum, end_momentum]]
    planned = ReplannedSchedule(optimizer, segments, now, config.epochs)
    return planned, ScheduleChange(**{**change.__dict__, "end_lr": final})


def _end_lr(config: TrainConfig) -> float:
    if config.scheduler == "onecycle":
        return config.lr / DIV_FACTOR / FINAL_DIV_FACTOR
    return 0.0
