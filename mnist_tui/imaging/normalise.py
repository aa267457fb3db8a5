"""One digit's ink -> the 28x28 input MNIST would have made of it.

MNIST's digits were size-normalised into a 20x20 box (aspect kept, anti-aliased) and
centred by centre of mass in a 28x28 field; their strokes are about 2-3 pixels wide
there (median 2.6). A pen line photographed large shrinks to faint dots at that scale,
and a marker on a small digit swells into a blob; so when the stroke width would land
far outside MNIST's range, the stroke is redrawn: the digit's skeleton (scikit-image),
drawn again with a round pen of MNIST's width at four times the final resolution, then
averaged down (anti-aliasing).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FIELD = 28  # side of the model input
BOX = 20  # MNIST fitted each digit's bounding box into 20x20 inside the 28x28 field
TARGET_STROKE = 2.6  # MNIST's median stroke width at the 20-pixel box
STROKE_RANGE = (1.6, 9.0)  # widths (at the box) left as drawn: MNIST has 1.4-5.5 (1-99%);
# a skeleton of a very thick stroke loses small loops (a bold 6 turns into a 0), so only
# a real blob is redrawn on the thick side
SUPERSAMPLE = 4  # the pen redraws the skeleton at 4x the final resolution
NATIVE = 28  # crops no larger than this are MNIST-sized already: never redrawn
# Share of the ink mass that may lie outside the crop on each side: isolated specks of
# noise must not stretch the bounding box.
TRIM_MASS = 0.003


def ink_bounds(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), bottom/right exclusive, holding all but specks of ink."""

    def span(mass: np.ndarray) -> tuple[int, int]:
        cumulative = np.cumsum(mass) / mass.sum()
        start = int(np.searchsorted(cumulative, TRIM_MASS, side="right"))
        end = int(np.searchsorted(cumulative, 1.0 - TRIM_MASS, side="left")) + 1
        return start, max(end, start + 1)

    top, bottom = span(ink.sum(axis=1))
    left, right = span(ink.sum(axis=0))
    return top, bottom, left, right


def crop_to_ink(ink: np.ndarray, margin: float = 0.1) -> tuple[np.ndarray, int]:
    """Crop to the ink's bounding box plus a margin: (crop, margin in pixels).

    The margin (share of the box's longer side, at least 1 px) keeps the anti-aliased
    edges of the strokes for the resize; pixels outside the box are set to 0 so stray
    specks cannot reappear. Only the box is copied: the result is bounded by the ink.
    """
    top, bottom, left, right = ink_bounds(ink)
    pad = max(1, round(margin * max(bottom - top, right - left)))
    crop = np.zeros((bottom - top + 2 * pad, right - left + 2 * pad), dtype=np.float32)
    crop[pad:-pad, pad:-pad] = ink[top:bottom, left:right]
    return crop, pad


def fit_into_box(crop: np.ndarray, margin: int = 0, box: int = BOX) -> np.ndarray:
    """Scale so the ink (the crop less its margin) is `box` pixels on its longer side.

    Aspect ratio kept; anti-aliased (Lanczos over float pixels) like MNIST's own size
    normalisation. The margin is scaled along, so the result may exceed `box` a little.
    """
    height, width = crop.shape
    scale = box / max(height - 2 * margin, width - 2 * margin, 1)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(crop.astype(np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def centre_of_mass(ink: np.ndarray) -> tuple[float, float]:
    """(row, column) of the ink's centre of mass, in pixel-index coordinates."""
    total = float(ink.sum())
    rows, cols = np.indices(ink.shape)
    return float((rows * ink).sum() / total), float((cols * ink).sum() / total)


def place_by_centre_of_mass(digit: np.ndarray, field: int = FIELD) -> np.ndarray:
    """Place into a field x field canvas so the centre of mass sits at its centre.

    Whole-pixel shifts, as MNIST did; anything shifted past the edge is cut off.
    """
    canvas = np.zeros((field, field), dtype=np.float32)
    row, col = centre_of_mass(digit)
    # MNIST's digits have their centre of mass at (14, 14) in index coordinates.
    centre = field / 2
    top = round(centre - row)
    left = round(centre - col)
    height, width = digit.shape
    src_top, src_left = max(0, -top), max(0, -left)
    dst_top, dst_left = max(0, top), max(0, left)
    rows = min(height - src_top, field - dst_top)
    cols = min(width - src_left, field - dst_left)
    if rows > 0 and cols > 0:
        canvas[dst_top : dst_top + rows, dst_left : dst_left + cols] = digit[
            src_top : src_top + rows, src_left : src_left + cols
        ]
    return canvas


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels: ink area over skeleton length."""
    from skimage.morphology import skeletonize

    return float(mask.sum()) / max(int(skeletonize(mask).sum()), 1)


def box_stroke(mask: np.ndarray) -> float:
    """The stroke width the digit would have once its longer side is BOX pixels."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0.0
    side = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    return stroke_width(mask) * BOX / side


def needs_new_stroke(mask: np.ndarray) -> bool:
    """True when the pen is far thinner or thicker than MNIST's at the box's scale."""
    if max(mask.shape) <= NATIVE:
        return False
    low, high = STROKE_RANGE
    return not low <= box_stroke(mask) <= high


def redraw_stroke(mask: np.ndarray, width: float = TARGET_STROKE) -> np.ndarray:
    """The digit's skeleton drawn again with a round pen `width` pixels wide at the box.

    Returns float ink (0..1) at BOX resolution, anti-aliased by averaging SUPERSAMPLE^2
    samples per pixel; the pen's width is included in the box, as in MNIST.
    """
    from skimage.measure import block_reduce
    from skimage.morphology import dilation, disk, skeletonize

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    mask = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    radius = max(1, round(width * SUPERSAMPLE / 2))
    inner = BOX * SUPERSAMPLE - 2 * radius  # the skeleton's box: the pen adds its radius
    scale = inner / max(mask.shape)
    size = (max(1, round(mask.shape[1] * scale)), max(1, round(mask.shape[0] * scale)))
    resized = np.asarray(
        Image.fromarray(mask.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX)
    )
    # A thin line shrunk a lot covers little of each pixel: keep it, relative to the most.
    big = resized >= 0.5 * min(1.0, float(resized.max()))
    skeleton = np.pad(skeletonize(big), radius + SUPERSAMPLE)
    pen = dilation(skeleton, disk(radius)).astype(np.float32)
    # Pad to a multiple of the sampling so block averages line up.
    extra = [(-s) % SUPERSAMPLE for s in pen.shape]
    pen = np.pad(pen, ((0, extra[0]), (0, extra[1])))
    return block_reduce(pen, (SUPERSAMPLE, SUPERSAMPLE), np.mean).astype(np.float32)


def normalise(ink: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clean crop, 28x28 field) for one digit's ink and mask (same shape, light on dark).

    The clean crop is what is fitted into the box: the ink as photographed, or its
    redrawn stroke; the field is the model's input, 0..1.
    """
    clean = redraw_stroke(mask) if needs_new_stroke(mask) else ink
    if float(clean.sum()) <= 0.0:
        clean = ink
    if float(clean.sum()) <= 0.0:
        return clean, np.zeros((FIELD, FIELD), dtype=np.float32)
    digit = fit_into_box(*crop_to_ink(clean))
    return clean, place_by_centre_of_mass(digit)
