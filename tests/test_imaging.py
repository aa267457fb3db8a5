"""imaging.py: each preprocessing step on its own, then whole files of every kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import REAL_DATA, requires_real_mnist
from PIL import Image, ImageDraw

from mnist_tui.errors import ImageError
from mnist_tui.imaging import prepare as imaging


def stroke_digit(size: int = 28) -> np.ndarray:
    """A light '7'-like stroke on black, 0..1, off-centre and not square."""
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    s = size / 28
    draw.line(
        [(6 * s, 5 * s), (18 * s, 5 * s), (10 * s, 22 * s)], fill=255, width=max(1, round(2 * s))
    )
    return np.asarray(image, dtype=np.float32) / 255.0


# --- steps ----------------------------------------------------------------------------------


def test_greyscale_keeps_16_bit_range() -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    grey = imaging.to_greyscale(Image.fromarray(values))
    assert grey.dtype == np.float32
    np.testing.assert_allclose(grey, [[0.0, 0.5, 1.0]], atol=1e-3)


def test_greyscale_composites_dark_ink_on_transparent_black_onto_white() -> None:
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)  # transparent *black* background
    rgba[4:6, 2:8] = (0, 0, 80, 255)  # opaque dark blue ink
    grey = imaging.to_greyscale(Image.fromarray(rgba, mode="RGBA"))
    assert grey[0, 0] == pytest.approx(1.0)  # transparent -> paper, not black
    assert grey[5, 5] < 0.1


def test_greyscale_composites_light_ink_on_transparent_onto_black() -> None:
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[4:6, 2:8] = (255, 255, 255, 255)
    grey = imaging.to_greyscale(Image.fromarray(rgba, mode="RGBA"))
    assert grey[0, 0] == pytest.approx(0.0)
    assert grey[5, 5] == pytest.approx(1.0)


def test_greyscale_of_palette_image_uses_the_palette_colours() -> None:
    image = Image.fromarray((stroke_digit() * 255).astype(np.uint8)).convert("RGB").convert("P")
    grey = imaging.to_greyscale(image)
    assert np.abs(grey - stroke_digit()).max() < 0.05


@pytest.mark.parametrize(
    ("background", "ink", "expected"),
    [(1.0, 0.0, True), (0.0, 1.0, False), (0.6, 0.35, True), (0.3, 0.7, False)],
)
def test_polarity_is_judged_from_the_image(background: float, ink: float, expected: bool) -> None:
    grey = np.full((40, 40), background, dtype=np.float32)
    grey[10:30, 18:22] = ink
    assert imaging.needs_inversion(grey) is expected


def test_ink_is_measured_against_the_local_paper() -> None:
    """Under a strong light gradient the same pen reads as the same ink everywhere."""
    from mnist_tui.imaging import paper

    light = np.linspace(0.35, 0.95, 200, dtype=np.float32)[None, :].repeat(160, axis=0)
    grey = light.copy()
    grey[40:120, 30:36] *= 0.2  # one stroke in the dim half
    grey[40:120, 160:166] *= 0.2  # the same stroke in the bright half
    level = paper.paper_level(grey)
    ink = paper.relative_ink(grey, level)
    assert ink[60:100, 31:35].mean() == pytest.approx(ink[60:100, 161:165].mean(), abs=0.1)
    assert ink[60:100, 31:35].mean() > 0.6
    assert ink[:, 80:120].max() < 0.08  # the gradient itself is paper, not ink


def test_ruled_lines_are_not_ink_but_a_stroke_across_them_is() -> None:
    from mnist_tui.imaging import paper

    ink = np.zeros((300, 400), np.float32)
    for row in range(20, 300, 50):
        ink[row : row + 2, :] = 0.3  # faint ruled lines across the page
    ink[60:200, 200:205] = 0.9  # a pen stroke crossing two of them
    cleaned, lines = paper.remove_lines(ink)
    assert cleaned[120:122, :150].max() < 0.05  # the line away from the stroke is gone
    assert cleaned[120:122, 200:205].min() > 0.8  # the stroke keeps its ink on the line
    assert lines[120:122, :150].min() > 0.2


def test_crop_to_ink_keeps_a_margin_and_ignores_a_speck() -> None:
    ink = np.zeros((100, 100), dtype=np.float32)
    ink[30:70, 40:50] = 1.0
    ink[2, 97] = 0.5  # a speck of noise far away
    crop, pad = imaging.crop_to_ink(ink, margin=0.1)
    assert pad == 4
    assert crop.shape == (40 + 2 * pad, 10 + 2 * pad)
    assert crop.sum() == pytest.approx(400.0)


def test_fit_into_box_keeps_aspect_ratio() -> None:
    crop = np.zeros((84, 44), dtype=np.float32)  # 80x40 of ink plus a 2-px margin
    crop[2:82, 2:42] = 1.0
    fitted = imaging.fit_into_box(crop, margin=2, box=20)
    assert fitted.shape == (21, 11)  # the ink is 20 high, 10 wide
    assert fitted.min() >= 0.0 and fitted.max() <= 1.0


def test_place_by_centre_of_mass_centres_the_mass() -> None:
    digit = np.zeros((20, 12), dtype=np.float32)
    digit[0:5, :] = 1.0  # mass in the top rows
    field = imaging.place_by_centre_of_mass(digit)
    assert field.shape == (28, 28)
    row, col = imaging.centre_of_mass(field)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5
    assert field.sum() == pytest.approx(digit.sum())


@requires_real_mnist
def test_real_mnist_digits_are_a_fixed_point() -> None:
    """MNIST's own digits (box-fitted to 20, centred by mass) come out as they went in."""
    from mnist_tui.data.files import parse_idx, raw_dir
    from mnist_tui.data.specs import DATASETS

    folder = raw_dir(REAL_DATA, DATASETS["mnist"])
    digits = parse_idx((folder / "t10k-images-idx3-ubyte").read_bytes())[:200]
    differences = [
        np.abs(imaging.prepare_image(Image.fromarray(d)).pixels - d / 255.0).mean() for d in digits
    ]
    assert np.mean(differences) < 0.005


def test_size_and_position_do_not_change_the_result() -> None:
    small = imaging.prepare_image(Image.fromarray((stroke_digit(56) * 255).astype(np.uint8)))
    page = np.zeros((300, 260), dtype=np.float32)
    page[120:260, 20:160] = stroke_digit(140)  # 2.5x larger, far off-centre
    large = imaging.prepare_image(Image.fromarray((page * 255).astype(np.uint8)))
    # Both are centred to the nearest whole pixel, so they may sit a pixel or two apart;
    # the shape must be the same.
    best = max(
        np.corrcoef(np.roll(small.pixels, (dy, dx), axis=(0, 1)).ravel(), large.pixels.ravel())[
            0, 1
        ]
        for dy in range(-2, 3)
        for dx in range(-2, 3)
    )
    assert best > 0.9
    for prepared in (small, large):
        row, col = imaging.centre_of_mass(prepared.pixels)
        assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5


def test_normalized_matches_training_normalisation() -> None:
    prepared = imaging.prepare_image(Image.fromarray((stroke_digit() * 255).astype(np.uint8)))
    normalized = prepared.normalized()
    assert normalized.shape == (1, 28, 28) and normalized.dtype == np.float32
    np.testing.assert_allclose(normalized[0], (prepared.pixels - 0.1307) / 0.3081, rtol=1e-6)
    assert prepared.pixels.min() >= 0.0 and prepared.pixels.max() <= 1.0


def test_invert_override_wins_over_the_judgement() -> None:
    paper = Image.fromarray(((1 - stroke_digit(112)) * 255).astype(np.uint8))
    judged = imaging.prepare_image(paper)
    assert judged.inverted
    forced = imaging.prepare_image(paper, invert=True)
    assert forced.inverted and np.array_equal(forced.pixels, judged.pixels)
    # Forced the wrong way, the white paper is the "background" and nothing stands out.
    with pytest.raises(ImageError, match="no digit found"):
        imaging.prepare_image(paper, invert=False)


# --- whole files ----------------------------------------------------------------------------


def paper_image(size: int = 120) -> Image.Image:
    """Dark ink on white paper, the usual photo/drawing."""
    return Image.fromarray(((1 - stroke_digit(size)) * 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [
        (".png", "L"),
        (".png", "RGB"),
        (".png", "RGBA"),
        (".png", "P"),
        (".png", "LA"),
        (".png", "1"),
        (".jpg", "RGB"),
        (".bmp", "RGB"),
        (".gif", "P"),
        (".tif", "L"),
        (".webp", "RGB"),
    ],
)
def test_formats_and_modes_give_the_same_digit(tmp_path: Path, suffix: str, mode: str) -> None:
    reference = imaging.prepare_image(paper_image()).pixels
    path = tmp_path / f"digit-{mode}{suffix}"
    paper_image().convert(mode).save(path)
    prepared = imaging.prepare_digit(path)
    assert prepared.inverted
    assert np.abs(prepared.pixels - reference).mean() < 0.03


def test_16_bit_png(tmp_path: Path) -> None:
    values = ((1 - stroke_digit(120)) * 65535).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    reference = imaging.prepare_image(paper_image()).pixels
    assert np.abs(imaging.prepare_digit(path).pixels - reference).mean() < 0.03


def test_animated_gif_uses_the_first_frame(tmp_path: Path) -> None:
    blank = Image.new("L", (120, 120), 255)
    path = tmp_path / "anim.gif"
    paper_image().save(path, save_all=True, append_images=[blank, blank])
    assert imaging.prepare_digit(path).pixels.sum() > 10


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.mkdir(), p)[1], "is a folder"),
        (lambda p: (p.write_bytes(b""), p)[1], "is empty"),
        (lambda p: (p.write_text("hello, not an image"), p)[1], "not an image"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "input.png")
    with pytest.raises(ImageError, match=message) as raised:
        imaging.prepare_digit(path)
    assert str(path) in str(raised.value)


def test_truncated_file_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    paper_image(300).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageError, match=r"cut\.png"):
        imaging.prepare_digit(path)


def test_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("1", (8000, 6000), 1).save(path)  # 48 megapixels, tiny on disk
    with pytest.raises(ImageError, match="too large"):
        imaging.load_image(path)


def test_blank_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "white.png"
    Image.new("L", (64, 64), 255).save(path)
    with pytest.raises(ImageError, match=r"white\.png: no digit found"):
        imaging.prepare_digit(path)


def test_phone_photos_are_turned_upright_by_their_exif_orientation(tmp_path: Path) -> None:
    # Stored 40 wide and 20 high with a dark block at the stored left edge, tagged
    # Orientation 6 ("rotate 90 degrees clockwise to show"), as phones save portrait shots.
    stored = np.full((20, 40), 255, dtype=np.uint8)
    stored[:, :8] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    shown = np.asarray(imaging.load_image(path).convert("L"))
    assert shown.shape == (40, 20)  # upright: 20 wide, 40 high
    assert shown[:8].mean() < 60 and shown[10:].mean() > 200  # the block is now at the top
    # Without the tag nothing turns.
    Image.fromarray(stored).save(tmp_path / "plain.jpg", quality=95)
    assert np.asarray(imaging.load_image(tmp_path / "plain.jpg")).shape == (20, 40)
