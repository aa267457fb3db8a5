"""What `mnist inspect` prints: summary table, kernel and feature-map grids, value bars.

Plain data in (numpy arrays, the dataclasses of probe.py), Rich renderables out.
Colour or ASCII is decided when the console renders (see heatmap.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from mnist_tui.ui.heatmap import Heatmap, HeatmapGrid, Legend, Mode, Tile, uses_color

if TYPE_CHECKING:
    from mnist_tui.inspect.probe import Activations, Kernels, ModelSummary

#: Vectors up to this long are drawn as one labelled bar per value; longer ones as strips.
MAX_BARS = 32
BAR_HALF_WIDTH = 16


def shape_text(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else " x ".join(str(d) for d in shape)


def summary_view(summary: ModelSummary, source: str) -> Group:
    """Where the model came from, then the summary table."""
    return Group(Text(f"model: {source}"), summary_table(summary))


def summary_table(summary: ModelSummary) -> Table:
    """Each layer's name, type, output shape and parameters, with the total below."""
    table = Table(
        caption=f"output shapes for one {shape_text(summary.input_shape)} input",
        caption_justify="left",
        show_footer=True,
    )
    table.add_column("layer", footer="total", no_wrap=True)
    table.add_column("type")
    table.add_column("output shape", no_wrap=True)
    table.add_column("parameters", justify="right", footer=f"{summary.total_parameters:,}")
    for row in summary.rows:
        # A module called twice (a shared pooling layer) has its parameters counted once.
        params = "(reused)" if row.parameters is None else f"{row.parameters:,}"
        table.add_row(row.name, row.kind, shape_text(row.output_shape), params)
    if summary.trainable_parameters != summary.total_parameters:
        table.caption = f"{table.caption}; {summary.trainable_parameters:,} trainable"
    return table


def tile_scale(width: int) -> int:
    """How many cells per value: small kernels are enlarged to about 12 cells across."""
    return max(1, min(4, round(12 / width)))


def symmetric_limit(arrays: list[np.ndarray]) -> float:
    """The largest magnitude over all arrays: one shared, zero-centred colour scale."""
    finite = [np.abs(a[np.isfinite(a)]).max() for a in arrays if np.isfinite(a).any()]
    limit = float(max(finite)) if finite else 0.0
    return limit if limit > 0 else 1.0


def _decimals(limit: float) -> int:
    return 2 if limit >= 0.5 else 3


def min_max_label(values: np.ndarray, decimals: int) -> str:
    return f"{float(np.nanmin(values)):+.{decimals}f} {float(np.nanmax(values)):+.{decimals}f}"


def heatmap_tiles(
    arrays: list[np.ndarray],
    labels: list[str],
    limit: float,
    mode: Mode,
    *,
    compact: bool = False,
) -> list[Tile]:
    """One diverging tile per array, all on the scale -limit..+limit, labelled with the
    channel and its min/max; `compact` (hundreds of tiles): half size, channel only."""
    decimals = _decimals(limit)
    return [
        Tile(
            f"ch {label}" if compact else f"ch {label}\n{min_max_label(array, decimals)}",
            Heatmap(
                array,
                "diverging",
                vmin=-limit,
                vmax=limit,
                scale=max(1, tile_scale(array.shape[1]) // (2 if compact else 1)),
                mode=mode,
            ),
        )
        for array, label in zip(arrays, labels, strict=True)
    ]


def kernel_view(kernels: Kernels, source: str, mode: Mode = "auto") -> Group:
    """A conv layer's kernels, one tile per output channel, with a shared scale."""
    limit = symmetric_limit(kernels.tiles)
    kh, kw = kernels.tiles[0].shape
    how = f"{kernels.note}; " if kernels.note else ""
    label = "channel" if kernels.every_input else "channel, min and max weight"
    return Group(
        Text(f"{kernels.layer}: {kernels.kind}, {len(kernels.tiles)} kernels {kh}x{kw}", "bold"),
        Text(f"model: {source}"),
        Text(f"{how}above each tile: {label}", style="dim"),
        Text(""),
        HeatmapGrid(
            heatmap_tiles(kernels.tiles, kernels.labels, limit, mode, compact=kernels.every_input)
        ),
        Text(""),
        Legend("diverging", -limit, limit, mode=mode),
    )


def steps_view(steps: list[tuple[str, np.ndarray]], mode: Mode = "auto") -> Group:
    """How the image became the model's input: each stage as a small grey heatmap."""
    tiles = [Tile(name, Heatmap(pixels, "grey", mode=mode)) for name, pixels in steps]
    return Group(Text("preparation steps:", style="bold"), HeatmapGrid(tiles), Text(""))


def digit_preview(pixels: np.ndarray, mode: Mode = "auto") -> Group:
    """The 28x28 image the model saw (0..1, light ink on dark)."""
    return Group(Text("what the model saw:"), Heatmap(pixels, "grey", mode=mode))


def prediction_line(probabilities: np.ndarray, classes: list[str] | None) -> Text:
    best = int(np.argmax(probabilities))
    name = classes[best] if classes and best < len(classes) else str(best)
    return Text(f"the model predicts {name} ({probabilities[best]:.1%})")


def activation_view(
    activations: Activations,
    source: str,
    *,
    image_name: str,
    pixels: np.ndarray | None = None,
    classes: list[str] | None = None,
    width: int = 80,
    mode: Mode = "auto",
) -> Group:
    """A layer's output for one image: a grid of maps, or bars for a vector."""
    values = activations.values
    parts: list[RenderableType] = [
        Text(f"{activations.layer}: {activations.kind} output for {image_name}", style="bold"),
        Text(f"model: {source}"),
    ]
    if pixels is not None:
        parts += [Text(""), digit_preview(pixels, mode)]
    parts += [prediction_line(activations.probabilities, classes), Text("")]
    if values.ndim == 3:
        maps = list(values)
        limit = symmetric_limit(maps)
        h, w = values.shape[1:]
        parts += [
            Text(f"{len(maps)} feature maps {h}x{w}; above each: channel, min, max", style="dim"),
            HeatmapGrid(heatmap_tiles(maps, [str(i) for i in range(len(maps))], limit, mode)),
        ]
    else:
        limit = symmetric_limit([values])
        parts += [Text(f"{values.size} values", style="dim"), value_bars(values, width, mode)]
    parts += [Text(""), Legend("diverging", -limit, limit, mode=mode)]
    return Group(*parts)


def value_bars(values: np.ndarray, width: int = 80, mode: Mode = "auto") -> RenderableType:
    """A vector as signed bars (short vectors) or as wrapped strips of colour (long ones)."""
    values = np.asarray(values, dtype=float).reshape(-1)
    limit = symmetric_limit([values])
    if values.size <= MAX_BARS:
        return SignedBars(values, limit, mode)
    index_width = len(str(values.size - 1))
    per_row = max(8, min(64, (width - 2 * index_width - 4) // 2))
    rows = []
    for start in range(0, values.size, per_row):
        chunk = values[start : start + per_row]
        end = start + chunk.size - 1
        label = Text(f"{start:>{index_width}}-{end:<{index_width}} ")
        strip = Heatmap(
            chunk[np.newaxis, :], "diverging", vmin=-limit, vmax=limit, scale=2, mode=mode
        )
        rows.append(_side_by_side(label, strip))
    return Group(*rows)


def _side_by_side(label: Text, strip: Heatmap) -> Table:
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_row(label, strip)
    return grid


class SignedBars:
    """One line per value: index, a bar left (negative) or right (positive) of an axis,
    the value. Colour when the console has it; '=' and '#' bars otherwise."""

    def __init__(self, values: np.ndarray, limit: float, mode: Mode = "auto") -> None:
        self.values = values
        self.limit = limit
        self.mode = mode

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        color = self.mode == "color" or (self.mode == "auto" and uses_color(console))
        index_width = len(str(self.values.size - 1))
        for index, value in enumerate(self.values):
            cells = (
                0 if not math.isfinite(value) else round(abs(value) / self.limit * BAR_HALF_WIDTH)
            )
            cells = min(BAR_HALF_WIDTH, cells)
            if color:
                bar_char, style = "\u2588", ("red" if value > 0 else "blue")
            else:
                bar_char, style = ("#" if value > 0 else "="), ""
            left = " " * (BAR_HALF_WIDTH - (cells if value < 0 else 0))
            line = Text(f"{index:>{index_width}} ")
            line.append(left)
            if value < 0:
                line.append(bar_char * cells, style)
            line.append("|")
            if value > 0:
                line.append(bar_char * cells, style)
            line.append(" " * (BAR_HALF_WIDTH - (cells if value > 0 else 0)))
            line.append(f" {value:+.3f}")
            yield line
