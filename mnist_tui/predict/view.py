"""Rich renderables for `mnist predict`, built from plain Prediction records."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mnist_tui.predict.core import Prediction
from mnist_tui.ui.format import printable
from mnist_tui.ui.heatmap import Heatmap

#: Above this many images, one compact table instead of a preview per image.
FULL_VIEW_LIMIT = 3
BAR_WIDTH = 24


def bar(probability: float, width: int = BAR_WIDTH, ascii_bars: bool = False) -> Text:
    """A horizontal bar of eighth-blocks, `width` cells for probability 1 (or of `#`)."""
    if ascii_bars:
        return Text("#" * round(max(0.0, min(1.0, probability)) * width))
    eighths = round(max(0.0, min(1.0, probability)) * width * 8)
    full, rest = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rest].strip()
    return Text("█" * full + partial, style="cyan")


def probability_bars(top_k: list[tuple[str, float]], ascii_bars: bool = False) -> Table:
    """The top-k labels with their probabilities as bars, most likely first."""
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="bold")
    table.add_column(justify="right")
    table.add_column()
    for label, probability in top_k:
        table.add_row(label, f"{probability:6.1%}", bar(probability, ascii_bars=ascii_bars))
    return table


def prediction_view(prediction: Prediction, ascii_bars: bool = False) -> RenderableType:
    """One image: what the model saw, the predicted digit, its probability, top-k bars."""
    headline = Text.assemble(
        (printable(prediction.path), "bold"),
        "  ->  ",
        (prediction.label, "bold green"),
        f"  ({prediction.probability:.1%})",
        ("  [inverted: dark ink on light]" if prediction.inverted else "", "dim"),
    )
    body = Table.grid(padding=(0, 3))
    body.add_column()
    body.add_column(vertical="middle")
    body.add_row(
        Heatmap(prediction.pixels, palette="grey"), probability_bars(prediction.top_k, ascii_bars)
    )
    return Group(headline, body, Text(""))


def predictions_table(predictions: list[Prediction]) -> Table:
    """Many images: one row each with the digit, its probability and the runners-up."""
    table = Table(title_justify="left")
    table.add_column("image", overflow="fold")
    table.add_column("digit", justify="center", style="bold green")
    table.add_column("prob", justify="right")
    table.add_column("top-k")
    for p in predictions:
        runners = "  ".join(f"{label} {prob:.0%}" for label, prob in p.top_k)
        table.add_row(printable(p.path), p.label, f"{p.probability:.1%}", runners)
    return table


def predictions_view(predictions: list[Prediction], ascii_bars: bool = False) -> RenderableType:
    if len(predictions) <= FULL_VIEW_LIMIT:
        return Group(*(prediction_view(p, ascii_bars) for p in predictions))
    return predictions_table(predictions)
