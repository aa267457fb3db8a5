"""Terminal renderables built from plain data: tables, heatmaps, previews, bars."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from mnist_tui.ui.format import format_seconds, percent

STATUS_STYLES = {
    "completed": "green",
    "early_stopped": "green",
    "running": "cyan",
    "interrupted": "yellow",
    "failed": "red",
    "pruned": "magenta",
    "damaged": "red",
}


def short_time(stamp: str | None) -> str:
    """'2026-11-23T10:19:43Z' -> '11-23 10:19' (UTC; the year is in the run id)."""
    if not stamp:
        return "-"
    return stamp.replace("T", " ")[5:16]


def runs_table(records: list[dict[str, Any]]) -> Table:
    """`mnist runs`: one row per run record from runs.list_runs()."""
    # On a narrow terminal the id folds onto two lines; every other cell stays whole.
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    table.add_column("id", overflow="fold", min_width=10)
    table.add_column("status", no_wrap=True)
    table.add_column("model", no_wrap=True)
    table.add_column("epochs", justify="right", no_wrap=True)
    table.add_column("best val", justify="right", no_wrap=True)
    table.add_column("test", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("started", no_wrap=True)
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
            short_time(r.get("started")),
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
    table.caption = shared_mistakes(report)
    table.caption_justify = "left"
    return table


def shared_mistakes(report: dict[str, Any]) -> str:
    """The line under the ensemble table: mistakes the members share, which averaging
    their probabilities cannot (all) or can rarely (most) fix."""
    members = len(report["members"])
    shared = report["misread_by_all"]
    line = f"misread by all {members} members: {shared} image{'' if shared == 1 else 's'}"
    majority = members // 2 + 1
    if majority < members:
        line += f"; by {majority} or more: {report['misread_by_majority']}"
    return line


def damaged_notes(records: list[dict[str, Any]]) -> str:
    """One line per damaged run saying what is wrong with it (for under the table)."""
    return "\n".join(
        f"{r['id']}: {r.get('problem', 'damaged')}" for r in records if r["status"] == "damaged"
    )
