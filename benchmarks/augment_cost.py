"""What --augment costs per training step on this machine, as a ratio (no timed asserts).

Times the `best` preset's training steps (its model, batch, optimiser and EMA) without
augmentation, with the batched affine augmentation, and with affine plus elastic
distortion, interleaved in rounds so that other load on a shared machine hits all alike,
and prints the median ratios: with / without. An epoch is the same number of such steps,
so these are the epoch-cost ratios.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/augment_cost.py [--root data] [--rounds 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

import torch

from benchmarks.measure import seconds_per_call
from mnist_tui.config import resolve_config
from mnist_tui.data.augment import AffineAugment
from mnist_tui.data.files import is_installed
from mnist_tui.data.specs import DATASETS
from mnist_tui.models.architectures import build_model
from mnist_tui.models.ema import ModelEMA
from mnist_tui.train.devices import autocast, resolve_precision
from mnist_tui.train.loop import build_optimizer

MEAN, STD = 0.1307, 0.3081


def training_batch(root: Path, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of real MNIST when installed (else noise of the same shape)."""
    if is_installed(root, DATASETS["mnist"]):
        from mnist_tui.data.tensors import load_data

        data = load_data(root, "mnist", 5000, 0, torch.device("cpu"))
        return data.train.images[:batch_size], data.train.labels[:batch_size]
    return torch.randn(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="training steps per timing")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    config = resolve_config(None, {"preset": "best"})
    images, labels = training_batch(args.root, config.batch_size)
    model = build_model(config.model)
    cpu = torch.device("cpu")
    precision = resolve_precision(config.precision, cpu)  # what the preset trains in here
    optimizer = build_optimizer(config, model)
    ema = ModelEMA(model, config.ema)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    background = (0 - MEAN) / STD
    affine = AffineAugment(
        config.augment_rotate, config.augment_scale, config.augment_shift, background
    )
    # The elastic variant: the preset's own field, or Simard et al.'s strength if it has none.
    elastic = dataclasses.replace(
        affine,
        elastic_alpha=config.augment_elastic or 34.0,
        elastic_sigma=config.augment_elastic_sigma,
    )
    variants = {"none": None, "affine": affine, "affine+elastic": elastic}

    def step(augment: AffineAugment | None) -> None:
        batch = augment(images) if augment is not None else images
        with autocast(cpu, precision):
            loss = criterion(model(batch).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(model)

    model.train()
    seconds_per_call(lambda: step(elastic), 3)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, augment in variants.items():
            times[name].append(seconds_per_call(lambda a=augment: step(a), args.steps))
    print(
        f"{config.model} ({precision}), batch {config.batch_size}, {args.threads} thread(s), "
        f"{args.rounds} rounds of {args.steps} steps; elastic alpha {elastic.elastic_alpha:g} "
        f"sigma {elastic.elastic_sigma:g}"
    )
    plain_median = statistics.median(times["none"])
    print(f"step without augmentation: {plain_median * 1000:.1f} ms (median)")
    for name in ("affine", "affine+elastic"):
        augment = variants[name]
        alone = seconds_per_call(lambda a=augment: a(images), args.steps * 3)
        # Ratios within each round: other load on a shared machine hits both alike.
        ratio = statistics.median(a / b for a, b in zip(times[name], times["none"], strict=True))
        print(
            f"{name}: step {statistics.median(times[name]) * 1000:.1f} ms, augmentation alone "
            f"{alone * 1000:.2f} ms per batch ({alone / plain_median:.1%} of a step); "
            f"epoch-cost ratio with/without: {ratio:.3f} (median of rounds)"
        )


if __name__ == "__main__":
    main()
