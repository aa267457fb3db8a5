"""Greyscale photo of paper -> ink: polarity, the paper's own brightness, paper lines, a mask.

Phone photos light the page unevenly (a shadow over one corner, a brighter centre), so
one global level cannot tell ink from paper. Here the paper's brightness is estimated
at a large scale (a high percentile of each of about 16x16 blocks, smoothed and
interpolated back), and the ink is measured *relative to the paper around it*:
``(paper - grey) / paper``, 0 on paper and near 1 for black ink whatever the light.
Ruled and squared paper lines (long, thin, faint, nearly horizontal or vertical) are
found by a grey-level opening along the line and taken out. The ink mask is then a
hysteresis threshold whose strong level comes from Otsu's method (scikit-image), so a
faint edge joins its stroke but faint noise alone never becomes ink.

Every array here is at most the working size (load.WORK_SIDE): bounded time and memory.
"""

from __future__ import annotations

import math

import numpy as np

from mnist_tui.errors import ImageError

# Blocks across the longer side for the paper estimate: large enough that a pen stroke
# never fills a block, small enough to follow a shadow's gradient.
PAPER_BLOCKS = 16
FLATTEN_FROM = 64  # images this large judge polarity against a local, not global, level
MIN_BLOCK = 6  # pixels: tiny images still get several values per block
PAPER_PERCENTILE = 90  # paper is the bright majority of a block
# Ink must differ from the paper by at least this much (relative), otherwise the image
# is called blank instead of amplifying noise into a "digit".
MIN_CONTRAST = 0.08
DARK_PAPER = 0.1  # paper darker than this (on 0..1) holds no readable ink
# Noise in robust standard deviations that still counts as paper.
NOISE_SIGMAS = 3.0
# A paper line crosses (nearly) the whole image: a digit's own bar never spans this
# share of it (MNIST's 20-pixel box is 71% of its 28-pixel field).
LINE_SPAN = 0.85
LINE_TILT_DEGREES = 1.5  # photos are rarely held straighter than this


def border(grey: np.ndarray) -> np.ndarray:
    """The pixels along the four edges (where paper, not ink, usually is)."""
    width = max(1, min(grey.shape) // 20)
    return np.concatenate(
        [
            grey[:width].ravel(),
            grey[-width:].ravel(),
            grey[:, :width].ravel(),
            grey[:, -width:].ravel(),
        ]
    )


def background_level(grey: np.ndarray) -> tuple[float, float]:
    """(level, noise): the border's median and its robust standard deviation."""
    edge = border(grey)
    level = float(np.median(edge))
    noise = 1.4826 * float(np.median(np.abs(edge - level)))
    return level, noise


def needs_inversion(grey: np.ndarray) -> bool:
    """True when the ink is darker than the background (pen on paper).

    Ink is what departs furthest from the background: whichever side (darker or
    lighter) reaches further decides. A 3x3 average first takes single noisy pixels out
    of the race (a pen stroke is wider than that). On larger images the background is
    the local median at a coarse scale (4x4 blocks), so that a light gradient across a
    page is not taken for ink; small images (crops of one digit, MNIST's own) use the
    border's level.
    """
    from scipy import ndimage

    values = grey.astype(np.float32)
    if min(grey.shape) >= FLATTEN_FROM:
        background = block_level(values, 50, 4)
        level = float(np.median(background))
    else:
        level, _ = background_level(grey)
        background = level
    deviation = ndimage.uniform_filter(values - background, 3, mode="nearest")
    darker, lighter = -float(deviation.min()), float(deviation.max())
    if max(darker, lighter) <= 1e-6:
        return level > 0.5
    return darker > lighter


def block_level(values: np.ndarray, percentile: float, blocks: int) -> np.ndarray:
    """A percentile of each of about blocks x blocks tiles, smoothed, at full size."""
    from PIL import Image
    from scipy import ndimage

    height, width = values.shape
    small = values
    if min(height, width) >= 16 * blocks:
        small = np.asarray(Image.fromarray(values, mode="F").reduce(4), dtype=np.float32)
    h, w = small.shape
    side = max(MIN_BLOCK, math.ceil(max(h, w) / blocks))
    rows, cols = math.ceil(h / side), math.ceil(w / side)
    padded = np.pad(small, ((0, rows * side - h), (0, cols * side - w)), mode="edge")
    tiles = padded.reshape(rows, side, cols, side).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    grid = np.percentile(tiles, percentile, axis=-1).astype(np.float32)
    if min(rows, cols) >= 3:
        grid = ndimage.median_filter(grid, size=3, mode="nearest")
    # Each grid value is its block's centre; the padded grid spans the padded image, so
    # resizing it to the padded size (in original pixels) and cutting the padding aligns.
    scale = height / h
    full = (round(cols * side * scale), round(rows * side * scale))
    level = Image.fromarray(grid, mode="F").resize(full, Image.Resampling.BILINEAR)
    level = np.asarray(level, dtype=np.float32)[:height, :width]
    if level.shape != values.shape:  # rounding: pad with the edge values
        level = np.pad(
            level,
            ((0, height - level.shape[0]), (0, width - level.shape[1])),
            mode="edge",
        )
    return level


def paper_level(paper_light: np.ndarray) -> np.ndarray:
    """The paper's brightness at each pixel, estimated at a large scale.

    `paper_light` has light paper and dark ink. Each block's 90th percentile is the
    paper there; a 3x3 median over blocks overrules a block the ink filled; bilinear
    interpolation brings the grid back to full size. Large images are first averaged
    down (4x4): the estimate is coarse anyway, and that keeps it cheap. Small images
    (a crop of one digit, MNIST's own 28x28) have no light to even out: their paper is
    the border's level, so a thick stroke filling a block is never taken for paper.
    """
    if min(paper_light.shape) < FLATTEN_FROM:
        level, _ = background_level(paper_light)
        return np.full(paper_light.shape, level, dtype=np.float32)
    return block_level(paper_light, PAPER_PERCENTILE, PAPER_BLOCKS)


def relative_ink(paper_light: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Ink strength relative to the local paper: 0 on paper, 1 for black ink."""
    return np.clip((paper - paper_light) / np.maximum(paper, 0.05), 0.0, 1.0).astype(np.float32)


def noise_level(ink: np.ndarray) -> float:
    """Robust standard deviation of the (mostly paper) ink image, from a subsample."""
    step = max(1, int(math.sqrt(ink.size / 250_000)))
    sample = ink[::step, ::step]
    centre = float(np.median(sample))
    return 1.4826 * float(np.median(np.abs(sample - centre)))


def line_strength(ink: np.ndarray, axis: int) -> np.ndarray:
    """How much of each pixel's ink belongs to a paper line along `axis` (1: horizontal).

    A line spans LINE_SPAN of the image; a tilt up to LINE_TILT_DEGREES is tolerated by
    first widening the ink across the line by the drift such a tilt makes over that span.
    """
    from scipy import ndimage
    from skimage.morphology import opening

    span = ink.shape[axis]
    length = int(LINE_SPAN * span) | 1  # odd: an even footprint is padded and no longer separable
    if length < 24:  # an image this small is a crop of one digit, not a page
        return np.zeros_like(ink)
    drift = max(1, round(length * math.tan(math.radians(LINE_TILT_DEGREES))))
    band = ndimage.maximum_filter1d(ink, 2 * drift + 1, axis=1 - axis)
    footprint = np.ones((1, length) if axis == 1 else (length, 1), dtype=bool)
    return opening(band, footprint)


def _max_pool(values: np.ndarray, factor: int) -> np.ndarray:
    """Maxima of factor x factor blocks (the ragged edge dropped)."""
    if factor == 1:
        return values
    h, w = (values.shape[0] // factor) * factor, (values.shape[1] // factor) * factor
    blocks = values[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.max(axis=(1, 3))


def remove_lines(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ink without ruled/squared paper lines, the lines found).

    Where a pen stroke crosses a line it is much darker than the line: it keeps its full
    strength; the line's own pixels (and faint edges next to it) go to 0. Large images
    are searched at half size (2x2 maxima keep a thin line whole), then expanded back.
    """
    # Lines are searched at about 350 pixels on the short side: block maxima keep a
    # thin line whole, and the openings cost a fraction of full size.
    factor = max(1, min(ink.shape) // 350)
    coarse = _max_pool(ink, factor)
    lines = np.maximum(line_strength(coarse, 1), line_strength(coarse, 0))
    if factor > 1:
        lines = np.repeat(np.repeat(lines, factor, axis=0), factor, axis=1)
        extra = (ink.shape[0] - lines.shape[0], ink.shape[1] - lines.shape[1])
        lines = np.pad(lines, ((0, extra[0]), (0, extra[1])), mode="edge")
    if not lines.any():
        return ink, lines
    cleaned = np.where(ink > 2.0 * lines, ink, np.clip(ink - lines, 0.0, None))
    return cleaned.astype(np.float32), lines


def ink_mask(ink: np.ndarray, source: str = "image") -> tuple[np.ndarray, float]:
    """(mask of ink pixels, noise floor): hysteresis between Otsu's level and half of it.

    Raises ImageError when nothing stands out from the paper.
    """
    from skimage.filters import apply_hysteresis_threshold, threshold_otsu

    floor = NOISE_SIGMAS * noise_level(ink)
    peak = float(ink.max(initial=0.0))
    if peak < MIN_CONTRAST or peak <= floor:
        raise no_digit(source)
    candidates = ink[ink > floor]
    strong = float(threshold_otsu(candidates)) if np.ptp(candidates) > 0 else peak
    # Strictly below the peak: the hysteresis keeps values *above* its levels.
    strong = min(max(strong, floor, MIN_CONTRAST), peak * 0.999)
    weak = max(floor, 0.5 * strong)
    return apply_hysteresis_threshold(ink, weak, strong), floor


def no_digit(source: str) -> ImageError:
    return ImageError(
        f"{source}: no digit found (the image is blank or has too little contrast). "
        "Give an image with dark or light digits on a plain background."
    )
