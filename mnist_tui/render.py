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


def ensemble_table(report: dict[str, Any]) -> Table:
    """`mnist eval --ensemble`: each member's accuracy and loss, then the ensemble's."""
    table = Table(
        title=f"ensemble of {len(report['members'])} runs, {report['split']} split "
        f"({report['samples']:,} images)",
        title_justify="left",
    )
    table.add_column("model", no_wrap=True)
    table.add_column("accuracy", justify="right")
    table.add_column("errors", justify="right")
    table.add_column("loss", justify="right")
    for i, row in enumerate([*report["members"], report["ensemble"]]):
        last = i == len(report["members"])
        table.add_row(
            f"[bold]{row['name']}[/]" if last else row["name"],
            percent(row["accuracy"]),
            str(report["samples"] - row["correct"]),
            f"{row['loss']:.4f}",
            end_section=i == len(report["members"]) - 1,
        )
    return table
