"""Terminal heatmaps: a 2-D grid of floats drawn as a Rich renderable.

Stable API (other modules build on it):

- `Heatmap(values, palette="grey" | "diverging", *, vmin=None, vmax=None, scale=1,
  mode="auto")`: a renderable. `values` is a 2-D list or numpy array of floats.
  - "grey": 0..1 (values outside are clipped), 0 black, 1 white: digit previews.
  - "diverging": signed values centred on 0, blue for negative, red for positive;
    the scale runs from -limit to +limit with limit = max(|vmin|, |vmax|)
    (default: the largest magnitude in the data). Pass the same vmin/vmax to
    several heatmaps to give them a shared scale.
  - `scale` repeats each value scale x scale times (a 3x3 kernel is tiny otherwise); in
    colour a value is `scale` cells wide and scale/2 high, in ramp mode it is rounded up
    to an even width so that values stay square. `size(mode)` says (width, height).
  - `mode`: "color" draws half-block characters (two values per character cell,
    upper one as foreground, lower one as background); "ramp" draws one ASCII
    character per value from a density ramp, for NO_COLOR, dumb terminals and
    pipes; "auto" picks "color" when the console has colour, else "ramp".
- `Legend(palette, vmin, vmax, *, width=24, mode="auto")`: the colour bar (or the
  ramp) with its end values and 0 marked, for the same palettes.
- `HeatmapGrid(tiles, *, padding=2)`: labelled tiles (`Tile(label, heatmap)`) laid
  out in as many columns as the console width allows.
- `uses_color(console)`: what "auto" resolves to on that console.
- Colours follow the console's colour system: exact RGB in truecolor; in 256 colours
  (tmux's default) and 16 colours, entries picked from those palettes, so blue stays
  blue and red red (Rich's nearest match would turn the blends teal and brown).

Plain data only (numpy at most): no torch here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

Palette = Literal["grey", "diverging"]
Mode = Literal["auto", "color", "ramp"]

PALETTES: tuple[str, ...] = ("grey", "diverging")

#: Grey ramp from 0 (background) to 1 (ink), as in MNIST: light ink on dark.
GREY_RAMP = " .:-=+*#%@"
#: Diverging ramp from -limit to +limit; the middle character (a space) is 0.
#: Negative values get horizontal strokes (= - ~), positive ones crossed strokes (+ * #).
DIVERGING_RAMP = "=-~ +*#"
#: Drawn where a value is NaN or infinite, in either mode.
NOT_FINITE_CHAR = "?"
NOT_FINITE_RGB = (255, 0, 255)

HALF_BLOCK = "\u2580"  # upper half block: foreground = upper value, background = lower

# Colour stops. Zero is dark so tiles read like MNIST digits on a dark terminal.
_ZERO_RGB = np.array([24, 24, 24], dtype=float)
_NEGATIVE_RGB = np.array([64, 140, 255], dtype=float)  # blue
_POSITIVE_RGB = np.array([255, 80, 48], dtype=float)  # red


#: Picked from xterm's 256 colours: pure blues and reds of rising lightness (the cube's
#: blue and red axes), not the nearest entry to each blend, which drifts to teal and brown.
_BLUES_256 = (17, 18, 19, 20, 21, 27, 33)
_REDS_256 = (52, 88, 124, 160, 196, 203, 210)
_ZERO_256 = 234
_GREYS_256 = (16, *range(232, 256), 231)  # black, the 24-step grey ramp, white
#: The 16 standard colours: blue and bright blue, red and bright red, four greys.
_BLUES_16 = (4, 12)
_REDS_16 = (1, 9)
_ZERO_16 = 0
_GREYS_16 = (0, 8, 7, 15)

ColorDepth = Literal["truecolor", "256", "standard"]


def color_depth(console: Console) -> ColorDepth:
    """The console's colour system as one of the three palettes drawn here."""
    system = console.color_system
    return system if system in ("truecolor", "256") else "standard"  # type: ignore[return-value]


def uses_color(console: Console) -> bool:
    """True when the console shows colour: a colour system and no NO_COLOR."""
    return console.color_system is not None and not console.no_color


def _as_grid(values: object) -> np.ndarray:
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[0] == 0 or grid.shape[1] == 0:
        raise ValueError(f"a heatmap needs a non-empty 2-D grid, got shape {grid.shape}")
    return grid


def _check_palette(palette: str) -> None:
    if palette not in PALETTES:
        raise ValueError(f"unknown palette {palette!r}; choose one of {', '.join(PALETTES)}")


def _finite_abs_max(grid: np.ndarray) -> float:
    finite = grid[np.isfinite(grid)]
    return float(np.abs(finite).max()) if finite.size else 0.0


@dataclass(frozen=True)
class Scale:
    """Maps values of one palette to positions 0..1 along its colour bar."""

    palette: Palette
    low: float
    high: float

    @classmethod
    def for_values(
        cls, palette: Palette, grid: np.ndarray, vmin: float | None, vmax: float | None
    ) -> Scale:
        _check_palette(palette)
        if palette == "grey":
            low = 0.0 if vmin is None else float(vmin)
            high = 1.0 if vmax is None else float(vmax)
            if high <= low:
                raise ValueError(f"grey palette needs vmin < vmax, got {low} and {high}")
            return cls(palette, low, high)
        # Diverging: symmetric around 0 so that 0 is always the middle colour.
        given = [abs(float(v)) for v in (vmin, vmax) if v is not None]
        limit = max(given) if given else _finite_abs_max(grid)
        if limit == 0.0 or not math.isfinite(limit):
            limit = 1.0  # an all-zero grid: draw it as zero rather than divide by 0
        return cls(palette, -limit, limit)

    def positions(self, grid: np.ndarray) -> np.ndarray:
        """Each value's place on the bar, 0..1 (NaN stays NaN)."""
        with np.errstate(invalid="ignore"):
            return np.clip((grid - self.low) / (self.high - self.low), 0.0, 1.0)


def _rgb(palette: Palette, position: float) -> tuple[int, int, int]:
    if not math.isfinite(position):
        return NOT_FINITE_RGB
    if palette == "grey":
        v = round(255 * position)
        return (v, v, v)
    signed = 2.0 * position - 1.0  # -1 .. 1
    end = _POSITIVE_RGB if signed >= 0 else _NEGATIVE_RGB
    # A gamma below 1 makes small weights visible instead of near-black.
    t = abs(signed) ** 0.7
    r, g, b = (_ZERO_RGB + (end - _ZERO_RGB) * t).round().astype(int)
    return (int(r), int(g), int(b))


def _color(palette: Palette, position: float, depth: ColorDepth = "truecolor") -> Color:
    """The colour of a position on the palette's bar, in the console's colour system."""
    if depth == "truecolor" or not math.isfinite(position):
        return Color.from_rgb(*_rgb(palette, position))
    eight_bit = depth == "256"
    if palette == "grey":
        greys = _GREYS_256 if eight_bit else _GREYS_16
        return Color.from_ansi(greys[round(position * (len(greys) - 1))])
    signed = 2.0 * position - 1.0
    if eight_bit:
        ramp, zero = (_REDS_256 if signed >= 0 else _BLUES_256), _ZERO_256
    else:
        ramp, zero = (_REDS_16 if signed >= 0 else _BLUES_16), _ZERO_16
    level = round(abs(signed) ** 0.7 * len(ramp))  # the same gamma as the RGB blend
    return Color.from_ansi(zero if level == 0 else ramp[level - 1])


def _ramp_char(palette: Palette, position: float) -> str:
    if not math.isfinite(position):
        return NOT_FINITE_CHAR
    ramp = GREY_RAMP if palette == "grey" else DIVERGING_RAMP
    return ramp[min(len(ramp) - 1, int(position * (len(ramp) - 1) + 0.5))]


def _color_lines(
    palette: Palette, positions: np.ndarray, depth: ColorDepth = "truecolor"
) -> list[list[Segment]]:
    """Half blocks: each character cell shows two vertically stacked values."""
    lines = []
    for top in range(0, positions.shape[0], 2):
        segments = []
        for col in range(positions.shape[1]):
            upper = _color(palette, positions[top, col], depth)
            if top + 1 < positions.shape[0]:
                lower = _color(palette, positions[top + 1, col], depth)
                style = Style(color=upper, bgcolor=lower)
            else:
                style = Style(color=upper)  # odd row count: the lower half stays empty
            segments.append(Segment(HALF_BLOCK, style))
        lines.append(segments)
    return lines


def _ramp_cell(scale: int) -> tuple[int, int]:
    """(width, height) of one value in ramp mode: a character cell is about twice as tall
    as it is wide, so a value is two characters wide per line to stay square."""
    rows = math.ceil(scale / 2)
    return 2 * rows, rows


def _ramp_lines(palette: Palette, positions: np.ndarray, scale: int) -> list[list[Segment]]:
    """One ramp character per value, repeated to the cell size of `scale`."""
    width, height = _ramp_cell(scale)
    lines = []
    for row in positions:
        text = "".join(_ramp_char(palette, p) * width for p in row)
        lines.extend([[Segment(text)]] * height)
    return lines


class Heatmap:
    """A 2-D grid of floats as coloured half blocks or an ASCII ramp (see module doc)."""

    def __init__(
        self,
        values: object,
        palette: Palette = "grey",
        *,
        vmin: float | None = None,
        vmax: float | None = None,
        scale: int = 1,
        mode: Mode = "auto",
    ) -> None:
        if scale < 1:
            raise ValueError(f"scale must be at least 1, got {scale}")
        if mode not in ("auto", "color", "ramp"):
            raise ValueError(f"unknown mode {mode!r}; choose auto, color or ramp")
        self.values = _as_grid(values)
        self.scale_info = Scale.for_values(palette, self.values, vmin, vmax)
        self.palette: Palette = palette
        self.scale = scale
        self.mode: Mode = mode

    @property
    def vmin(self) -> float:
        return self.scale_info.low

    @property
    def vmax(self) -> float:
        return self.scale_info.high

    def resolved_mode(self, console: Console) -> Literal["color", "ramp"]:
        if self.mode == "auto":
            return "color" if uses_color(console) else "ramp"
        return self.mode

    def size(self, mode: Literal["color", "ramp"]) -> tuple[int, int]:
        """(width, height) in character cells when drawn in that mode."""
        rows, cols = self.values.shape
        if mode == "color":
            return cols * self.scale, math.ceil(rows * self.scale / 2)
        width, height = _ramp_cell(self.scale)
        return cols * width, rows * height

    def lines(
        self, mode: Literal["color", "ramp"], depth: ColorDepth = "truecolor"
    ) -> list[list[Segment]]:
        positions = self.scale_info.positions(self.values)
        if mode == "color":
            scaled = np.repeat(np.repeat(positions, self.scale, 0), self.scale, 1)
            return _color_lines(self.palette, scaled, depth)
        return _ramp_lines(self.palette, positions, self.scale)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(self.resolved_mode(console), color_depth(console)):
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width, _ = self.size(self.resolved_mode(console))
        return Measurement(width, width)


def format_value(value: float) -> str:
    """Short, signed, fixed-width-ish numbers for labels: +0.412, -1.2e-05."""
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:+.3g}"
    return f"{value:+.1e}"


class Legend:
    """The colour bar of a palette with its end values (and 0 for diverging)."""

    def __init__(
        self,
        palette: Palette,
        vmin: float,
        vmax: float,
        *,
        width: int = 24,
        mode: Mode = "auto",
    ) -> None:
        _check_palette(palette)
        self.scale_info = Scale.for_values(palette, np.zeros((1, 1)), vmin, vmax)
        self.palette: Palette = palette
        self.width = max(3, width)
        self.mode: Mode = mode

    def _bar(self, color: bool, depth: ColorDepth = "truecolor") -> Text:
        bar = Text()
        steps = np.linspace(0.0, 1.0, self.width)
        for position in steps:
            if color:
                bar.append("\u2588", Style(color=_color(self.palette, position, depth)))
            else:
                bar.append(_ramp_char(self.palette, position))
        return bar

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        color = self.mode == "color" or (self.mode == "auto" and uses_color(console))
        low, high = self.scale_info.low, self.scale_info.high
        line = Text(f"{format_value(low)} ")
        bar = self._bar(color, color_depth(console))
        if not color:
            bar = Text("[") + bar + Text("]")  # spaces are part of the ramp: show the ends
        line.append_text(bar)
        line.append(f" {format_value(high)}")
        yield line
        if self.palette == "diverging":
            if color:
                yield Text("blue: negative, dark: 0, red: positive", style="dim")
            else:
                lowest, highest = DIVERGING_RAMP[0], DIVERGING_RAMP[-1]
                yield Text(f"'{lowest}' most negative, ' ' 0, '{highest}' most positive")


@dataclass(frozen=True)
class Tile:
    """One labelled heatmap in a grid; the label may have several lines."""

    label: str
    heatmap: Heatmap


class HeatmapGrid:
    """Tiles in as many equal-width columns as the console width allows."""

    def __init__(self, tiles: Sequence[Tile], *, padding: int = 2) -> None:
        self.tiles = list(tiles)
        self.padding = padding

    def _tile_width(self, console: Console) -> int:
        widths = [1]
        for tile in self.tiles:
            widths.append(tile.heatmap.size(tile.heatmap.resolved_mode(console))[0])
            widths.extend(len(line) for line in tile.label.splitlines())
        return max(widths)

    def columns_for(self, console: Console, width: int) -> int:
        tile_width = self._tile_width(console)
        return max(1, (width + self.padding) // (tile_width + self.padding))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.tiles:
            return
        tile_width = self._tile_width(console)
        per_row = self.columns_for(console, options.max_width)
        gap = [Segment(" " * self.padding)]
        for start in range(0, len(self.tiles), per_row):
            blocks = [
                self._block(console, t, tile_width) for t in self.tiles[start : start + per_row]
            ]
            height = max(len(b) for b in blocks)
            blank = [Segment(" " * tile_width)]
            for row in range(height):
                for i, block in enumerate(blocks):
                    if i:
                        yield from gap
                    yield from block[row] if row < len(block) else blank
                yield Segment.line()
            if start + per_row < len(self.tiles):
                yield Segment.line()

    def _block(self, console: Console, tile: Tile, width: int) -> list[list[Segment]]:
        """A tile as lines of exactly `width` cells: label lines, then the heatmap."""
        lines: list[list[Segment]] = []
        for label_line in tile.label.splitlines():
            lines.append([Segment(label_line[:width].ljust(width))])
        mode = tile.heatmap.resolved_mode(console)
        heat_width, _ = tile.heatmap.size(mode)
        for line in tile.heatmap.lines(mode, color_depth(console)):
            lines.append([*line, Segment(" " * (width - heat_width))])
        return lines

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        tile_width = self._tile_width(console)
        per_row = min(len(self.tiles) or 1, self.columns_for(console, options.max_width))
        width = per_row * tile_width + (per_row - 1) * self.padding
        return Measurement(tile_width, width)


def titled(title: str, *renderables: object) -> Group:
    """A bold title line above renderables: small helper for views built of heatmaps."""
    return Group(Text(title, style="bold"), *renderables)
