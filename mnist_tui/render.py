"""Terminal renderables built from plain data: tables, heatmaps, previews, bars."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from mnist_tui.reporters import format_seconds

STATUS_STYLES = {
    "completed": "green",
    "early_stopped": "green",
    "running": "cyan",
    "interrupted": "yellow",
    "failed": "red",
    "damaged": "red",
}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def runs_table(records: list[dict[str, Any]]) -> Table:
    """`mnist runs`: one row per run record from runs.list_runs()."""
    table = Table(title="runs", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("status")
    table.add_column("model")
    table.add_column("epochs", justify="right")
    table.add_column("best val", justify="right")
    table.add_column("test", justify="right")
    table.add_column("time", justify="right")
    table.add_column("started")
    for r in records:
        status = r["status"]
        table.add_row(
            r["id"],
            f"[{STATUS_STYLES.get(status, '')}]{status}[/]",
            r.get("model") or "-",
            str(r.get("epochs_run") or "-"),
            percent(r.get("best_val_acc")),
            percent(r.get("test_acc")),
            format_seconds(r["seconds"]) if r.get("seconds") is not None else "-",
            str(r.get("started") or "-"),
        )
    return table
