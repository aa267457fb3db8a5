"""`mnist runs`: the table of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import (
    Plain,
    RunsDir,
    app,
    output_console,
    print_result,
)


@app.command("runs")
def list_runs_command(
    runs_dir: RunsDir = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    plain: Plain = False,
) -> None:
    """A table of runs, newest first."""
    import json

    from mnist_tui.runs.folders import list_runs

    records = list_runs(runs_dir)
    if as_json:
        print(json.dumps(records, indent=2))
        return
    if not records:
        print(f"No runs in {runs_dir}: train one with `mnist train`.")
        return
    from mnist_tui.ui.tables import damaged_notes, runs_table

    print_result(runs_table(records), plain)
    if notes := damaged_notes(records):
        output_console(plain).print(notes, style="dim", markup=False, highlight=False)
