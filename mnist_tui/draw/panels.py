"""Side panels drawn line by line (Textual's line API): redrawn on every mouse move, so
they skip Rich's layout of renderables."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from mnist_tui.draw.view import half_block_row

FIELD = 28
TITLE = "what the model sees"


class ModelInput(Widget):
    """The 28x28 input the model reads, in half blocks (14 lines under a title line)."""

    DEFAULT_CSS = """
    ModelInput { width: 28; height: 15; }
    """

    def __init__(self, color: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.color = color
        self.pixels = np.zeros((FIELD, FIELD), np.float32)

    def show(self, pixels: np.ndarray | None) -> None:
        self.pixels = np.zeros((FIELD, FIELD), np.float32) if pixels is None else pixels
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y == 0:
            return Strip([Segment(TITLE.ljust(FIELD), Style(bold=True))])
        top = 2 * (y - 1)
        if top >= FIELD:
            return Strip.blank(FIELD, Style())
        return Strip(half_block_row(self.pixels[top], self.pixels[top + 1], self.color))
