"""Tensors for training: read once, normalised, kept on the device, batched by index.

No DataLoader and no per-sample transforms: the whole of MNIST is 47 MB as uint8, so
it is decoded once, moved to the training device and sliced with a seeded permutation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from mnist_tui.data.files import read_verified
from mnist_tui.data.specs import DatasetSpec, spec_for, standardise
from mnist_tui.errors import ConfigError


@dataclass
class Split:
    """Normalised images (N, 1, 28, 28) float32 and labels (N,) int64 on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class DataBundle:
    train: Split
    val: Split
    test: Split
    spec: DatasetSpec
    md5: dict[str, str]  # file key -> md5, recorded in config.toml


def read_raw(root: Path, name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Verify the installed files and return them as uint8/int64 tensors, plus md5s."""
    spec = spec_for(name)
    arrays, md5 = read_verified(root, spec)
    # read_verified checked shapes, dtypes and label range (data.files.check_arrays).
    tensors = {key: torch.from_numpy(array.copy()) for key, array in arrays.items()}
    return tensors, md5


def normalise(images_u8: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), scaled to [0, 1] then standardised."""
    return standardise(images_u8.float() / 255.0, mean, std).unsqueeze(1)


def split_indices(n: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (train, val) index split of n training images; same seed, same split."""
    if val_size >= n:
        raise ConfigError(
            f"--val-size {val_size} leaves no training images: the training set has {n}."
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    return order[val_size:].sort().values, order[:val_size].sort().values


def load_data(root: Path, name: str, val_size: int, seed: int, device: torch.device) -> DataBundle:
    """The train/val/test splits of a dataset, normalised, on `device`."""
    spec = spec_for(name)
    raw, md5 = read_raw(root, name)
    train_idx, val_idx = split_indices(len(raw["train-labels"]), val_size, seed)
    images = normalise(raw["train-images"], spec.mean, spec.std)
    labels = raw["train-labels"].long()
    test_images = normalise(raw["test-images"], spec.mean, spec.std)

    def on_device(x: torch.Tensor) -> torch.Tensor:
        return x.to(device, non_blocking=True)

    return DataBundle(
        train=Split(on_device(images[train_idx]), on_device(labels[train_idx])),
        val=Split(on_device(images[val_idx]), on_device(labels[val_idx])),
        test=Split(on_device(test_images), on_device(raw["test-labels"].long())),
        spec=spec,
        md5=md5,
    )


def batches(
    split: Split, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of `split`; shuffled by `generator` (seeded, CPU) when one is given."""
    n = len(split)
    if generator is None:
        for start in range(0, n, batch_size):
            yield split.images[start : start + batch_size], split.labels[start : start + batch_size]
        return
    order = torch.randperm(n, generator=generator).to(split.labels.device)
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        yield split.images[index], split.labels[index]
