"""`mnist compare` in the terminal: the runs side by side, then their curves overlaid."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from mnist_tui.ui.charts import Series, line_chart, style_of
from mnist_tui.ui.format import format_seconds, percent
from mnist_tui.ui.tables import STATUS_STYLES


def _setting(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def runs_table(report: dict[str, Any], colour: bool) -> Table:
    """One row per run: its marker, the settings that differ, then the results."""
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    table.add_column("", no_wrap=True)
    table.add_column("run", overflow="fold", min_width=8)
    for key in report["differing"]:
        table.add_column(key, justify="right", no_wrap=True)
    for name in ("status", "epochs", "best val", "test", "time"):
        justify = "left" if name == "status" else "right"
        table.add_column(name, justify=justify, no_wrap=True)
    best = max((r["best_val_acc"] or -1 for r in report["runs"]), default=None)
    for i, run in enumerate(report["runs"]):
        marker, style = style_of(i)
        status = run["status"]
        epochs = f"{run['epochs_run'] or 0}/{run['epochs'] or '-'}"
        val = percent(run["best_val_acc"])
        table.add_row(
            Text(marker, style=style if colour else ""),
            run["label"],
            *[_setting(run["differs"][k]) for k in report["differing"]],
            Text(status, style=STATUS_STYLES.get(status, "")),
            epochs,
            Text(val, style="bold") if run["best_val_acc"] == best else val,
            percent(run["test_acc"]),
            format_seconds(run["seconds"]) if run["seconds"] is not None else "-",
        )
    return table


def curves(report: dict[str, Any], width: int, colour: bool) -> list[Text]:
    """Validation accuracy and loss per epoch, every run overlaid, fitted to `width`."""
    acc, loss = [], []
    for run in report["runs"]:
        c = run["curves"]
        acc.append(Series(run["label"], c["epoch"], [100 * v for v in c["val_acc"]]))
        loss.append(Series(run["label"], c["epoch"], c["val_loss"]))
    height = 16
    return [
        line_chart(
            acc,
            title="validation accuracy (%)",
            xlabel="epoch",
            width=width,
            height=height,
            colour=colour,
            legend_low=True,
        ),
        line_chart(
            loss,
            title="validation loss",
            xlabel="epoch",
            width=width,
            height=height,
            colour=colour,
            legend_low=False,
        ),
    ]


def compare_view(report: dict[str, Any], width: int, colour: bool) -> Group:
    same = "all settings the same" if not report["differing"] else ""
    parts: list[Any] = [runs_table(report, colour)]
    if same:
        parts.append(Text(same, style="dim"))
    if any(r["curves"]["epoch"] for r in report["runs"]):
        parts += [Text(""), *curves(report, width, colour)]
    else:
        parts.append(Text("no epoch finished yet in these runs: no curves", style="dim"))
    return Group(*parts)
