"""Property-based: whatever bytes or image arrive, preprocessing gives a valid 1x28x28
tensor or raises the tool's own ImageError, never anything else."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_tui.errors import ImageError
from mnist_tui.imaging import prepare as imaging

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"RIFF"]
MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "I", "I;16", "F", "CMYK", "YCbCr", "La", "PA"]
FORMATS = ["PNG", "BMP", "GIF", "TIFF", "JPEG", "WEBP", "PPM", "ICO", "TGA"]
_names = itertools.count()


def _assert_valid_or_image_error(prepare) -> None:
    try:
        digit = prepare()
    except ImageError as e:
        assert str(e).strip() and "\n" not in str(e)
        return
    tensor = torch.from_numpy(digit.normalized())
    assert tensor.shape == (1, 28, 28) and tensor.dtype == torch.float32
    assert torch.isfinite(tensor).all()
    assert digit.pixels.min() >= 0.0 and digit.pixels.max() <= 1.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _file(folder: Path, data: bytes, suffix: str) -> Path:
    path = folder / f"input-{next(_names)}{suffix}"
    path.write_bytes(data)
    return path


@FUZZ
@given(
    magic=st.sampled_from(MAGIC),
    body=st.binary(max_size=4096),
    suffix=st.sampled_from([".png", ".jpg", ".bmp", ".gif", ".tif", ".webp", ""]),
)
def test_random_bytes_are_an_image_error_or_a_digit(folder, magic, body, suffix):
    path = _file(folder, magic + body, suffix)
    _assert_valid_or_image_error(lambda: imaging.prepare_digit(path))


@st.composite
def images(draw: st.DrawFn) -> Image.Image:
    mode = draw(st.sampled_from(MODES))
    width = draw(st.integers(1, 80))
    height = draw(st.integers(1, 80))
    content = draw(st.sampled_from(["noise", "flat", "stroke", "extreme"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    grey = np.zeros((height, width), np.float32)
    if content == "noise":
        grey = rng.random((height, width), dtype=np.float32)
    elif content == "flat":
        grey[:] = draw(st.floats(0, 1))
    elif content == "stroke":
        grey[:] = 1.0
        grey[height // 4 : max(height // 4 + 1, 3 * height // 4), width // 2 :][:, :3] = 0.0
    else:
        grey[::2] = 1.0
    rgb = Image.fromarray((np.stack([grey] * 3, axis=-1) * 255).astype(np.uint8), "RGB")
    if mode in ("I", "I;16"):
        scale = draw(st.sampled_from([255, 65535]))
        return Image.fromarray((grey * scale).astype(np.int32)).convert(mode)
    if mode == "F":
        values = grey * draw(st.sampled_from([1.0, 255.0, 1e6, -5.0]))
        return Image.fromarray(values.astype(np.float32), "F")
    return rgb.convert(mode)


@FUZZ
@given(image=images())
def test_images_of_any_size_and_mode_in_memory(image):
    _assert_valid_or_image_error(lambda: imaging.prepare_image(image, name="fuzzed"))


@FUZZ
@given(image=images(), format=st.sampled_from(FORMATS), cut=st.none() | st.integers(0, 400))
def test_saved_images_whole_or_cut_short(folder, image, format, cut):
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=format)
    except (OSError, ValueError, KeyError, TypeError):
        reject()  # this format cannot hold this mode: nothing to test
    data = buffer.getvalue()
    path = _file(folder, data if cut is None else data[:cut], f".{format.lower()}")
    _assert_valid_or_image_error(lambda: imaging.prepare_digit(path))
