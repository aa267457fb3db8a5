"""The canvas widget: mouse (left inks, right erases) and keyboard pen on a Sketch.

Each character cell shows two pixels stacked (an upper half block in the upper pixel's
grey on a background of the lower one), so the grid has twice the rows of the widget.
The widget posts `Changed` after every change; the app reads the newest sketch then.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from mnist_tui.draw.sketch import Sketch
from mnist_tui.draw.view import CURSOR_STYLE, half_block_row

LEFT, RIGHT = 1, 3  # Textual's mouse button numbers
#: Keyboard pen step, in grid pixels (one cell across, one cell down).
STEP = (2.0, 1.0)


class DrawCanvas(Widget):
    """Draw here: a Sketch sized to the widget's content area."""

    ALLOW_SELECT = False  # a drag draws, it selects nothing
    DEFAULT_CSS = """
    DrawCanvas {
        width: 1fr;
        height: 1fr;
        border: round $primary;
        border-title-align: left;
    }
    """

    class Changed(Message):
        """The drawing changed (a point, a stroke undone, cleared, resized)."""

        def __init__(self, canvas: DrawCanvas) -> None:
            super().__init__()
            self.canvas = canvas

    def __init__(self, color: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.color = color
        self.sketch = Sketch(2, 1)
        self._stroke_open = False
        self.cursor: tuple[float, float] | None = None  # keyboard pen position (grid pixels)
        self.pen_down = False
        self.erasing = False  # the keyboard pen's mode

    # --- size --------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        size: Size = self.content_size
        self.sketch.resize(2 * size.height, size.width)
        if self.cursor is not None:
            self.cursor = self._clamp(self.cursor)
        self._changed()

    # --- mouse -------------------------------------------------------------------------

    def _point(self, event: events.MouseEvent) -> tuple[float, float]:
        """The event's position in grid pixels (row, column).

        Terminals report cells: the point is the cell's centre. Where the terminal
        reports pixels (fractional positions), the exact spot is used.
        """
        x = event.pointer_x - self.gutter.left
        y = event.pointer_y - self.gutter.top
        if float(x).is_integer() and float(y).is_integer():
            return (2.0 * y + 1.0, x + 0.5)
        return (2.0 * y, x)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button not in (LEFT, RIGHT):
            return
        self.capture_mouse()
        self._stroke_open = True
        self.sketch.begin(self._point(event), erase=event.button == RIGHT)
        self._changed()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._stroke_open:
            self.sketch.extend(self._point(event))
            self._changed()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._stroke_open:
            self.sketch.extend(self._point(event))
            self._stroke_open = False
            self.release_mouse()
            self._changed()

    # --- keyboard pen ------------------------------------------------------------------

    def _clamp(self, point: tuple[float, float]) -> tuple[float, float]:
        row = min(max(point[0], 0.5), self.sketch.height - 0.5)
        col = min(max(point[1], 0.5), self.sketch.width - 0.5)
        return (row, col)

    def move_cursor(self, rows: int, cols: int) -> None:
        """Move the keyboard pen by whole steps; with the pen down, that draws."""
        if self.cursor is None:
            self.cursor = (self.sketch.height / 2, self.sketch.width / 2)
        row, col = self.cursor
        self.cursor = self._clamp((row + rows * STEP[0], col + cols * STEP[1]))
        if self.pen_down:
            self.sketch.extend(self.cursor)
        self._changed()

    def toggle_pen(self) -> None:
        """Pen down (a dot now, a stroke as the cursor moves) or up (the stroke ends)."""
        if self.cursor is None:
            self.cursor = self._clamp((self.sketch.height / 2, self.sketch.width / 2))
        self.pen_down = not self.pen_down
        if self.pen_down:
            self.sketch.begin(self.cursor, erase=self.erasing)
        self._changed()

    def toggle_eraser(self) -> None:
        self.erasing = not self.erasing
        if self.pen_down:  # the stroke so far keeps its kind; a new one starts here
            self.sketch.begin(self.cursor or (0.5, 0.5), erase=self.erasing)
        self._changed()

    # --- edits -------------------------------------------------------------------------

    def undo(self) -> bool:
        self._stroke_open = self.pen_down = False
        done = self.sketch.undo()
        if done:
            self._changed()
        return done

    def clear(self) -> None:
        self._stroke_open = self.pen_down = False
        self.sketch.clear()
        self._changed()

    def _changed(self) -> None:
        self.refresh()
        self.post_message(self.Changed(self))

    # --- drawing -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        ink = self.sketch.ink
        top = 2 * y
        if top >= ink.shape[0]:
            return Strip.blank(self.content_size.width, Style())
        lower = ink[top + 1] if top + 1 < ink.shape[0] else None
        segments = half_block_row(ink[top], lower, self.color)
        if self.cursor is not None and int(self.cursor[0]) // 2 == y:
            segments = _with_cursor(segments, int(self.cursor[1]), self.pen_down, self.color)
        return Strip(segments)


def _with_cursor(
    segments: list[Segment], column: int, pen_down: bool, color: bool
) -> list[Segment]:
    """The row's segments with the cell under the keyboard pen marked."""
    cells = [Segment(char, segment.style) for segment in segments for char in segment.text]
    if 0 <= column < len(cells):
        style = CURSOR_STYLE if color else Style(reverse=True)
        cells[column] = Segment("●" if pen_down else "+", style)
    return cells
