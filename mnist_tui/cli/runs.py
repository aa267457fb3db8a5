"""`mnist runs`: the table of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import (
    RunsDir,
    app,
    output_console,
)


@app.command("runs")
def list_runs_command(
    runs_dir: RunsDir = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """A table of runs, newest first."""
    import json

    from mnist_tui.runs.folders import list_runs, no_runs_message

    records = list_runs(runs_dir)
    if as_json:
        print(json.dumps(records, indent=2))
        return
    if not records:
        print(no_runs_message(runs_dir))
        return
    from mnist_tui.ui.tables import damaged_notes, runs_table

    console = output_console()
    console.print(runs_table(records))
    if notes := damaged_notes(records):
        console.print(notes, style="dim", markup=False, highlight=False)
