"""Rich renderables for `mnist predict`, built from plain Prediction records."""

from __future__ import annotations

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mnist_tui.predict.core import DigitPrediction, Prediction
from mnist_tui.ui.format import printable
from mnist_tui.ui.heatmap import Heatmap, HeatmapGrid, Tile

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


def steps_view(steps: list[tuple[str, np.ndarray]]) -> RenderableType:
    """Each stage of the preparation as a small grey heatmap, labelled, in a grid."""
    return HeatmapGrid([Tile(name, Heatmap(pixels, palette="grey")) for name, pixels in steps])


def _unsure_mark(prediction: Prediction) -> Text:
    if not prediction.unsure:
        return Text("")
    return Text(f"  unsure: {prediction.hint}", style="bold yellow")


def _digit_tile(number: int, digit: DigitPrediction) -> Tile:
    doubt = "  unsure" if digit.unsure else ""
    doubt = "  touching" if digit.touching else doubt
    label = f"#{number}: {printable(digit.label)} {digit.probability:.0%}{doubt}"
    return Tile(label, Heatmap(digit.pixels, palette="grey"))


def prediction_view(prediction: Prediction, ascii_bars: bool = False) -> RenderableType:
    """One image: what the model saw, the predicted digit(s), probabilities, top-k bars."""
    several = len(prediction.digits) > 1
    headline = Text.assemble(
        (printable(prediction.path), "bold"),
        "  ->  ",
        (prediction.label, "bold yellow" if prediction.unsure else "bold green"),
        f"  ({prediction.probability:.1%}{' that every digit is right' if several else ''})",
        ("  [inverted: dark ink on light]" if prediction.inverted else "", "dim"),
    )
    parts: list[RenderableType] = []
    if prediction.steps:
        parts.append(steps_view(prediction.steps))
    parts.append(headline)
    if several:
        parts.append(
            HeatmapGrid([_digit_tile(i, d) for i, d in enumerate(prediction.digits, start=1)])
        )
    else:
        body = Table.grid(padding=(0, 3))
        body.add_column()
        body.add_column(vertical="middle")
        body.add_row(
            Heatmap(prediction.pixels, palette="grey"),
            probability_bars(prediction.top_k, ascii_bars),
        )
        parts.append(body)
    parts.append(_unsure_mark(prediction))
    return Group(*parts)


def predictions_table(predictions: list[Prediction]) -> Table:
    """Many images: one row each with the digit, its probability and the runners-up."""
    table = Table(title_justify="left")
    table.add_column("image", overflow="fold")
    table.add_column("digit", justify="center", style="bold green")
    table.add_column("prob", justify="right")
    table.add_column("top-k")
    for p in predictions:
        runners = "  ".join(f"{label} {prob:.0%}" for label, prob in p.top_k)
        if len(p.digits) > 1:
            runners = "  ".join(f"{d.label} {d.probability:.0%}" for d in p.digits)
        probability = f"{p.probability:.1%}" + (" unsure" if p.unsure else "")
        table.add_row(printable(p.path), p.label, probability, runners)
    return table


def predictions_view(predictions: list[Prediction], ascii_bars: bool = False) -> RenderableType:
    if len(predictions) <= FULL_VIEW_LIMIT or any(p.steps for p in predictions):
        return Group(*(prediction_view(p, ascii_bars) for p in predictions))
    table = predictions_table(predictions)
    if any(p.unsure for p in predictions):
        hint = next(p.hint for p in predictions if p.unsure)
        return Group(table, Text(f"unsure: {hint}", style="bold yellow"))
    return table
