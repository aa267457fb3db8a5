"""What `mnist show` prints: a RunStory as Rich renderables (plain data in)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mnist_tui.show.core import RunStory
from mnist_tui.ui.charts import Chart, LineCharts
from mnist_tui.ui.format import format_seconds, percent, recipe_line
from mnist_tui.ui.tables import STATUS_STYLES, short_time

BEST = "*"


def headline(story: RunStory) -> Text:
    s = story.summary
    text = Text.assemble((story.id, "bold"), "  ")
    text.append(story.status, STATUS_STYLES.get(story.status, ""))
    done = s.get("epochs_run")
    if isinstance(done, int):
        text.append(f"  {done} epoch{'' if done == 1 else 's'}")
    if isinstance(s.get("seconds"), int | float):
        text.append(f" in {format_seconds(s['seconds'])}")
    text.append(f"  started {short_time(s.get('started'))}", "dim")
    if s.get("ended"):
        text.append(f", ended {short_time(s.get('ended'))}", "dim")
    text.append(f"\n{story.path}", "dim")
    return text


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "(none)" if value == "" else str(value)


def settings_table(story: RunStory) -> Table:
    """The recipe in one line, then the settings a reader looks for, two per row."""
    table = Table.grid(padding=(0, 2))
    pairs = story.main_settings()
    env = story.environment
    if env.get("device"):
        pairs.append(("device", f"{env['device']} / {env.get('precision', '?')}"))
    if story.data.get("train_size"):
        pairs.append(
            ("data", f"train {story.data['train_size']:,} · val {story.data.get('val_size', 0):,}")
        )
    for _ in range(2):
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
    half = -(-len(pairs) // 2)
    left, right = pairs[:half], pairs[half:]
    for i, (name, value) in enumerate(left):
        cells = [name, escape(_value(value))]
        if i < len(right):
            cells += [right[i][0], escape(_value(right[i][1]))]
        table.add_row(*cells)
    return table


def epochs_table(story: RunStory) -> Table:
    """Every epoch, the best one marked."""
    table = Table(title="epochs", title_justify="left", header_style="bold")
    for name in ("epoch", "train loss", "train acc", "val loss", "val acc", "lr", "time"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    best = story.best_epoch
    for row in story.epochs:
        epoch = int(row["epoch"])
        is_best = epoch == best
        table.add_row(
            str(epoch),
            f"{row['train_loss']:.4f}",
            percent(row["train_acc"]),
            f"{row['val_loss']:.4f}",
            percent(row["val_acc"]),
            f"{row['lr']:.3g}",
            format_seconds(row["seconds"]),
            f"{BEST} best" if is_best else "",
            style="bold green" if is_best else "",
        )
    return table


def curves(story: RunStory) -> LineCharts:
    """Validation accuracy and loss per epoch, drawn in the terminal."""
    x = [int(r["epoch"]) for r in story.epochs]
    return LineCharts(
        [
            Chart(
                "val accuracy (%)",
                x,
                {"val": [100 * r["val_acc"] for r in story.epochs]},
                mark=story.best_epoch,
                fmt="{:.2f}%",
            ),
            Chart("val loss", x, {"val": [r["val_loss"] for r in story.epochs]}, story.best_epoch),
        ]
    )


def result_text(story: RunStory) -> Text:
    """The best epoch and the test result, in words."""
    s = story.summary
    text = Text()
    if story.best_epoch is not None:
        text.append(f"best epoch {story.best_epoch}: val accuracy ")
        text.append(percent(s.get("best_val_acc")), "bold")
        text.append(" (its weights are checkpoint.pt)\n")
    if isinstance(s.get("test_acc"), int | float):
        text.append("test accuracy ")
        text.append(percent(s["test_acc"]), "bold green")
        loss = s.get("test_loss")
        text.append(f", loss {loss:.4f}" if isinstance(loss, int | float) else "")
        test_size = story.data.get("test_size")
        text.append(f" on {test_size:,} test images" if isinstance(test_size, int) else "")
    else:
        text.append("not evaluated on the test set (the run did not finish)", "dim")
    return text


def files_table(story: RunStory) -> Table:
    table = Table(title="files", title_justify="left", header_style="bold")
    table.add_column("file", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    for entry in story.files:
        table.add_row(escape(entry["name"]), _size(entry["bytes"]))
    return table


def _size(size: int) -> str:
    for unit in ("B", "kB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return str(size)


def show_view(story: RunStory) -> RenderableType:
    parts: list[RenderableType] = [headline(story), Text("")]
    if story.settings:
        parts += [Text(recipe_line(story.settings), style="bold"), settings_table(story), Text("")]
    if story.epochs:
        parts += [epochs_table(story), curves(story), Text("")]
    else:
        parts.append(Text("No epoch finished yet (metrics.csv has no rows).", style="dim"))
    parts += [result_text(story), Text(""), files_table(story)]
    for problem in story.problems:
        parts.append(Text(problem, style="yellow"))
    return Group(*parts)
