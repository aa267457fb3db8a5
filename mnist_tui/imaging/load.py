"""File (or array) -> greyscale float array at a bounded working size.

Every shape this module makes is bounded before it is made: the header's size is
checked against MAX_PIXELS and MAX_ASPECT before any pixel is decoded, JPEGs are
decoded at a reduced scale (Pillow's draft mode), and the decoded image is reduced to at
most WORK_SIDE pixels on its longer side before it becomes floats. The rest of the
pipeline therefore never sees an array larger than WORK_SIDE x WORK_SIDE, whatever the
file (issue 24: a 229-byte 150000x1 PNG once cost 24 GB further down).

numpy and Pillow only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from mnist_tui.errors import ImageError, brief
from mnist_tui.fsutil import check_regular, describe_os_error

# Larger images are refused before decoding: 40 megapixels is a big photo; more is
# likely a decompression bomb and would cost gigabytes of memory.
MAX_PIXELS = 40_000_000
# A digit, or a number of a few digits, is never 50 times as wide as it is high: such
# a file is a line, not a photo, and refusing it keeps every later shape bounded.
MAX_ASPECT = 50
# Longer side of the working image. A phone photo (4000x3000) is worked on at 1600x1200:
# a 4 px ballpoint stroke is still 1.6 px there, a digit 1/20 of the page 80 px high.
WORK_SIDE = 1600

_FORMATS = "Give a PNG, JPEG, BMP, GIF, TIFF or WebP."


@dataclass(frozen=True)
class Grey:
    """A greyscale image in 0..1 at working size, and how it maps to the original."""

    pixels: np.ndarray  # 2-D float32, 0 black .. 1 white, at most WORK_SIDE per side
    scale: float  # original pixels per working pixel (1.0: not reduced)
    original_size: tuple[int, int]  # (width, height) of the upright original


def check_size(width: int, height: int, name: str) -> None:
    """Refuse sizes whose arrays would be empty, huge or absurdly thin."""
    if width <= 0 or height <= 0:
        raise ImageError(f"{name} has no pixels ({width}x{height}).")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name} is too large ({width}x{height} pixels; the limit is "
            f"{MAX_PIXELS // 1_000_000} megapixels). Scale it down first."
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(
            f"{name} is {width}x{height} pixels: a digit image may be at most {MAX_ASPECT} "
            "times as wide as it is high (or the reverse). Crop it to the digits first."
        )


def _open(path: Path) -> Image.Image:
    """Open lazily (header only) after checking the path; size checked, nothing decoded."""
    try:
        return _open_checked(path)
    except OSError as e:  # a name too long, a folder without permission...
        if isinstance(e, UnidentifiedImageError):
            raise
        raise ImageError(f"{path}: cannot be opened ({brief(e)}).") from None


def _open_checked(path: Path) -> Image.Image:
    try:
        check_regular(path)  # a FIFO or device would block Pillow forever
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file. Check the path.") from None
    except IsADirectoryError:
        raise ImageError(f"{path} is a folder, not an image file.") from None
    except OSError as e:  # a FIFO, a name over 255 bytes, no permission
        raise ImageError(f"{path}: {describe_os_error(e)}.") from None
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes). {_FORMATS}")
    image = Image.open(path)
    check_size(*image.size, str(path))
    return image


def _decode(path: str | Path, work_side: int | None) -> tuple[Image.Image, float, tuple[int, int]]:
    """Decode the first frame, upright; reduced towards work_side when given.

    Returns (image, scale, original upright size). All library failures become one
    ImageError naming the file.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Pillow warns on stderr about odd metadata (corrupt EXIF...): the one line
            # users see is ours. A decompression bomb warning becomes an error.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _open(path)
            width, height = image.size
            if work_side is not None and image.format == "JPEG":
                # JPEG decodes at 1/2, 1/4 or 1/8 scale almost for free: ask for the
                # power of two that brings the photo to the working size or just below.
                factor = 2 ** math.ceil(math.log2(max(1.0, max(width, height) / work_side)))
                if factor >= 2:
                    image.draft(image.mode, (math.ceil(width / factor), math.ceil(height / factor)))
            frame = next(ImageSequence.Iterator(image))  # first frame of GIF/WebP/TIFF
            frame.load()
            scale = width / frame.size[0]
            orientation = _orientation(image)
            original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
            if work_side is None:
                return upright(frame), scale, original
            # Reduce first, then turn: turning a full-size photo would copy all of it.
            frame, more = reduce_to(frame, work_side)
            if orientation in _TURNS:
                frame = frame.transpose(_TURNS[orientation])
            return frame, scale * more, original
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image Pillow can read. {_FORMATS}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path} is too large to decode safely. Scale it down first.") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ImageError(f"{path} is damaged or truncated ({brief(e)}).") from None


#: EXIF Orientation -> the turn that shows the photo upright (as ImageOps.exif_transpose).
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
        return int(value) if isinstance(value, int) else 1
    except Exception:  # any broken EXIF means "as stored"
        return 1


def load_image(path: str | Path) -> Image.Image:
    """Open and decode an image file (first frame, upright), or raise ImageError naming it."""
    return _decode(path, None)[0]


def upright(image: Image.Image) -> Image.Image:
    """The image as it is meant to be seen: phones store photos sideways and say so in
    the EXIF Orientation tag. A tag Pillow cannot apply leaves the pixels as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):
        return image


def reduce_to(image: Image.Image, work_side: int) -> tuple[Image.Image, float]:
    """Box-average the image down to at most work_side on its longer side: (image, factor).

    Modes that Pillow cannot reduce are first converted to one it can (a bounded copy).
    """
    factor = math.ceil(max(image.size) / work_side)
    if factor <= 1:
        return image, 1.0
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode.startswith("I;16"):
        image = image.convert("I")
    width = image.size[0]
    reduced = image.reduce(factor)
    return reduced, width / reduced.size[0]


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


def grey_from_image(image: Image.Image, name: str = "image", work_side: int = WORK_SIDE) -> Grey:
    """A decoded image in memory -> Grey at working size."""
    check_size(*image.size, name)
    original = image.size
    try:
        reduced, scale = reduce_to(image, work_side)
        pixels = to_greyscale(reduced)
    except (ValueError, OSError) as e:  # a mode Pillow cannot convert, a lazy decode error
        raise ImageError(f"{name}: cannot read its pixels ({image.mode}: {brief(e)}).") from None
    return Grey(pixels, scale, original)


def grey_from_array(values: np.ndarray, name: str = "image", work_side: int = WORK_SIDE) -> Grey:
    """A 2-D array (uint8 0..255, or floats 0..1) -> Grey at working size.

    This is how a canvas (`mnist draw`) enters the pipeline: no file, same bounds.
    """
    array = np.asarray(values)
    if array.ndim != 2:
        raise ImageError(f"{name}: expected a 2-D greyscale array, got shape {array.shape}.")
    check_size(array.shape[1], array.shape[0], name)
    if array.dtype == np.uint8:
        grey = array.astype(np.float32) / 255.0
    else:
        grey = np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)
    factor = math.ceil(max(grey.shape) / work_side)
    if factor > 1:
        image, scale = reduce_to(Image.fromarray(grey, mode="F"), work_side)
        return Grey(np.asarray(image, dtype=np.float32), scale, (array.shape[1], array.shape[0]))
    return Grey(grey, 1.0, (array.shape[1], array.shape[0]))


def read_grey(path: str | Path, work_side: int = WORK_SIDE) -> Grey:
    """An image file -> Grey at working size (the usual way in)."""
    image, scale, original = _decode(path, work_side)
    try:
        pixels = to_greyscale(image)
    except (ValueError, OSError) as e:
        raise ImageError(f"{path}: cannot read its pixels ({image.mode}: {brief(e)}).") from None
    return Grey(pixels, scale, original)
