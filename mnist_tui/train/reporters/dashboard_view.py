"""The training dashboard's pieces as Rich renderables built from plain event data.

Pure functions of the events (no clocks, no torch, no terminal state), so each piece
can be rendered into a fixed-width console and checked. `dashboard.py` arranges them
inside a Rich `Live` together with the progress bars.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mnist_tui.train.events import EpochEnded, Evaluated, RunEnded, RunStarted
from mnist_tui.ui.format import format_seconds, recipe_line

SPARK_CHARS = "▁▂▃▄▅▆▇█"
BEST_MARK = "★ best"
STATUS_TITLES = {
    "completed": ("completed", "green"),
    "early_stopped": ("stopped early", "green"),
    "interrupted": ("interrupted", "yellow"),
    "failed": ("failed", "red"),
}


def header(start: RunStarted) -> Panel:
    """Who is training what, how, where: run, model, device, seed, recipe (optimizer, lr,
    schedule, preset), data."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("run", f"{start.run_id}  [dim]in[/] {start.run_dir}")
    grid.add_row(
        "model",
        f"{start.model} ({start.parameters:,} parameters)  "
        f"[bold]device[/] {start.device} / {start.precision}  [bold]seed[/] {start.seed}",
    )
    grid.add_row("recipe", escape(recipe_line(start.config)))
    grid.add_row(
        "data",
        f"train {start.train_size:,} · val {start.val_size:,} · test {start.test_size:,}  "
        f"[dim]{start.batches_per_epoch} steps of {start.batch_size}[/]",
    )
    if start.resume_note:
        grid.add_row("resume", start.resume_note)
    title = "mnist train"
    if start.resumed:
        title += f" · resumed at epoch {start.start_epoch}"
    return Panel(grid, title=title, title_align="left", box=box.ROUNDED)


#: In `visible_rows`: a gap of this many hidden epochs, drawn as one "… N more" line.
Gap = int


def visible_rows(rows: Sequence[EpochEnded], limit: int) -> list[EpochEnded | Gap]:
    """What a table of at most `limit` lines shows of a long run, in epoch order.

    The latest epochs, and the best one when it would have scrolled off; each run of
    hidden epochs becomes one gap line where those epochs belong.
    """
    rows = list(rows)
    if len(rows) <= limit:
        return list(rows)
    best_epoch = rows[-1].best_epoch
    best = [i for i, r in enumerate(rows) if r.epoch == best_epoch]
    # The most latest rows that fit; the best row too while room is left, else without it.
    for keep_best in (True, False):
        for latest in range(max(limit, 1), 0, -1):
            shown = set(range(len(rows) - latest, len(rows)))
            if keep_best:
                shown |= set(best)
            lines = _with_gaps(rows, sorted(shown))
            if len(lines) <= limit:
                return lines
    return _with_gaps(rows, [len(rows) - 1])


def _with_gaps(rows: list[EpochEnded], shown: list[int]) -> list[EpochEnded | Gap]:
    lines: list[EpochEnded | Gap] = []
    previous = -1
    for i in shown:
        if i > previous + 1:
            lines.append(i - previous - 1)
        lines.append(rows[i])
        previous = i
    if previous < len(rows) - 1:
        lines.append(len(rows) - 1 - previous)
    return lines


def metrics_table(
    rows: Sequence[EpochEnded], limit: int | None = None, title: str | None = None
) -> Table:
    """One row per finished epoch, the best marked; at most `limit` lines (None: all).

    A long run keeps its latest epochs and its best one, in epoch order, with a
    "… N more" line where epochs are left out.
    """
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title=title, title_justify="left"
    )
    for name in ("epoch", "train loss", "train acc", "val loss", "val acc", "lr", "time"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    if not rows:
        table.add_row("-", "", "", "", "", "", "", "[dim]first epoch running[/]")
        return table
    best_epoch = rows[-1].best_epoch
    lines = list(rows) if limit is None else visible_rows(rows, limit)
    for r in lines:
        if isinstance(r, int):
            table.add_row("…", "", "", "", "", "", "", f"[dim]{r} more[/]")
            continue
        is_best = r.epoch == best_epoch
        table.add_row(
            f"{r.epoch}/{r.epochs}",
            f"{r.train_loss:.4f}",
            f"{r.train_acc:.2%}",
            f"{r.val_loss:.4f}",
            f"{r.val_acc:.2%}",
            f"{r.lr:.3g}",
            format_seconds(r.seconds),
            BEST_MARK if is_best else "",
            style="bold green" if is_best else None,
        )
    return table


def patience_text(last: EpochEnded | None) -> Text:
    """Early stopping state in words."""
    if last is None:
        return Text("early stopping: waiting for the first epoch", style="dim")
    if last.patience <= 0:
        return Text(f"early stopping off · best epoch {last.best_epoch}", style="dim")
    if last.epochs_without_improvement == 0:
        return Text.assemble(
            ("early stopping: ", "bold"),
            (f"improved at epoch {last.epoch}", "green"),
            f" (patience {last.patience})",
        )
    style = "red" if last.epochs_without_improvement >= last.patience else "yellow"
    return Text.assemble(
        ("early stopping: ", "bold"),
        (
            f"no improvement for {last.epochs_without_improvement} of {last.patience} epochs",
            style,
        ),
        f" (best: epoch {last.best_epoch}, {last.best_val_acc:.2%})",
    )


def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as block characters, scaled to their own min..max."""
    values = list(values)[-max(width, 1) :]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    if span <= 0:
        return SPARK_CHARS[len(SPARK_CHARS) // 2] * len(values)
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[round((v - low) / span * top)] for v in values)


def trend(rows: Sequence[EpochEnded], width: int) -> Table:
    """Validation accuracy and loss over the epochs, as sparklines with the latest value."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    if not rows:
        grid.add_row("trend", Text("after the first epoch", style="dim"), "")
        return grid
    spark_width = max(width - 30, 5)
    acc = [r.val_acc for r in rows]
    loss = [r.val_loss for r in rows]
    grid.add_row("val acc ", Text(sparkline(acc, spark_width), style="cyan"), f"{acc[-1]:.2%}")
    grid.add_row("val loss", Text(sparkline(loss, spark_width), style="magenta"), f"{loss[-1]:.4f}")
    return grid


def summary_panel(end: RunEnded, evaluated: Evaluated | None = None) -> Panel:
    """The end of the run: how it ended, the best epoch, test accuracy, time and paths."""
    title, colour = STATUS_TITLES.get(end.status, (end.status, "white"))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("status", f"[{colour}]{title}[/] after {end.epochs_run} epoch(s)")
    if end.best_epoch and end.best_val_acc is not None:
        grid.add_row("best epoch", f"{end.best_epoch}  (val acc {end.best_val_acc:.2%})")
    if end.test_acc is not None:
        samples = f", {evaluated.samples:,} images" if evaluated else ""
        grid.add_row(
            "test acc", f"[bold]{end.test_acc:.2%}[/]  (loss {end.test_loss:.4f}{samples})"
        )
    else:
        grid.add_row("test acc", "[dim]not measured[/]")
    total = format_seconds(end.seconds)
    if end.session_seconds is not None:
        total += f"  [dim]({format_seconds(end.session_seconds)} this session)[/]"
    grid.add_row("total time", total)
    grid.add_row("run folder", end.run_dir)
    if end.checkpoint:  # none when no epoch finished
        grid.add_row("checkpoint", end.checkpoint)
    if end.curves:
        grid.add_row("curves", end.curves)
    parts: list[RenderableType] = [grid]
    if end.warning:
        parts.append(Text(end.warning, style="bold yellow"))
    if end.message:
        parts.append(Text(end.message, style=f"bold {colour}"))
    return Panel(Group(*parts), title=f"run {title}", title_align="left", border_style=colour)
