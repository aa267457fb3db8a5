"""heatmap.py: terminal heatmaps rendered at a fixed width, with and without colour."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.console import Console

from mnist_tui.ui.heatmap import (
    DIVERGING_RAMP,
    GREY_RAMP,
    HALF_BLOCK,
    Heatmap,
    HeatmapGrid,
    Legend,
    Tile,
)


def render(renderable: object, *, color: bool, width: int = 80) -> str:
    console = Console(
        width=width,
        color_system="truecolor" if color else None,
        force_terminal=color,
        record=True,
        file=io.StringIO(),
    )
    console.print(renderable)
    return console.export_text(styles=color)


def plain_lines(renderable: object, width: int = 80) -> list[str]:
    return render(renderable, color=False, width=width).splitlines()


def test_grey_ramp_maps_zero_to_blank_and_one_to_densest() -> None:
    lines = plain_lines(Heatmap([[0.0, 1.0], [0.5, 2.0]]))
    # Ramp mode: each value two characters wide, one line high.
    assert lines == [f"  {GREY_RAMP[-1] * 2}", f"{GREY_RAMP[5] * 2}{GREY_RAMP[-1] * 2}"]


def test_diverging_ramp_is_centred_on_zero() -> None:
    lines = plain_lines(Heatmap([[-2.0, 0.0, 2.0, 1.0]], "diverging"))
    middle = DIVERGING_RAMP[len(DIVERGING_RAMP) // 2]
    assert middle == " "
    assert lines[0][0:2] == DIVERGING_RAMP[0] * 2
    assert lines[0][2:4] == middle * 2
    assert lines[0][4:6] == DIVERGING_RAMP[-1] * 2
    # +1 of a +-2 scale sits halfway between 0 and the top of the ramp.
    assert lines[0][6] == DIVERGING_RAMP[len(DIVERGING_RAMP) * 3 // 4]


def test_shared_scale_comes_from_vmin_vmax() -> None:
    alone = Heatmap([[1.0]], "diverging")
    shared = Heatmap([[1.0]], "diverging", vmin=-4.0, vmax=2.0)
    assert (alone.vmin, alone.vmax) == (-1.0, 1.0)
    assert (shared.vmin, shared.vmax) == (-4.0, 4.0)
    assert plain_lines(shared)[0] != plain_lines(alone)[0]


def test_colour_mode_uses_half_blocks_with_two_values_per_cell() -> None:
    heatmap = Heatmap(np.eye(4), scale=1)
    assert len(plain_lines(heatmap)) == 4  # ramp: one line per row
    text = render(heatmap, color=True)
    assert len(text.splitlines()) == 2  # colour: two rows per line
    assert text.count(HALF_BLOCK) == 8
    # White over black on the first cell: the upper value is 1, the lower 0.
    assert "38;2;255;255;255;48;2;0;0;0m" in text


def test_colour_mode_odd_rows_leave_last_lower_half_empty() -> None:
    console = Console(width=80, color_system="truecolor", force_terminal=True)
    lines = Heatmap(np.ones((3, 2)), scale=1).lines("color")
    assert len(lines) == 2
    assert lines[-1][0].style.bgcolor is None
    assert lines[0][0].style.bgcolor is not None
    assert Heatmap(np.ones((3, 2))).resolved_mode(console) == "color"


def test_no_color_console_falls_back_to_ramp() -> None:
    console = Console(width=80, color_system="truecolor", force_terminal=True, no_color=True)
    assert Heatmap([[1.0]]).resolved_mode(console) == "ramp"
    dumb = Console(width=80, color_system=None)
    assert Heatmap([[1.0]]).resolved_mode(dumb) == "ramp"


def test_scale_enlarges_each_value() -> None:
    heatmap = Heatmap(np.zeros((3, 3)), "diverging", scale=4)
    assert heatmap.size("color") == (12, 6)
    assert heatmap.size("ramp") == (12, 6)
    assert len(heatmap.lines("ramp")) == 6
    assert len(heatmap.lines("color")) == 6


def test_not_finite_values_are_marked() -> None:
    lines = plain_lines(Heatmap([[float("nan"), 0.5]]))
    assert lines[0].startswith("??")


@pytest.mark.parametrize("bad", [[], [1.0, 2.0], [[[1.0]]]])
def test_non_2d_input_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="2-D"):
        Heatmap(bad)


def test_unknown_palette_is_refused() -> None:
    with pytest.raises(ValueError, match="palette"):
        Heatmap([[1.0]], "rainbow")  # type: ignore[arg-type]


def test_grid_fits_the_console_width() -> None:
    tiles = [
        Tile(f"ch {i}", Heatmap(np.full((3, 3), i - 4.0), "diverging", scale=2)) for i in range(9)
    ]
    wide = plain_lines(HeatmapGrid(tiles), width=80)
    narrow = plain_lines(HeatmapGrid(tiles), width=20)
    assert max(len(line) for line in wide) <= 80
    assert max(len(line) for line in narrow) <= 20
    # Tiles are 6 wide with a gap of 2: 10 fit in 80 (all 9 on one row), 2 fit in 20.
    assert wide[0].split() == [w for i in range(9) for w in ("ch", str(i))]
    assert narrow[0].split() == ["ch", "0", "ch", "1"]
    labels = [line for line in narrow if line.startswith("ch")]
    assert len(labels) == 5  # 9 tiles, 2 per row


def test_grid_label_lines_and_tile_alignment() -> None:
    tiles = [
        Tile("ch 0\n-1/+1", Heatmap([[-1.0, 1.0]], "diverging")),
        Tile("ch 1\n-2/+2", Heatmap([[2.0, -2.0]], "diverging")),
    ]
    lines = plain_lines(HeatmapGrid(tiles, padding=1), width=40)
    assert lines[0].rstrip() == "ch 0  ch 1"
    assert lines[1].rstrip() == "-1/+1 -2/+2"
    hi, lo = DIVERGING_RAMP[-1], DIVERGING_RAMP[0]
    assert lines[2].rstrip() == f"{lo * 2}{hi * 2}  {hi * 2}{lo * 2}"


def test_legend_shows_ends_and_meaning() -> None:
    lines = plain_lines(Legend("diverging", -0.5, 0.25, width=7))
    assert lines[0] == f"-0.5 [{DIVERGING_RAMP}] +0.5"
    assert "most negative" in lines[1]
    coloured = render(Legend("diverging", -0.5, 0.25), color=True)
    assert "negative" in coloured and "\u2588" in coloured
    assert plain_lines(Legend("grey", 0.0, 1.0, width=10))[0].startswith("0 [ ")


# --- issue 20, defect 11: palettes read as intended at 256 and 16 colours --------------------

_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _drawn_colors(renderable: object, system: str) -> list[tuple[int, int, int]]:
    """The RGB a terminal of that colour system shows for each foreground colour used."""
    from rich.color import Color

    console = Console(
        file=io.StringIO(),
        color_system=system,
        force_terminal=True,
        width=120,  # type: ignore[arg-type]
    )
    console.print(renderable)
    colors = []
    for params in _SGR.findall(console.file.getvalue()):
        codes = [int(c) for c in params.split(";") if c]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code == 48:  # a background colour: 48;5;N or 48;2;R;G;B
                i += 3 if codes[i + 1] == 5 else 5
                continue
            if code == 38 and codes[i + 1] == 5:
                colors.append(Color.from_ansi(codes[i + 2]).get_truecolor())
                i += 3
                continue
            if code == 38 and codes[i + 1] == 2:
                colors.append(tuple(codes[i + 2 : i + 5]))
                i += 5
                continue
            if 30 <= code <= 37 or 90 <= code <= 97:
                colors.append(
                    Color.from_ansi(code - 30 if code < 90 else code - 82).get_truecolor()
                )
            i += 1
    return [tuple(c) for c in colors]


def _hue_saturation(color: tuple[int, int, int]) -> tuple[float, float]:
    import colorsys

    hue, _, saturation = colorsys.rgb_to_hls(*(c / 255 for c in color))
    return hue * 360, saturation


def _is_blue(color: tuple[int, int, int]) -> bool:
    hue, saturation = _hue_saturation(color)
    return 205 <= hue <= 250 and saturation >= 0.4


def _is_red(color: tuple[int, int, int]) -> bool:
    hue, saturation = _hue_saturation(color)
    return (hue >= 345 or hue <= 15) and saturation >= 0.4


@pytest.mark.parametrize("system", ["truecolor", "256", "standard"])
def test_diverging_reads_blue_and_red_in_every_colour_system(system):
    negative = _drawn_colors(
        Heatmap(np.linspace(-1, -0.15, 12)[None, :].repeat(2, 0), "diverging", vmin=-1, vmax=1),
        system,
    )
    positive = _drawn_colors(
        Heatmap(np.linspace(0.15, 1, 12)[None, :].repeat(2, 0), "diverging", vmin=-1, vmax=1),
        system,
    )
    assert len(negative) == len(positive) == 12
    for color in negative:  # blue, not teal (180 degrees)
        assert _is_blue(color), (system, color)
    for color in positive:  # red, not brown (30-40 degrees)
        assert _is_red(color), (system, color)
    # Larger magnitudes are never drawn darker than smaller ones.
    assert [sum(c) for c in negative] == sorted([sum(c) for c in negative], reverse=True)
    assert [sum(c) for c in positive] == sorted([sum(c) for c in positive])


@pytest.mark.parametrize("system", ["256", "standard"])
def test_grey_and_legends_stay_grey_blue_red(system):
    greys = _drawn_colors(Heatmap(np.linspace(0, 1, 16)[None, :].repeat(2, 0), "grey"), system)
    assert greys and all(r == g == b for r, g, b in greys), greys
    assert len({c for c in greys}) >= (4 if system == "standard" else 12)
    bar = _drawn_colors(Legend("diverging", -1, 1, width=21, mode="color"), system)
    left, right = bar[:8], bar[-8:]
    assert all(_is_blue(c) for c in left), left
    assert all(_is_red(c) for c in right), right
