"""`mnist draw`: the full-screen app. Canvas on the left; beside it, live, what the model
sees, the ten probabilities, the digit it reads (large) and an unsure mark; conv1's
feature maps on a key.

Every change of the drawing posts `DrawCanvas.Changed`; the app reads the newest sketch
once per batch of changes (a reading remembers the sketch version it is of), so a fast
drag never queues up stale forward passes.
"""

from __future__ import annotations

from pathlib import Path
from time import perf_counter
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Digits, Static

from mnist_tui.draw.canvas import DrawCanvas
from mnist_tui.draw.model import DrawModel
from mnist_tui.draw.panels import ModelInput
from mnist_tui.draw.reading import Reading, read
from mnist_tui.draw.saving import save_png
from mnist_tui.draw.view import maps_view, probability_bars, verdict_text
from mnist_tui.errors import MnistError

KEY_HELP = (
    "mouse: left inks, right erases · keys: arrows move, space pen, e eraser · "
    "u undo · c clear · s save PNG · f feature maps · q quit"
)


class DrawApp(App[None]):
    """Draw a digit; watch the network read it."""

    TITLE = "mnist draw"
    # A drag draws; Textual's text selection would follow it and repaint the whole screen
    # on every mouse move (measured: most of the latency).
    ALLOW_SELECT = False
    CSS = """
    Screen { layout: vertical; }
    #title { height: 1; padding: 0 1; }
    #title.untrained { text-style: bold; color: $warning; }
    #main { height: 1fr; }
    #side { width: 47; padding-left: 1; }
    #upper { height: 15; }
    #bars { width: 1fr; height: 11; padding-left: 1; }
    #verdict { height: 4; }
    #digit { width: 7; padding: 0 2 0 1; }
    #verdict-text { width: 1fr; height: 4; padding-top: 1; }
    #maps-panel { display: none; height: 45%; border-top: solid $primary; }
    #maps-panel.shown { display: block; }
    #status { height: 1; padding: 0 1; color: $text-muted; }
    #help { height: auto; padding: 0 1; background: $panel; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("c", "clear", "clear"),
        Binding("u", "undo", "undo"),
        Binding("s", "save", "save PNG"),
        Binding("f", "maps", "feature maps"),
        Binding("space", "pen", "pen up/down"),
        Binding("e", "eraser", "eraser"),
        Binding("up", "move(-1, 0)", show=False),
        Binding("down", "move(1, 0)", show=False),
        Binding("left", "move(0, -1)", show=False),
        Binding("right", "move(0, 1)", show=False),
    ]

    def __init__(self, model: DrawModel, out_dir: Path = Path(".")) -> None:
        super().__init__()
        self.model = model
        self.out_dir = Path(out_dir)
        self.color = not self.no_color  # Textual read NO_COLOR
        self.maps_shown = False
        self.reading = Reading(model.classes)
        self.last_read_ms: float | None = None
        self.saved: list[Path] = []

    # --- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        title = f"mnist draw · {self.model.description}"
        yield Static(title, id="title", classes="untrained" if self.model.untrained else "")
        with Horizontal(id="main"):
            yield DrawCanvas(color=self.color, id="canvas")
            with Vertical(id="side"):
                with Horizontal(id="upper"):
                    yield ModelInput(color=self.color, id="input")
                    yield Static(id="bars")
                with Horizontal(id="verdict"):
                    yield Digits("", id="digit")
                    yield Static(id="verdict-text")
        with VerticalScroll(id="maps-panel", can_focus=False):
            yield Static(id="maps")
        yield Static(id="status")
        yield Static(KEY_HELP, id="help")

    def on_mount(self) -> None:
        self.canvas.border_title = "draw a digit"
        self.show_reading()

    @property
    def canvas(self) -> DrawCanvas:
        return self.query_one("#canvas", DrawCanvas)

    # --- reading -----------------------------------------------------------------------

    def on_draw_canvas_changed(self, _message: DrawCanvas.Changed) -> None:
        self.update_reading()
        self.status(self.pen_state())  # the keyboard pen may have moved without drawing

    def update_reading(self, force: bool = False) -> None:
        """Read the sketch unless this version has been read already."""
        sketch = self.canvas.sketch
        if not force and self.reading.version == sketch.version:
            return
        started = perf_counter()
        try:
            self.reading = read(
                self.model, sketch.image_bytes(), maps=self.maps_shown, version=sketch.version
            )
        except MnistError as e:
            self.status(str(e))
            return
        self.last_read_ms = 1000 * (perf_counter() - started)
        self.show_reading()

    def show_reading(self) -> None:
        reading = self.reading
        # Every panel has a fixed size: no layout pass per reading, only a repaint.
        self.query_one("#input", ModelInput).show(reading.pixels)
        bars = probability_bars(reading.classes, reading.probabilities)
        self.query_one("#bars", Static).update(bars, layout=False)
        label = reading.label
        self.query_one("#digit", Digits).update(label if len(label) == 1 else "")
        verdict = verdict_text(label, reading.probability, reading.unsure, reading.blank)
        self.query_one("#verdict-text", Static).update(verdict, layout=False)
        if self.maps_shown:
            self.show_maps()
        self.status(self.pen_state())

    def show_maps(self) -> None:
        panel = self.query_one("#maps-panel")
        room = (max(20, panel.size.width - 2), max(8, panel.size.height))
        mode = "color" if self.color else "ramp"
        note = ""
        if not self.model.has_maps:
            note = (
                "Feature maps need a run's checkpoint (--run): an exported model hides its layers."
            )
        layer = self.model.layer if self.model.has_maps else ""
        view = maps_view(self.reading.maps, layer, room, mode, note)
        self.query_one("#maps", Static).update(view)

    def pen_state(self) -> str:
        parts = []
        if self.last_read_ms is not None and not self.reading.blank:
            parts.append(f"read in {self.last_read_ms:.0f} ms")
        canvas = self.canvas
        if canvas.cursor is not None:
            tool = "eraser" if canvas.erasing else "pen"
            parts.append(f"keyboard {tool} {'down' if canvas.pen_down else 'up'}")
        return " · ".join(parts)

    def status(self, text: str) -> None:
        self.query_one("#status", Static).update(text, layout=False)

    # --- actions -----------------------------------------------------------------------

    def action_clear(self) -> None:
        self.canvas.clear()

    def action_undo(self) -> None:
        if not self.canvas.undo():
            self.status("nothing to undo")

    def action_pen(self) -> None:
        self.canvas.toggle_pen()

    def action_eraser(self) -> None:
        self.canvas.toggle_eraser()

    def action_move(self, rows: int, cols: int) -> None:
        self.canvas.move_cursor(rows, cols)

    def action_maps(self) -> None:
        self.maps_shown = not self.maps_shown
        self.query_one("#maps-panel").set_class(self.maps_shown, "shown")
        if self.maps_shown:
            self.call_after_refresh(self.update_reading, True)  # the panel has its size then

    def action_save(self) -> None:
        sketch = self.canvas.sketch
        if sketch.empty:
            self.status("nothing to save yet: draw a digit first")
            return
        try:
            path = save_png(sketch.image_bytes(), self.out_dir)
        except MnistError as e:
            self.status(str(e))
            return
        self.saved.append(path)
        self.status(f"saved {path} (`mnist predict {path}` reads it the same way)")
