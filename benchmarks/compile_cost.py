"""Does `torch.compile` pay back for the `fast` preset's run? Prints its figures.

Times eager training steps of `fast_cnn` (batch 256, Adam, autocast as --precision auto
picks) against the same steps through `torch.compile(model)`, and the one-off compile
time (the first compiled step). The compiled path pays back only when
compile seconds < steps x (eager - compiled) seconds per step; the preset runs one epoch
of 215 steps.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/compile_cost.py [--device cpu] [--steps 60]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from benchmarks.measure import seconds_per_call
from mnist_tui.config import resolve_config
from mnist_tui.models.architectures import build_model
from mnist_tui.train.devices import autocast, resolve_device, resolve_precision
from mnist_tui.train.loop import build_optimizer

PRESET_STEPS = -(-55_000 // 256)  # one epoch of the 55,000 training images at batch 256


def step_function(model: nn.Module, device: torch.device, precision: str):
    """One training step of the fast preset on a fixed random batch."""
    config = resolve_config(None, {"preset": "fast"})
    optimizer = build_optimizer(config, model)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    images = torch.randn(config.batch_size, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (config.batch_size,), device=device)

    def step() -> None:
        with autocast(device, precision):
            loss = criterion(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    precision = resolve_precision("auto", device)

    eager = step_function(build_model("fast_cnn").to(device), device, precision)
    compiled = step_function(torch.compile(build_model("fast_cnn").to(device)), device, precision)
    started = time.perf_counter()
    compiled()  # compiles the forward and backward graphs
    compile_seconds = time.perf_counter() - started
    for _ in range(5):
        eager()
        compiled()
    eager_s, compiled_s = [], []
    for _ in range(args.rounds):  # interleaved, so that other load hits both alike
        eager_s.append(seconds_per_call(eager, args.steps))
        compiled_s.append(seconds_per_call(compiled, args.steps))
    eager_step, compiled_step = statistics.median(eager_s), statistics.median(compiled_s)
    saved = eager_step - compiled_step
    print(f"device {device} precision {precision}, median of {args.rounds} rounds")
    print(f"eager step      {eager_step * 1000:.2f} ms")
    print(f"compiled step   {compiled_step * 1000:.2f} ms ({eager_step / compiled_step:.2f}x)")
    print(f"compile time    {compile_seconds:.1f} s (first compiled step)")
    if saved > 0:
        print(
            f"break-even      {compile_seconds / saved:,.0f} steps; the fast preset runs"
            f" {PRESET_STEPS}, which would save {PRESET_STEPS * saved:.2f} s"
        )
    else:
        print("break-even      never: the compiled step is not faster")


if __name__ == "__main__":
    main()
