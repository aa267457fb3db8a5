"""Turn 28x28 MNIST-style digits into "real-world" image files nobody here drew.

Each case mimics a way a digit reaches `mnist predict` from outside:

- `jpeg`: dark ink on white paper, scaled up to a few hundred pixels, placed off-centre
  on a larger page, saved as a lossy JPEG.
- `rgba`: dark ink on a transparent sheet (RGBA PNG; the transparent pixels' colour is
  black, as many editors leave it, so ignoring alpha would lose the digit).
- `low_contrast`: dark-grey ink on a mid-grey, noisy background, a little blurred.

Used by tests/test_realworld.py and by tools/realworld_accuracy.py (the figures in the
report). numpy and Pillow only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def _scaled(digit: np.ndarray, side: int) -> np.ndarray:
    """A 28x28 uint8 digit (light on dark) scaled to side x side, as floats 0..1."""
    image = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, dtype=np.float32) / 255.0, 0.0, 1.0)


def jpeg_case(digit: np.ndarray, path: Path, rng: np.random.Generator) -> Path:
    """Black ink on white, 200-320 px, off-centre on a 480x400 page, JPEG quality 80."""
    side = int(rng.integers(200, 321))
    ink = _scaled(digit, side)
    page = np.ones((400, 480), dtype=np.float32)
    top = int(rng.integers(0, 400 - side + 1))
    left = int(rng.integers(0, 480 - side + 1))
    page[top : top + side, left : left + side] = 1.0 - ink
    path = path.with_suffix(".jpg")
    Image.fromarray((page * 255).round().astype(np.uint8)).save(path, quality=80)
    return path


def rgba_case(digit: np.ndarray, path: Path, rng: np.random.Generator) -> Path:
    """Dark blue ink whose alpha is the stroke, on a transparent 256x256 sheet."""
    side = int(rng.integers(120, 200))
    ink = _scaled(digit, side)
    sheet = np.zeros((256, 256, 4), dtype=np.uint8)  # transparent *black*
    top = int(rng.integers(0, 256 - side + 1))
    left = int(rng.integers(0, 256 - side + 1))
    region = sheet[top : top + side, left : left + side]
    region[..., 0], region[..., 1], region[..., 2] = 20, 30, 90  # a dark blue pen
    region[..., 3] = (ink * 255).round().astype(np.uint8)
    path = path.with_suffix(".png")
    Image.fromarray(sheet, mode="RGBA").save(path)
    return path


def low_contrast_case(digit: np.ndarray, path: Path, rng: np.random.Generator) -> Path:
    """Ink 0.25 darker than a 0.6 grey background with noise (sd 0.03), 168 px, PNG."""
    side = 168
    ink = _scaled(digit, side)
    background = 0.6 + rng.normal(0.0, 0.03, size=(side + 40, side + 40)).astype(np.float32)
    background[20 : 20 + side, 20 : 20 + side] -= 0.25 * ink
    image = Image.fromarray((np.clip(background, 0, 1) * 255).round().astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(1.0))
    path = path.with_suffix(".png")
    image.save(path)
    return path


CASES: dict[str, Callable[[np.ndarray, Path, np.random.Generator], Path]] = {
    "jpeg": jpeg_case,
    "rgba": rgba_case,
    "low_contrast": low_contrast_case,
}


def write_case(
    case: str, digits: np.ndarray, labels: np.ndarray, folder: Path, seed: int = 0
) -> list[tuple[Path, int]]:
    """Write one file per digit for `case` into `folder`: [(path, true label)]."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    make = CASES[case]
    return [
        (make(digit, folder / f"{case}-{i:05d}-label{int(label)}", rng), int(label))
        for i, (digit, label) in enumerate(zip(digits, labels, strict=True))
    ]
