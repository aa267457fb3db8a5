"""`mnist compare`: runs side by side; the work is in mnist_tui.compare."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import RunsDir, app, output_console


@app.command("compare")
def compare_command(
    runs: Annotated[
        list[str] | None,
        typer.Argument(metavar="[RUN]...", help="Run ids, unique prefixes or folder paths."),
    ] = None,
    sweep: Annotated[
        str | None, typer.Option(help="Compare the trials of the sweep NAME (and any RUNs).")
    ] = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also draw the curves into this PNG file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Settings that differ, results side by side, validation curves overlaid."""
    import json

    from mnist_tui.compare.core import compare_runs, select_runs

    report = compare_runs(select_runs(runs or [], runs_dir, sweep))
    if png is not None:
        from mnist_tui.compare.png import draw_compare

        draw_compare(report, png)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from mnist_tui.compare.view import compare_view

    console = output_console()
    # Colour only on a real terminal; in a pipe the chart keeps its markers, in plain text.
    colour = sys.stdout.isatty() and console.is_terminal and not console.no_color
    width = min(console.width, 120)
    console.print(compare_view(report, width, colour))
    if png is not None:
        console.print(f"wrote {png}", markup=False, highlight=False)
