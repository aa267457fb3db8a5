"""A small, learnable, MNIST-shaped dataset for tests that need no network.

Digits 0-9 are drawn with Pillow's built-in font at random sizes, positions, stroke
widths and small rotations, then blurred and noised, and written as the four IDX files
(with an MD5SUMS manifest) exactly where `mnist` reads MNIST from. A small CNN learns
it to well above 90% in a couple of epochs, so tests can assert that training learns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mnist_tui.data.files import encode_idx, install_files
from mnist_tui.data.specs import DATASETS


def render_digit(digit: int, rng: np.random.Generator) -> np.ndarray:
    """One 28x28 uint8 image of `digit`: light ink on black, like MNIST."""
    size = int(rng.integers(22, 30))
    font = ImageFont.load_default(size=size)
    canvas = Image.new("L", (56, 56), 0)
    draw = ImageDraw.Draw(canvas)
    stroke = int(rng.integers(0, 2))
    draw.text(
        (28, 28), str(digit), fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255
    )
    canvas = canvas.rotate(float(rng.uniform(-8, 8)), resample=Image.BILINEAR)
    canvas = canvas.filter(ImageFilter.GaussianBlur(0.6))
    dx, dy = rng.integers(-3, 4, size=2)
    box = (14 - dx, 14 - dy, 42 - dx, 42 - dy)
    image = np.asarray(canvas.crop(box), dtype=np.float32)
    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = np.stack([render_digit(int(d), rng) for d in labels])
    return images, labels


def write_synthetic_mnist(root: Path, n_train: int = 4000, n_test: int = 600) -> Path:
    """Write a synthetic dataset under `root` as `--dataset mnist`; returns its folder."""
    train_x, train_y = make_split(n_train, seed=1)
    test_x, test_y = make_split(n_test, seed=2)
    contents = {
        "train-images": encode_idx(train_x),
        "train-labels": encode_idx(train_y),
        "test-images": encode_idx(test_x),
        "test-labels": encode_idx(test_y),
    }
    return install_files(Path(root), DATASETS["mnist"], contents)
