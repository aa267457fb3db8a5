"""What each dataset is: file names, published md5s, classes, mean/std. Standard library.

The one home of each dataset's statistics, and of the normalisation that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mnist_tui.errors import DataError

SPLIT_FILES = ("train-images", "train-labels", "test-images", "test-labels")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives, what its files are called and what they must hash to."""

    name: str
    folder: str  # torchvision's folder name under the data root
    filenames: dict[str, str]  # split file key -> raw IDX file name
    md5: dict[str, str]  # split file key -> md5 of the uncompressed file
    classes: tuple[str, ...]
    mean: float
    std: float
    torchvision_class: str


_IDX_NAMES = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}

#: The size each IDX file must have: a 16-byte header + 60,000 or 10,000 28x28 images, an
#: 8-byte header + as many labels. MNIST and Fashion-MNIST share the shapes. Import never
#: reads a file (or decompresses a member) past this: a bomb costs no more than the real file.
IDX_SIZES = {
    "train-images": 16 + 60_000 * 28 * 28,
    "train-labels": 8 + 60_000,
    "test-images": 16 + 10_000 * 28 * 28,
    "test-labels": 8 + 10_000,
}

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        folder="MNIST",
        filenames=_IDX_NAMES,
        md5={
            "train-images": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels": "a25bea736e30d166cdddb491f175f624",
            "test-images": "2646ac647ad5339dbf082846283269ea",
            "test-labels": "27ae3e4e09519cfbb04c329615203637",
        },
        classes=tuple(str(d) for d in range(10)),
        mean=0.1307,
        std=0.3081,
        torchvision_class="MNIST",
    ),
    "fashion": DatasetSpec(
        name="fashion",
        folder="FashionMNIST",
        filenames=_IDX_NAMES,
        md5={
            "train-images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels": "9018921c3c673c538a1fc5bad174d6f9",
            "test-images": "8181f5470baa50b63fa0f6fddb340f0a",
            "test-labels": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mean=0.2860,
        std=0.3530,
        torchvision_class="FashionMNIST",
    ),
}


def standardise(pixels01: Any, mean: float, std: float) -> Any:
    """Pixels scaled to [0, 1] (numpy array or tensor) -> (pixel - mean) / std.

    The one normalisation: training, evaluation, predict, inspect and export all use it,
    with the mean and std of the dataset's spec above (the only place they are written).
    """
    return (pixels01 - mean) / std


def spec_for(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.") from None
