"""The baseline: the seed notebook's training loop, written plainly on purpose.

torchvision's `MNIST` dataset with per-sample `ToTensor` + `Normalize`, a `DataLoader`
(batch 64, `num_workers=0`), SimpleCNN, SGD lr 0.01 momentum 0.9, fp32, contiguous
tensors. Nothing here is tuned: it is what the tool is measured against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mnist_tui.models.architectures import SimpleCNN


@dataclass
class BaselineEpoch:
    seconds: float  # one training epoch, data loading included
    images: int  # training images in that epoch
    test_acc: float


def run_one_epoch(root: Path, device: str = "cpu", seed: int = 0) -> BaselineEpoch:
    """Train the notebook's model for one epoch and test it, as the notebook did."""
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
    )
    train_set = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    test_set = datasets.MNIST(str(root), train=False, download=False, transform=transform)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=64, shuffle=True, num_workers=0
    )
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000, num_workers=0)
    model = SimpleCNN().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()

    started = time.perf_counter()
    model.train()
    for images, labels in train_loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started

    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            correct += (model(images).argmax(1) == labels).sum().item()
    return BaselineEpoch(seconds, len(train_set), correct / len(test_set))
