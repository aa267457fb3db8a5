"""`mnist show RUN`: one run's whole story (no torch: it reads the run's records)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import Plain, RunsDir, app, print_result


@app.command("show")
def show_command(
    run: Annotated[
        str | None,
        typer.Argument(metavar="RUN", help="Run id, unique prefix, folder or latest (default)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    runs_dir: RunsDir = Path("runs"),
    plain: Plain = False,
) -> None:
    """One run's whole story: settings, every epoch, validation curves, test result, files."""
    from mnist_tui.runs.folders import resolve_run
    from mnist_tui.show.core import read_story

    story = read_story(resolve_run(run, runs_dir))
    if as_json:
        import json

        print(json.dumps(story.to_json(), indent=2))
        return
    from mnist_tui.show.view import show_view

    print_result(show_view(story), plain)
