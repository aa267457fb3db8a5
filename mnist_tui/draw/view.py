"""Rich renderables for `mnist draw`'s panels, from plain data (numpy, floats, strings).

Colour draws grey half blocks (two pixels per character cell); NO_COLOR draws the same
half blocks in one colour, ink where a pixel is past a threshold, so the shapes keep
their double vertical resolution without any colour.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.console import Group, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from mnist_tui.inspect.view import heatmap_tiles, symmetric_limit
from mnist_tui.predict.view import bar
from mnist_tui.ui.heatmap import HALF_BLOCK, HeatmapGrid, Legend, Mode

#: Ink at or above this level is drawn as ink without colour.
MONO_THRESHOLD = 0.35
#: Quantisation of grey levels: styles are cached per (upper, lower) pair.
LEVELS = 32
BAR_WIDTH = 10
LABEL_WIDTH = 6  # longer class names (Fashion-MNIST's) are cut to fit the panel
CURSOR_STYLE = Style(color="black", bgcolor="yellow", bold=True)  # the keyboard pen


def _grey(level: int) -> Color:
    v = round(255 * level / (LEVELS - 1))
    return Color.from_rgb(v, v, v)


@lru_cache(maxsize=LEVELS * LEVELS)
def _grey_cell(upper: int, lower: int) -> Segment:
    """One cell of two grey levels. The character follows the ink (space, upper or lower
    half, full block), so a capture of the screen without colours still shows the shape."""
    if upper == lower:
        return Segment("█" if upper else " ", Style(color=_grey(upper), bgcolor=_grey(lower)))
    if upper > lower:
        return Segment(HALF_BLOCK, Style(color=_grey(upper), bgcolor=_grey(lower)))
    return Segment("▄", Style(color=_grey(lower), bgcolor=_grey(upper)))


def _mono_char(upper: bool, lower: bool) -> str:
    return "█" if upper and lower else HALF_BLOCK if upper else "▄" if lower else " "


def half_block_row(upper: np.ndarray, lower: np.ndarray | None, color: bool) -> list[Segment]:
    """One character row from two pixel rows (0..1): grey half blocks or one-colour ones."""
    if lower is None:
        lower = np.zeros_like(upper)
    if not color:
        text = "".join(
            _mono_char(bool(u >= MONO_THRESHOLD), bool(v >= MONO_THRESHOLD))
            for u, v in zip(upper, lower, strict=True)
        )
        return [Segment(text, Style())]  # a style, even empty: Textual's filters expect one
    top = np.clip(np.round(upper * (LEVELS - 1)), 0, LEVELS - 1).astype(int)
    bottom = np.clip(np.round(lower * (LEVELS - 1)), 0, LEVELS - 1).astype(int)
    cells = [_grey_cell(int(u), int(v)) for u, v in zip(top, bottom, strict=True)]
    return list(Segment.simplify(cells))  # runs of one cell (the dark background) merged


def probability_bars(
    classes: list[str], probabilities: np.ndarray | None, width: int = BAR_WIDTH
) -> Text:
    """One line per class: label, bar, percentage; the most likely class in bold.

    Plain Text rather than a Table: it is redrawn on every mouse move.
    """
    best = int(np.argmax(probabilities)) if probabilities is not None else -1
    label_width = min(LABEL_WIDTH, max(len(c) for c in classes))
    text = Text()
    for i, name in enumerate(classes):
        p = float(probabilities[i]) if probabilities is not None else 0.0
        style = "bold" if i == best else ""
        text.append(name[:label_width].rjust(label_width) + " ", style)
        drawn = bar(p, width)
        text.append_text(drawn)
        text.append(" " * (width - drawn.cell_len))
        text.append("" if probabilities is None else f" {p:4.0%}", style)
        if i < len(classes) - 1:
            text.append("\n")
    return text


def verdict_text(label: str, probability: float, unsure: bool, blank: bool) -> Text:
    """The line beside the big digit: its probability and, when unsure, the mark."""
    if blank:
        return Text("draw a digit", style="dim")
    text = Text.assemble(("reads ", ""), (label, "bold"), f"  {probability:.0%}")
    if unsure:
        text.append("\n? unsure", style="bold yellow")
    else:
        text.append("\n  sure", style="dim")
    return text


def pool(maps: np.ndarray, factor: int) -> np.ndarray:
    """Average factor x factor blocks of (C, H, W) maps (edges padded with the edge)."""
    if factor <= 1:
        return maps
    c, h, w = maps.shape
    ph, pw = math.ceil(h / factor) * factor, math.ceil(w / factor) * factor
    padded = np.pad(maps, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")
    return padded.reshape(c, ph // factor, factor, pw // factor, factor).mean(axis=(2, 4))


def pool_factor(count: int, height: int, width: int, room: tuple[int, int], color: bool) -> int:
    """The smallest block average that lets `count` tiles of (height, width) values fit
    in `room` (width, height) cells; 4 at most (smaller maps show nothing)."""
    room_width, room_height = room
    for factor in (1, 2, 3, 4):
        h, w = math.ceil(height / factor), math.ceil(width / factor)
        tile_width, tile_height = (w, math.ceil(h / 2)) if color else (2 * w, h)
        per_row = max(1, (room_width + 2) // (tile_width + 2))
        rows = math.ceil(count / per_row)
        if rows * (tile_height + 2) <= room_height:
            return factor
    return 4


def maps_view(
    maps: np.ndarray | None, layer: str, room: tuple[int, int], mode: Mode, note: str = ""
) -> RenderableType:
    """The first conv layer's feature maps for the drawing, as `mnist inspect` draws them."""
    if note:
        return Text(note, style="dim")
    if maps is None or maps.ndim != 3:
        return Text(f"{layer}: draw a digit to see its feature maps", style="dim")
    count, height, width = maps.shape
    factor = pool_factor(count, height, width, (room[0], room[1] - 3), mode == "color")
    shown = pool(maps, factor)
    limit = symmetric_limit(list(shown))
    scaled = f", {factor}x{factor} averaged" if factor > 1 else ""
    title = f"{layer}: {count} feature maps {height}x{width}{scaled}"
    tiles = heatmap_tiles(list(shown), [str(i) for i in range(count)], limit, mode, compact=True)
    return Group(
        Text(title, style="bold"),
        HeatmapGrid(tiles),
        Legend("diverging", -limit, limit, mode=mode),
    )
