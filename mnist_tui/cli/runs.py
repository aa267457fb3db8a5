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
    sweep: Annotated[
        str | None, typer.Option(help="Only the trials of the sweep NAME (`mnist sweep`).")
    ] = None,
) -> None:
    """A table of runs, newest first."""
    import json

    from mnist_tui.runs.folders import list_runs

    records = list_runs(runs_dir)
    if sweep is not None:
        records = [r for r in records if r.get("sweep") == sweep]
        if not records and not as_json:
            print(f"No runs of sweep {sweep!r} in {runs_dir}.")
            return
    if as_json:
        print(json.dumps(records, indent=2))
        return
    if not records:
        print(f"No runs in {runs_dir}: train one with `mnist train`.")
        return
    from mnist_tui.ui.tables import damaged_notes, runs_table

    console = output_console()
    console.print(runs_table(records))
    if notes := damaged_notes(records):
        console.print(notes, style="dim", markup=False, highlight=False)
