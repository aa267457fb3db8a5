"""`mnist inspect --png`: kernels or feature maps as one matplotlib figure.

One subplot per channel, one shared zero-centred colour scale with a colour bar, a title
per subplot; a vector of values (a linear layer) becomes a bar chart. Plain numpy in.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mnist_tui.errors import MnistError
from mnist_tui.inspect.view import symmetric_limit
from mnist_tui.ui.plots import pyplot, save_png

#: Blue for negative, white for zero, red for positive, as in the terminal legend.
COLORMAP = "RdBu_r"


def check_png_path(path: Path) -> Path:
    """Refuse a target that cannot be written, before any work is done."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise MnistError(f"--png {path}: the file name must end in .png.")
    if path.is_dir():
        raise MnistError(f"--png {path} is a folder: give a file name ending in .png.")
    if not path.parent.is_dir():
        raise MnistError(f"--png {path}: the folder {path.parent} does not exist; create it first.")
    return path


def draw_tiles(
    path: Path,
    tiles: list[np.ndarray],
    labels: list[str],
    title: str,
    *,
    columns: int | None = None,
    colorbar_label: str = "value",
) -> Path:
    """A grid of heatmaps on one shared scale -limit..+limit, with a colour bar."""
    plt = pyplot()
    limit = symmetric_limit(tiles)
    count = len(tiles)
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    size = 1.3 if count > 64 else 1.8
    fig, axes = plt.subplots(
        rows, columns, figsize=(columns * size + 1.2, rows * size + 0.9), squeeze=False, dpi=100
    )
    image = None
    for ax, tile, label in zip(axes.flat, tiles, labels, strict=False):
        image = ax.imshow(tile, cmap=COLORMAP, vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(
            f"{label}\n{np.nanmin(tile):+.2g}/{np.nanmax(tile):+.2g}",
            fontsize=7 if count > 64 else 9,
        )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.set_axis_off()
    fig.suptitle(title)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label=colorbar_label)
    return save_png(fig, path)


def draw_mosaic(
    path: Path,
    tiles: list[np.ndarray],
    rows: int,
    columns: int,
    title: str,
    *,
    row_label: str,
    column_label: str,
    colorbar_label: str = "value",
) -> Path:
    """Many small tiles (every output x input kernel) as one image with a one-value gap
    between tiles: hundreds of subplots would take matplotlib half a minute."""
    plt = pyplot()
    limit = symmetric_limit(tiles)
    th, tw = tiles[0].shape
    mosaic = np.full((rows * (th + 1) - 1, columns * (tw + 1) - 1), np.nan)
    for index, tile in enumerate(tiles):
        r, c = divmod(index, columns)
        mosaic[r * (th + 1) : r * (th + 1) + th, c * (tw + 1) : c * (tw + 1) + tw] = tile
    cell = 0.32 if max(rows, columns) > 24 else 0.5
    fig, ax = plt.subplots(figsize=(columns * cell + 2.5, rows * cell + 1.5), dpi=100)
    cmap = plt.get_cmap(COLORMAP).with_extremes(bad="white")  # NaN: the gaps
    image = ax.imshow(mosaic, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([c * (tw + 1) + (tw - 1) / 2 for c in range(columns)], range(columns))
    ax.set_yticks([r * (th + 1) + (th - 1) / 2 for r in range(rows)], range(rows))
    ax.tick_params(labelsize=7, length=0)
    ax.set(xlabel=column_label, ylabel=row_label, title=title)
    fig.colorbar(image, ax=ax, shrink=0.6, label=colorbar_label)
    return save_png(fig, path)


def draw_values(path: Path, values: np.ndarray, title: str) -> Path:
    """A vector as one bar per value, negative blue and positive red."""
    plt = pyplot()
    values = np.asarray(values, dtype=float).reshape(-1)
    fig, ax = plt.subplots(figsize=(max(6.0, min(20.0, values.size * 0.12 + 2)), 3.5), dpi=100)
    colors = ["#d6604d" if v > 0 else "#4393c3" for v in values]
    ax.bar(np.arange(values.size), values, color=colors, width=0.8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(xlabel="unit", ylabel="activation", title=title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)
