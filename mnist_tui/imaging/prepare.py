"""Any image file -> the 28x28 input MNIST would have made of it.

Stable API (other modules rely on it):

- ``load_image(path) -> PIL.Image.Image``: open and decode one file (first frame of an
  animation), or raise ``ImageError`` naming the file.
- ``prepare_digit(path, invert=None) -> PreparedDigit``: the whole pipeline for a file.
- ``prepare_image(image, invert=None, name="image") -> PreparedDigit``: the same for an
  image already in memory.
- ``PreparedDigit.pixels``: 28x28 float32 numpy array in 0..1, light ink on dark like
  MNIST; ``PreparedDigit.normalized(mean=MNIST_MEAN, std=MNIST_STD)``: 1x28x28 float32
  numpy array normalised as in training; ``PreparedDigit.inverted``: whether the image
  was dark-on-light and got inverted.

The pipeline, one small function per step (each tested on its own):
``to_greyscale`` -> ``needs_inversion`` -> ``remove_background`` -> ``crop_to_ink`` ->
``fit_into_box`` (20x20, aspect kept) -> ``place_by_centre_of_mass`` (28x28).
This mirrors how MNIST itself was made: digits size-normalised into a 20x20 box with
anti-aliasing, then centred by centre of mass in a 28x28 field.

numpy and Pillow only (no torch): preview and tests stay light.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from mnist_tui.data.specs import DATASETS, standardise
from mnist_tui.errors import ImageError, brief
from mnist_tui.fsutil import check_regular, describe_os_error

#: MNIST's statistics, for models that carry none (an untrained model, a bare export).
MNIST_MEAN = DATASETS["mnist"].mean
MNIST_STD = DATASETS["mnist"].std
FIELD = 28  # side of the model input
BOX = 20  # MNIST fitted each digit's bounding box into 20x20 inside the 28x28 field
# Larger images are refused before decoding: 40 megapixels is a big photo; more is
# likely a decompression bomb and would cost gigabytes of memory.
MAX_PIXELS = 40_000_000
# Ink must differ from the background by at least this much (on a 0..1 scale),
# otherwise the image is called blank instead of amplifying noise into a "digit".
MIN_CONTRAST = 0.08
# Background noise above the background level, in robust standard deviations, that
# still counts as background.
NOISE_SIGMAS = 3.0
# Share of the ink mass that may lie outside the crop on each side: isolated specks of
# noise must not stretch the bounding box.
TRIM_MASS = 0.003


@dataclass(frozen=True)
class PreparedDigit:
    """A digit as the model sees it, before normalisation."""

    pixels: np.ndarray  # 28x28 float32, 0..1, light ink on dark
    inverted: bool  # True when the source was dark ink on light paper
    source: str = "image"

    def normalized(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> np.ndarray:
        """1x28x28 float32, normalised with the training mean/std."""
        return standardise(self.pixels, mean, std).astype(np.float32)[None, :, :]


def load_image(path: str | Path) -> Image.Image:
    """Open and decode an image file (first frame), or raise ImageError naming it."""
    path = Path(path)
    try:
        check_regular(path)  # a FIFO or device would block Pillow forever
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file. Check the path.") from None
    except IsADirectoryError:
        raise ImageError(f"{path} is a folder, not an image file.") from None
    except OSError as e:  # a FIFO, a name over 255 bytes, no permission
        raise ImageError(f"{path}: {describe_os_error(e)}.") from None
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes). Give a PNG, JPEG, BMP, GIF, TIFF or WebP.")
    try:
        with warnings.catch_warnings():
            # Pillow warns on stderr about odd metadata (corrupt EXIF...): the one line
            # users see is ours. A decompression bomb warning becomes an error.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{path} is too large ({width}x{height} pixels; the limit is "
                    f"{MAX_PIXELS // 1_000_000} megapixels). Scale it down first."
                )
            if width == 0 or height == 0:
                raise ImageError(f"{path} has no pixels ({width}x{height}).")
            frame = next(ImageSequence.Iterator(image))  # first frame of GIF/WebP/TIFF
            frame.load()
            return upright(frame)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            f"{path} is not an image Pillow can read. Give a PNG, JPEG, BMP, GIF, TIFF or WebP."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path} is too large to decode safely. Scale it down first.") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ImageError(f"{path} is damaged or truncated ({brief(e)}).") from None


def upright(image: Image.Image) -> Image.Image:
    """The image as it is meant to be seen: phones store photos sideways and say so in
    the EXIF Orientation tag. A tag Pillow cannot apply leaves the pixels as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):
        return image


def to_greyscale(image: Image.Image) -> np.ndarray:
    """Any mode -> 2-D float32 luminance in 0..1.

    16-bit images keep their full range; transparency is composited onto a background
    that contrasts with the opaque pixels (dark ink on a transparent sheet lands on
    white, light ink on black), so transparent areas always read as background.
    """
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 or image.mode != "I" else 255.0
        return np.clip(values / top, 0.0, 1.0).astype(np.float32)
    if image.mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        top = max(float(values.max(initial=0)), 1.0)
        return np.clip(values / top, 0.0, 1.0).astype(np.float32)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or ("transparency" in image.info)
    if not has_alpha:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    alpha = rgba[..., 3]
    coverage = float(alpha.sum())
    opaque_level = float((luminance * alpha).sum()) / coverage if coverage > 0 else 0.0
    background = 1.0 if opaque_level < 0.5 else 0.0
    return (luminance * alpha + background * (1.0 - alpha)).astype(np.float32)


def _border(grey: np.ndarray) -> np.ndarray:
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
    border = _border(grey)
    level = float(np.median(border))
    noise = 1.4826 * float(np.median(np.abs(border - level)))
    return level, noise


def needs_inversion(grey: np.ndarray) -> bool:
    """True when the ink is darker than the background (pen on paper).

    The ink is taken as the pixels furthest from the background level; whether they
    lie below or above it decides. A mid-grey background works either way.
    """
    level, _ = background_level(grey)
    deviation = grey.astype(np.float64) - level
    far = np.abs(deviation)
    threshold = np.quantile(far, 0.95)
    ink = deviation[far >= max(threshold, 1e-6)]
    if ink.size == 0:
        return level > 0.5
    return float(ink.mean()) < 0.0


def remove_background(ink_light: np.ndarray, source: str = "image") -> np.ndarray:
    """Light-on-dark image -> ink in 0..1 over a background of exactly 0.

    Subtracts the background level plus its noise; stretches the strongest ink to 1.
    Raises ImageError when nothing stands out from the background.
    """
    level, noise = background_level(ink_light)
    floor = level + NOISE_SIGMAS * noise
    peak = float(np.quantile(ink_light, 0.999)) if ink_light.size > 1000 else float(ink_light.max())
    if peak - level < MIN_CONTRAST or peak <= floor:
        raise ImageError(
            f"{source}: no digit found (the image is blank or has too little contrast). "
            "Give an image with one dark or light digit on a plain background."
        )
    return np.clip((ink_light - floor) / (peak - floor), 0.0, 1.0).astype(np.float32)


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
    specks cannot reappear.
    """
    top, bottom, left, right = ink_bounds(ink)
    pad = max(1, round(margin * max(bottom - top, right - left)))
    cleaned = np.zeros_like(ink)
    cleaned[top:bottom, left:right] = ink[top:bottom, left:right]
    return np.pad(cleaned, pad)[top : bottom + 2 * pad, left : right + 2 * pad], pad


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


def prepare_image(
    image: Image.Image, invert: bool | None = None, name: str = "image"
) -> PreparedDigit:
    """The MNIST pipeline for an image in memory; `invert=None` judges polarity."""
    try:
        grey = to_greyscale(image)
    except (ValueError, OSError) as e:  # a mode Pillow cannot convert, a lazy decode error
        raise ImageError(f"{name}: cannot read its pixels ({image.mode}: {e}).") from None
    inverted = needs_inversion(grey) if invert is None else invert
    ink_light = 1.0 - grey if inverted else grey
    ink = remove_background(ink_light, source=name)
    digit = fit_into_box(*crop_to_ink(ink))
    if float(digit.sum()) <= 0.0:
        raise ImageError(f"{name}: no digit found after cropping. Give a larger image.")
    pixels = place_by_centre_of_mass(digit)
    return PreparedDigit(pixels=pixels, inverted=bool(inverted), source=name)


def prepare_digit(path: str | Path, invert: bool | None = None) -> PreparedDigit:
    """The MNIST pipeline for an image file; errors are ImageErrors naming the file."""
    return prepare_image(load_image(path), invert=invert, name=str(path))
