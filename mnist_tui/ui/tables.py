"""Terminal renderables built from plain data: tables, heatmaps, previews, bars."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from mnist_tui.ui.format import format_seconds, percent, printable, recipe_short

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
    table.add_column("recipe", overflow="fold")
    table.add_column("epochs", justify="right", no_wrap=True)
    table.add_column("best val", justify="right", no_wrap=True)
    table.add_column("test", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("started", no_wrap=True)
    for r in records:
        status = r["status"]
        table.add_row(
            printable(r["id"]),
            Text(status, style=STATUS_STYLES.get(status, "")),
            printable(r.get("model") or "-"),
            printable(recipe_short(r)),
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
            Text(printable(row["name"]), style="bold" if last else ""),
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
        printable(f"{r['id']}: {r.get('problem', 'damaged')}", limit=1000)
        for r in records
        if r["status"] == "damaged"
    )


def unboxed(renderable: Any) -> Any:
    """The same renderable with no box drawing: tables lose their borders and rules,
    panels become their contents under a title line. For `--plain`, whose output goes to
    logs, e-mails and terminals without line-drawing glyphs. Changes tables in place."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.text import Text

    if isinstance(renderable, Group):
        return Group(*(unboxed(r) for r in renderable.renderables), fit=renderable.fit)
    if isinstance(renderable, Panel):
        inner = unboxed(renderable.renderable)
        return Group(Text(str(renderable.title)), inner) if renderable.title else inner
    if isinstance(renderable, Padding):
        renderable.renderable = unboxed(renderable.renderable)
        return renderable
    if isinstance(renderable, Table):
        if renderable.box is not None:
            # Columns stay apart by their padding, as `ps` or `ls -l` print theirs.
            renderable.box = None
            renderable.show_edge = False
            renderable.show_lines = False
            renderable.padding = (0, 2, 0, 0)
            renderable.pad_edge = False
        for column in renderable.columns:
            column._cells = [unboxed(cell) for cell in column._cells]
        # A title or caption as its own line: without borders the table may be narrower
        # than its title, which would then wrap.
        above, renderable.title = renderable.title, None
        below, renderable.caption = renderable.caption, None
        parts = [Text(str(above))] if above else []
        parts += [renderable, *([Text(str(below))] if below else [])]
        return Group(*parts) if len(parts) > 1 else renderable
    return renderable
