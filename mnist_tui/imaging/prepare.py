"""Any image -> the 28x28 input(s) MNIST would have made of it.

The one entry point: ``prepare_digits(source, invert=None, single=False, name=None,
steps=False) -> Reading``, where `source` is an image file path, a Pillow image or a
2-D numpy array (uint8 0..255 or floats 0..1, as a drawing canvas holds). It returns
every digit found, left to right (`single=True`: the whole image as one digit).

Stable API kept for callers of one digit per image:

- ``prepare_digit(path, invert=None) -> PreparedDigit`` and ``prepare_image(image,
  invert=None, name="image") -> PreparedDigit``: the whole image as one digit.
- ``load_image(path) -> PIL.Image.Image``: open and decode one file, or ImageError.
- ``PreparedDigit.pixels``: 28x28 float32 in 0..1, light ink on dark like MNIST;
  ``.normalized(mean, std)``: 1x28x28 float32 as in training; ``.inverted``; ``.box``:
  (left, top, right, bottom) in the original image's pixels.

The stages, one module each (each small enough to read at once):
load.py (file -> grey at a bounded working size) -> paper.py (polarity, paper level,
ink relative to it, paper lines, ink mask) -> segment.py (components -> digits) ->
normalise.py (stroke width, 20x20 box, centre of mass in 28x28).

No torch here: preview, tests and `mnist draw` stay light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from mnist_tui.data.specs import DATASETS, standardise
from mnist_tui.errors import ImageError
from mnist_tui.imaging import paper as paper_stage
from mnist_tui.imaging.load import (
    MAX_ASPECT,
    MAX_PIXELS,
    WORK_SIDE,
    Grey,
    grey_from_array,
    grey_from_image,
    load_image,
    read_grey,
    to_greyscale,
    upright,
)
from mnist_tui.imaging.normalise import (
    BOX,
    FIELD,
    TRIM_MASS,
    centre_of_mass,
    crop_to_ink,
    fit_into_box,
    normalise,
    place_by_centre_of_mass,
)
from mnist_tui.imaging.paper import MIN_CONTRAST, NOISE_SIGMAS, needs_inversion
from mnist_tui.imaging.segment import Group, find_digits

__all__ = [
    "BOX",
    "FIELD",
    "MAX_ASPECT",
    "MAX_PIXELS",
    "MIN_CONTRAST",
    "MNIST_MEAN",
    "MNIST_STD",
    "NOISE_SIGMAS",
    "TRIM_MASS",
    "WORK_SIDE",
    "PreparedDigit",
    "Reading",
    "Step",
    "centre_of_mass",
    "crop_to_ink",
    "fit_into_box",
    "load_image",
    "needs_inversion",
    "place_by_centre_of_mass",
    "prepare_digit",
    "prepare_digits",
    "prepare_image",
    "to_greyscale",
    "upright",
]

#: MNIST's statistics, for models that carry none (an untrained model, a bare export).
MNIST_MEAN = DATASETS["mnist"].mean
MNIST_STD = DATASETS["mnist"].std
THUMBNAIL = 32  # longer side of a --steps picture, in pixels (one terminal cell each)
MAX_DIGITS = 16  # more separate marks than this is a page of text, not a number
EDGE = 2  # pixels (at least; a sixth of the digit's height) around a digit's mask whose
# faint ink (anti-aliasing) it keeps


@dataclass(frozen=True)
class PreparedDigit:
    """A digit as the model sees it, before normalisation."""

    pixels: np.ndarray  # 28x28 float32, 0..1, light ink on dark
    inverted: bool  # True when the source was dark ink on light paper
    source: str = "image"
    box: tuple[int, int, int, int] | None = None  # left, top, right, bottom (original px)
    cut: bool = False  # cut out of digits that touched
    touching: bool = False  # probably several touching digits that could not be split

    def normalized(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> np.ndarray:
        """1x28x28 float32, normalised with the training mean/std."""
        return standardise(self.pixels, mean, std).astype(np.float32)[None, :, :]


@dataclass(frozen=True)
class Step:
    """One stage of the preparation as a small picture (0..1, light ink on dark)."""

    name: str
    pixels: np.ndarray


@dataclass(frozen=True)
class Reading:
    """Every digit found in one image, left to right, and (when asked) the stages."""

    source: str
    digits: list[PreparedDigit]
    inverted: bool
    steps: list[Step] = field(default_factory=list)


Source = str | Path | Image.Image | np.ndarray


def _grey(source: Source, name: str) -> Grey:
    if isinstance(source, Image.Image):
        return grey_from_image(source, name)
    if isinstance(source, np.ndarray):
        return grey_from_array(source, name)
    return read_grey(source)


def prepare_digits(
    source: Source,
    invert: bool | None = None,
    single: bool = False,
    name: str | None = None,
    steps: bool = False,
) -> Reading:
    """The whole pipeline: image -> every digit in it, left to right.

    `invert=None` judges the polarity; `single=True` reads all the ink as one digit;
    `steps=True` also returns each stage as a small picture. Raises ImageError (one
    line, naming the image) for unreadable files and images without a digit.
    """
    name = name or (str(source) if isinstance(source, (str, Path)) else "image")
    grey = _grey(source, name)
    inverted = needs_inversion(grey.pixels) if invert is None else bool(invert)
    # paper_light: paper bright, ink dark, whichever way the image came.
    paper_light = grey.pixels if inverted else 1.0 - grey.pixels
    paper = paper_stage.paper_level(paper_light)
    if float(np.median(paper)) < paper_stage.DARK_PAPER:
        # Most of the image is dark "paper": nothing is darker than it, so no ink can be
        # told apart (or the polarity was forced the wrong way).
        raise paper_stage.no_digit(name)
    ink, _ = paper_stage.remove_lines(paper_stage.relative_ink(paper_light, paper))
    mask, floor = paper_stage.ink_mask(ink, name)
    labels, groups = find_digits(mask, ink, single=single)
    if len(groups) > MAX_DIGITS:
        raise ImageError(
            f"{name}: {len(groups)} separate marks found: more than a number of "
            f"{MAX_DIGITS} digits. Crop the photo to the digits, or use --single."
        )
    digits, crops = [], []
    for group in groups:
        prepared = _prepare_group(ink, labels, group, floor)
        if prepared is None:
            continue
        clean, pixels = prepared
        crops.append(clean)
        digits.append(
            PreparedDigit(
                pixels=pixels,
                inverted=inverted,
                source=name,
                box=_original_box(group, grey.scale),
                cut=group.cut,
                touching=group.touching,
            )
        )
    if not digits:
        raise paper_stage.no_digit(name)
    found = [] if not steps else _steps(grey.pixels, inverted, ink, labels, groups, crops, digits)
    return Reading(name, digits, inverted, found)


def _prepare_group(
    ink: np.ndarray, labels: np.ndarray, group: Group, floor: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """(clean crop, 28x28 pixels) of one group, or None when nothing is left of it."""
    from skimage.morphology import dilation, disk

    edge = min(max(EDGE, group.height // 6), 2 * EDGE)
    top, left = max(0, group.top - edge), max(0, group.left - edge)
    bottom = min(ink.shape[0], group.bottom + edge)
    right = min(ink.shape[1], group.right + edge)
    if group.cut:  # a cut part must not take its neighbour's ink across the cut
        left, right = group.left, group.right
    window = labels[top:bottom, left:right]
    mine = np.isin(window, group.labels)
    if group.cut:
        rows = slice(group.top - top, group.bottom - top)
        inside = np.zeros_like(mine)
        inside[rows] = True
        mine &= inside
    if not mine.any():
        return None
    # Faint edges next to this digit's strokes, never ink of another piece.
    near = dilation(mine, disk(edge)) & ((window == 0) | mine)
    values = np.where(near, ink[top:bottom, left:right], 0.0)
    peak = float(np.percentile(values[mine], 95))
    if peak <= floor:
        return None
    values = np.clip((values - floor) / (peak - floor), 0.0, 1.0).astype(np.float32)
    clean, pixels = normalise(values, mine)
    if float(pixels.sum()) <= 0.0:
        return None
    return clean, pixels


def _original_box(group: Group, scale: float) -> tuple[int, int, int, int]:
    return (
        math.floor(group.left * scale),
        math.floor(group.top * scale),
        math.ceil(group.right * scale),
        math.ceil(group.bottom * scale),
    )


def thumbnail(values: np.ndarray, pool=np.max, side: int = THUMBNAIL) -> np.ndarray:
    """A picture at most `side` pixels on its longer side (block max keeps thin strokes)."""
    from skimage.measure import block_reduce

    factor = max(1, math.ceil(max(values.shape) / side))
    if factor == 1:
        return values.astype(np.float32)
    return block_reduce(values.astype(np.float32), (factor, factor), pool).astype(np.float32)


def _steps(
    grey: np.ndarray,
    inverted: bool,
    ink: np.ndarray,
    labels: np.ndarray,
    groups: list[Group],
    crops: list[np.ndarray],
    digits: list[PreparedDigit],
) -> list[Step]:
    kept = np.isin(labels, [label for g in groups for label in g.labels])
    found = [
        # Block minima keep a thin dark pen visible in the small picture (maxima for
        # light ink).
        Step("grey", thumbnail(grey, np.min if inverted else np.max)),
        Step("paper removed", thumbnail(ink)),
        Step("ink found", thumbnail(kept.astype(np.float32))),
    ]
    many = len(digits) > 1
    for i, (crop, digit) in enumerate(zip(crops, digits, strict=True), start=1):
        prefix = f"digit {i}: " if many else ""
        found.append(Step(f"{prefix}cropped, stroke matched", thumbnail(crop)))
        found.append(Step(f"{prefix}28x28 input", digit.pixels))
    return found


def prepare_image(
    image: Image.Image, invert: bool | None = None, name: str = "image"
) -> PreparedDigit:
    """The whole image in memory as one digit; `invert=None` judges polarity."""
    return prepare_digits(image, invert=invert, single=True, name=name).digits[0]


def prepare_digit(path: str | Path, invert: bool | None = None) -> PreparedDigit:
    """The whole image file as one digit; errors are ImageErrors naming the file."""
    return prepare_digits(path, invert=invert, single=True, name=str(path)).digits[0]
