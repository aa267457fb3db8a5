"""Training throughput of SimpleCNN under each speed lever, on data resident in memory.

Every variant runs the same steps (index-sliced batches, SGD step, optimizer.zero_grad)
so the ratios between rows isolate one lever at a time. Random inputs are enough here:
throughput does not depend on pixel values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from mnist_tui.models.architectures import SimpleCNN
from mnist_tui.train.devices import cpu_supports_bf16


@dataclass(frozen=True)
class Lever:
    name: str
    batch_size: int = 64
    channels_last: bool = False
    bf16: bool = False
    foreach: bool | None = None
    threads: int | None = None  # None: torch's default (one per physical core)


def levers_for(device: torch.device) -> list[Lever]:
    """The variants worth measuring on this device, reference first."""
    bf16 = device.type == "cuda" or cpu_supports_bf16()
    rows = [
        Lever("reference: fp32, contiguous, batch 64"),
        Lever("channels_last", channels_last=True),
    ]
    if bf16:
        rows += [
            Lever("bf16 autocast", bf16=True),
            Lever("channels_last + bf16", channels_last=True, bf16=True),
        ]
    rows += [
        Lever("channels_last + bf16, batch 128", 128, True, bf16),
        Lever("channels_last + bf16, batch 256", 256, True, bf16),
        Lever("channels_last + bf16, batch 128, foreach SGD", 128, True, bf16, foreach=True),
    ]
    if device.type == "cpu" and torch.get_num_threads() > 1:
        rows.append(Lever("channels_last + bf16, batch 128, 1 thread", 128, True, bf16, threads=1))
    return rows


def throughput(lever: Lever, device: torch.device, images: int) -> float:
    """Training images per second for `lever` over about `images` images."""
    default_threads = torch.get_num_threads()
    if lever.threads:
        torch.set_num_threads(lever.threads)
    try:
        torch.manual_seed(0)
        pool = torch.randn(8192, 1, 28, 28, device=device)
        targets = torch.randint(0, 10, (8192,), device=device)
        model = SimpleCNN().to(device)
        if lever.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=0.01, momentum=0.9, foreach=lever.foreach
        )
        criterion = nn.CrossEntropyLoss()
        dtype = torch.bfloat16

        def step() -> None:
            index = torch.randint(0, pool.shape[0], (lever.batch_size,), device=device)
            with torch.autocast(device.type, dtype=dtype, enabled=lever.bf16):
                loss = criterion(model(pool[index]).float(), targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        for _ in range(5):  # warm-up: allocator, oneDNN/cuDNN kernel choice
            step()
        steps = max(images // lever.batch_size, 10)
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        return steps * lever.batch_size / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(default_threads)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
