"""An exponential moving average of a model's weights (`--ema DECAY`).

After every optimiser step: ema = d * ema + (1 - d) * weights, for every floating-point
entry of the state dict (BatchNorm's running statistics included); integer entries
(BatchNorm's batch counter) are copied. The decay warms up as min(decay, (1+t)/(10+t))
after t updates, so the average is not dominated by the random initial weights in the
first few hundred steps of a short run.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def warmed_up_decay(decay: float, updates: int) -> float:
    """The decay used for update number `updates` (counted from 1)."""
    return min(decay, (1 + updates) / (10 + updates))


class ModelEMA:
    """A frozen copy of `model` whose weights follow the model's by a moving average."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = warmed_up_decay(self.decay, self.updates)
        current = model.state_dict()
        for name, average in self.module.state_dict().items():
            value = current[name].detach()
            if average.dtype.is_floating_point:
                average.mul_(d).add_(value, alpha=1 - d)
            else:
                average.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        """For last.pt: the averaged weights and the update count."""
        return {"weights": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
