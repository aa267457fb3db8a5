"""LiveDashboard: the training loop's events drawn as a Rich `Live` view in the terminal.

The loop never imports Rich: this Callback keeps the latest events as plain data and
builds the view from them whenever `Live` refreshes (a few times a second, from its own
thread). Progress bars are Rich `Progress` objects embedded in the view; the rest comes
from `dashboard_view`. Use it as a context manager so the terminal is restored even when
training raises.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.segment import Segment
from rich.text import Text

from mnist_tui.train.events import (
    BatchEnded,
    Callback,
    EpochEnded,
    EpochStarted,
    Evaluated,
    RunEnded,
    RunStarted,
)
from mnist_tui.train.reporters import dashboard_view as view


def make_progress() -> Progress:
    """Two bars (overall epochs, this epoch's batches) with rate, elapsed and ETA."""
    return Progress(
        TextColumn("[bold]{task.description:<13}"),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>13}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        expand=True,
        auto_refresh=False,  # the Live around it refreshes
    )


class LiveDashboard(Callback):
    """A live cockpit view of one training run."""

    def __init__(self, console: Console | None = None, refresh_per_second: float = 4) -> None:
        self.console = console or Console()
        self.progress = make_progress()
        self.start: RunStarted | None = None
        # Replaced, never mutated: the Live thread may be reading the previous tuple.
        self.rows: tuple[EpochEnded, ...] = ()
        self.evaluated: Evaluated | None = None
        self.end: RunEnded | None = None
        self.phase = ""
        self._cache: tuple[object, Prerendered, Prerendered] | None = None
        self._hidden_rows = False  # the latest frame left some epochs out
        self._overall: TaskID | None = None
        self._epoch: TaskID | None = None
        self._epoch_started = time.perf_counter()
        self._live = Live(
            get_renderable=self.view,
            console=self.console,
            refresh_per_second=refresh_per_second,
            transient=False,
        )

    # --- context manager: the terminal is always restored ---------------------------------

    def __enter__(self) -> LiveDashboard:
        # Started now, so that loading the data already shows something.
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display (leaving its last frame on screen); safe to call twice."""
        if self._live.is_started:
            # Nothing worth keeping before the run started (e.g. a bad dataset): erase it.
            self._live.transient = self.start is None
            self._live.stop()

    # --- events ---------------------------------------------------------------------------

    def on_run_start(self, e: RunStarted) -> None:
        self.start = e
        self.rows = tuple(e.history)  # a resumed run's earlier epochs: the whole run shows
        done_epochs = e.start_epoch - 1
        self._overall = self.progress.add_task(
            "overall", total=e.epochs, completed=done_epochs, rate=""
        )
        self._epoch = self.progress.add_task(
            f"epoch {e.start_epoch}/{e.epochs}", total=e.batches_per_epoch, rate=""
        )
        if not self._live.is_started:
            self._live.start()

    def on_epoch_start(self, e: EpochStarted) -> None:
        self.phase = ""
        self._epoch_started = time.perf_counter()
        if self._epoch is not None:
            self.progress.reset(
                self._epoch, total=e.batches, description=f"epoch {e.epoch}/{e.epochs}", rate=""
            )

    def on_batch_end(self, e: BatchEnded) -> None:
        if self._epoch is None or self._overall is None:
            return
        seconds = time.perf_counter() - self._epoch_started
        rate = f"{e.samples / seconds:,.0f} img/s" if seconds > 0 else ""
        self.progress.update(self._epoch, completed=e.batch, rate=rate)
        self.progress.update(self._overall, completed=e.epoch - 1 + e.batch / e.batches)
        if e.batch == e.batches:
            self.phase = f"epoch {e.epoch}: validating…"

    def on_epoch_end(self, e: EpochEnded) -> None:
        self.rows = (*self.rows, e)
        stops_early = 0 < e.patience <= e.epochs_without_improvement
        self.phase = "testing the best checkpoint…" if e.epoch == e.epochs or stops_early else ""
        if self._overall is not None:
            self.progress.update(self._overall, completed=e.epoch)

    def on_evaluated(self, e: Evaluated) -> None:
        self.evaluated = e

    def on_run_end(self, e: RunEnded) -> None:
        self.end = e
        self.phase = ""
        if self._live.is_started:
            self._live.refresh()  # the final frame, with the summary, stays on screen
        self.close()
        if self._hidden_rows:
            # The final frame had room for some epochs only: the whole table goes to the
            # scrollback once, after the live display, where nothing redraws it.
            if not self.console.is_terminal:
                self.console.line()  # Live ends a terminal's last frame with one itself
            self.console.print(view.metrics_table(self.rows, title="every epoch"))

    # --- the view -------------------------------------------------------------------------

    def view(self) -> RenderableType:
        """The whole dashboard: the progress bars live, the rest from a cache.

        Everything but the bars changes only when an epoch ends, while rendering it costs
        milliseconds that would be taken from the training loop several times a second.
        """
        if self.start is None:
            return Text("preparing the run: loading data, building the model…", style="dim")
        key = (self.console.size, len(self.rows), self.end is not None, self.phase)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, *self._render_static())
        _, above, below = self._cache
        return Group(above, below) if self.end is not None else Group(above, self.progress, below)

    def _render_static(self) -> tuple[Prerendered, Prerendered]:
        """The parts above and below the progress bars, rendered once for this state."""
        assert self.start is not None
        rows, width = self.rows, self.console.size.width
        below: list[RenderableType] = [
            view.patience_text(rows[-1] if rows else None),
            view.trend(rows, width),
        ]
        if self.phase:
            below.append(Text(self.phase, style="dim"))
        if self.end is not None:
            below.append(view.summary_panel(self.end, self.evaluated))
        above = self._render(view.header(self.start))
        bars = 0 if self.end is not None else len(self.progress.tasks)
        used = len(above.lines) + bars + len(self._render(Group(*below)).lines)
        # The table's heading (2 lines) and the line the cursor sits on.
        limit = max(self.console.size.height - used - 3, 3)
        self._hidden_rows = len(rows) > limit
        return above, self._render(Group(view.metrics_table(rows, limit), *below))

    def _render(self, renderable: RenderableType) -> Prerendered:
        return Prerendered(self.console.render_lines(renderable, self.console.options, pad=False))


class Prerendered:
    """Lines rendered earlier: drawing them again costs next to nothing."""

    def __init__(self, lines: list[list[Segment]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        new_line = Segment.line()
        for line in self.lines:
            yield from line
            yield new_line
