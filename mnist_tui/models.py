"""Model architectures and the registry behind `--model`. No I/O here.

Each model takes (N, 1, 28, 28) normalised images and returns (N, num_classes) logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class SimpleCNN(nn.Module):
    """The seed notebook's network: two 3x3 conv blocks then a two-layer classifier."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))  # 16 x 14 x 14
        x = self.pool(torch.relu(self.conv2(x)))  # 32 x 7 x 7
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    build: Callable[..., nn.Module]
    summary: str


MODELS: dict[str, ModelInfo] = {
    "simple_cnn": ModelInfo(
        "simple_cnn",
        SimpleCNN,
        "the seed notebook's 2-conv CNN (206,922 parameters); ~99.1% test accuracy",
    ),
}


def model_names() -> list[str]:
    return list(MODELS)


def build_model(name: str, num_classes: int = 10, **kwargs: object) -> nn.Module:
    """A freshly initialised model from the registry."""
    return MODELS[name].build(num_classes=num_classes, **kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
