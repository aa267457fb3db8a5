"""Phone photos of handwriting nobody here wrote: test digits redrawn with a pen on paper.

Each digit (an MNIST test digit when the data is present, else a synthetic one) is
turned into a pen line: its skeleton, drawn again with a round pen of a chosen width at
the photo's scale. The pen writes on paper (white, yellowish or grey; plain, ruled or
squared), the page is lit unevenly or shadowed, the camera blurs and adds noise, and
the photo is saved as a JPEG. Numbers are 3-5 digits side by side with varied gaps.

Cases (name -> what a learner's photo has):

- `thin_pen_ruled`: a 3-5 px ballpoint line on ruled notebook paper, lines tilted up
  to 1 degree, the digit across a line.
- `thin_pen_squared`: the same on squared (grid) paper.
- `shadow`: a dark shadow with a soft edge over part of the page, light falling off.
- `small_on_page`: a thick digit 90-130 px high anywhere on a 2400x1800 page.
- `yellow_blue`: blue ink on yellowish or grey paper.
- `jpeg_heavy`: JPEG quality 35-50 of a pen digit.
- `number`: 3-5 digits side by side (gaps from a tenth to most of a digit's width),
  on lightly ruled or plain paper.

Used by tests/test_handwriting.py and scripts/realworld_accuracy.py. numpy, Pillow,
scikit-image (for the skeleton) only.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

WHITE = (245, 245, 240)
YELLOWISH = (240, 228, 175)
GREY = (185, 185, 180)
BLACK_INK = (25, 25, 30)
BLUE_INK = (30, 50, 150)
LINE_BLUE = (150, 180, 225)
LINE_GREY = (170, 170, 170)


def pen_coverage(digit: np.ndarray, height: int, pen: float) -> np.ndarray:
    """A 28x28 uint8 digit (light on dark) redrawn as a pen line: coverage 0..1.

    The output is height x height; the skeleton of the digit at that size is drawn with
    a round pen `pen` pixels wide, with a one-pixel soft edge.
    """
    from scipy import ndimage
    from skimage.morphology import skeletonize

    big = Image.fromarray(digit).resize((height, height), Image.Resampling.BILINEAR)
    values = np.asarray(big, dtype=np.float32)
    skeleton = skeletonize(values > 0.55 * values.max())
    distance = ndimage.distance_transform_edt(~skeleton)
    return np.clip(pen / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


@dataclass
class Page:
    """An RGB page being written on (floats 0..255) and its lighting."""

    rgb: np.ndarray

    @classmethod
    def blank(cls, width: int, height: int, colour: tuple[int, int, int]) -> Page:
        return cls(np.ones((height, width, 3), np.float32) * np.array(colour, np.float32))

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    def write(self, coverage: np.ndarray, top: int, left: int, colour) -> None:
        """Lay ink of `colour` with this coverage (multiplicative, like ink on paper)."""
        h, w = coverage.shape
        region = self.rgb[top : top + h, left : left + w]
        c = coverage[: region.shape[0], : region.shape[1], None]
        region[:] = region * (1 - c) + np.array(colour, np.float32) * c

    def lines(self, spacing: float, colour, width: int, rng, vertical: bool = False) -> None:
        """Ruled lines every `spacing` px, tilted a little, `width` px thick."""
        w, h = self.size
        tilt = np.tan(np.radians(rng.uniform(-1.0, 1.0)))
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        across, along = (xs, ys) if vertical else (ys, xs)
        position = (across - along * tilt - rng.uniform(0, spacing)) % spacing
        distance = np.minimum(position, spacing - position)
        coverage = np.clip(width / 2 + 0.5 - distance, 0, 1) * 0.8
        self.write_under(coverage, colour)

    def write_under(self, coverage: np.ndarray, colour) -> None:
        c = coverage[..., None]
        self.rgb[:] = self.rgb * (1 - c) + np.array(colour, np.float32) * c

    def light(self, rng, shadow: bool = False) -> None:
        """Uneven light: a gradient across the page, and optionally a soft-edged shadow."""
        w, h = self.size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xs / w + np.sin(angle) * ys / h + 1) / 2
        light = 1.0 - rng.uniform(0.1, 0.3) * ramp
        if shadow:
            # A straight shadow edge (a hand or a phone) across a corner or side.
            normal = rng.uniform(0, 2 * np.pi)
            offset = rng.uniform(0.25, 0.45)
            along = np.cos(normal) * (xs / w - 0.5) + np.sin(normal) * (ys / h - 0.5)
            softness = rng.uniform(0.02, 0.08)
            dark = 1 / (1 + np.exp(-(along - (0.5 - offset)) / softness))
            light *= 1.0 - rng.uniform(0.35, 0.55) * dark
        self.rgb *= light[..., None]

    def photo(self, rng, quality: int = 85) -> Image.Image:
        """Camera blur and noise, then JPEG at `quality` (decoded back)."""
        noisy = self.rgb + rng.normal(0, 3.0, self.rgb.shape).astype(np.float32)
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.9)))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        return Image.open(buffer)


def _place(page: Page, coverage: np.ndarray, rng, colour, margin: float = 0.05) -> None:
    w, h = page.size
    ch, cw = coverage.shape
    top = int(rng.integers(int(margin * h), max(int(margin * h) + 1, h - ch - int(margin * h))))
    left = int(rng.integers(int(margin * w), max(int(margin * w) + 1, w - cw - int(margin * w))))
    page.write(coverage, top, left, colour)


def thin_pen_ruled(digits: list[np.ndarray], rng) -> Image.Image:
    page = Page.blank(900, 700, WHITE)
    height = int(rng.integers(110, 170))
    page.lines(height * rng.uniform(0.6, 0.9), LINE_BLUE, int(rng.integers(2, 4)), rng)
    page.light(rng)
    ink = BLUE_INK if rng.random() < 0.5 else BLACK_INK
    _place(page, pen_coverage(digits[0], height, rng.uniform(3, 5)), rng, ink, margin=0.15)
    return page.photo(rng)


def thin_pen_squared(digits: list[np.ndarray], rng) -> Image.Image:
    page = Page.blank(900, 700, WHITE)
    height = int(rng.integers(110, 170))
    spacing = height * rng.uniform(0.3, 0.5)
    width = int(rng.integers(1, 3))
    page.lines(spacing, LINE_GREY, width, rng)
    page.lines(spacing, LINE_GREY, width, rng, vertical=True)
    page.light(rng)
    ink = BLUE_INK if rng.random() < 0.5 else BLACK_INK
    _place(page, pen_coverage(digits[0], height, rng.uniform(3, 5)), rng, ink, margin=0.15)
    return page.photo(rng)


def shadow(digits: list[np.ndarray], rng) -> Image.Image:
    page = Page.blank(1000, 800, WHITE)
    height = int(rng.integers(150, 300))
    _place(page, pen_coverage(digits[0], height, rng.uniform(5, 14)), rng, BLACK_INK, 0.1)
    page.light(rng, shadow=True)
    return page.photo(rng)


def small_on_page(digits: list[np.ndarray], rng) -> Image.Image:
    page = Page.blank(2400, 1800, WHITE)
    height = int(rng.integers(90, 131))
    _place(page, pen_coverage(digits[0], height, rng.uniform(8, 14)), rng, BLACK_INK, 0.02)
    page.light(rng)
    return page.photo(rng)


def yellow_blue(digits: list[np.ndarray], rng) -> Image.Image:
    page = Page.blank(800, 600, YELLOWISH if rng.random() < 0.5 else GREY)
    height = int(rng.integers(120, 250))
    _place(page, pen_coverage(digits[0], height, rng.uniform(4, 10)), rng, BLUE_INK, 0.1)
    page.light(rng)
    return page.photo(rng)


def jpeg_heavy(digits: list[np.ndarray], rng) -> Image.Image:
    page = Page.blank(640, 480, WHITE)
    height = int(rng.integers(100, 220))
    _place(page, pen_coverage(digits[0], height, rng.uniform(4, 9)), rng, BLACK_INK, 0.1)
    page.light(rng)
    return page.photo(rng, quality=int(rng.integers(35, 51)))


def number(digits: list[np.ndarray], rng) -> Image.Image:
    """3-5 digits in a row: their gaps vary from a tenth to most of a digit's width."""
    height = int(rng.integers(90, 150))
    pen = rng.uniform(4, 9)
    coverages = [pen_coverage(d, height, pen) for d in digits]
    # Crop each digit to its ink columns: gaps are measured between the inks.
    crops = []
    for c in coverages:
        cols = np.flatnonzero(c.max(axis=0) > 0.5)
        crops.append(c[:, cols[0] : cols[-1] + 1] if cols.size else c)
    gaps = [int(rng.uniform(0.1, 0.7) * height * 0.6) for _ in crops[1:]]
    total = sum(c.shape[1] for c in crops) + sum(gaps)
    page = Page.blank(total + 2 * int(rng.integers(60, 200)), height * 3, WHITE)
    if rng.random() < 0.5:
        page.lines(height * 1.2, LINE_BLUE, 2, rng)
    left = (page.size[0] - total) // 2
    top = height + int(rng.integers(-10, 11))
    ink = BLUE_INK if rng.random() < 0.5 else BLACK_INK
    for i, crop in enumerate(crops):
        page.write(crop, top + int(rng.integers(-6, 7)), left, ink)
        left += crop.shape[1] + (gaps[i] if i < len(gaps) else 0)
    page.light(rng)
    return page.photo(rng)


#: case name -> (how many digits it draws, how to draw them)
CASES: dict[
    str, tuple[tuple[int, int], Callable[[list[np.ndarray], np.random.Generator], Image.Image]]
] = {
    "thin_pen_ruled": ((1, 1), thin_pen_ruled),
    "thin_pen_squared": ((1, 1), thin_pen_squared),
    "shadow": ((1, 1), shadow),
    "small_on_page": ((1, 1), small_on_page),
    "yellow_blue": ((1, 1), yellow_blue),
    "jpeg_heavy": ((1, 1), jpeg_heavy),
    "number": ((3, 5), number),
}
SINGLE_CASES = [name for name, ((low, _), _) in CASES.items() if low == 1]


def make_case(
    case: str, images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> list[tuple[Image.Image, str]]:
    """`count` photos of `case`: [(image, the digits it shows)], digits taken in order."""
    rng = np.random.default_rng(seed)
    (low, high), draw = CASES[case]
    made, index = [], 0
    for _ in range(count):
        n = int(rng.integers(low, high + 1))
        chosen = [(index + k) % len(images) for k in range(n)]
        index += n
        truth = "".join(str(int(labels[i])) for i in chosen)
        made.append((draw([images[i] for i in chosen], rng), truth))
    return made


def write_case(
    case: str, images: np.ndarray, labels: np.ndarray, folder: Path, count: int, seed: int = 0
) -> list[tuple[Path, str]]:
    """Write `count` photos of `case` as JPEG files: [(path, the digits it shows)]."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (image, truth) in enumerate(make_case(case, images, labels, count, seed)):
        path = folder / f"{case}-{i:04d}-{truth}.jpg"
        image.save(path, quality=95)
        written.append((path, truth))
    return written
