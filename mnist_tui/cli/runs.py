"""`mnist runs`: the table of runs; `mnist runs rm`: delete or prune them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import (
    Plain,
    RunsDir,
    app,
    command_group,
    output_console,
    print_result,
)
from mnist_tui.errors import MnistError

runs_app = command_group(
    name="runs",
    help="A table of runs, newest first; `mnist runs rm` deletes runs.",
    invoke_without_command=True,
    subcommand_metavar="[COMMAND [ARGS]...]",
)
app.add_typer(runs_app)


@runs_app.callback(invoke_without_command=True)
def list_runs_command(
    ctx: typer.Context,
    runs_dir: RunsDir = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    plain: Plain = False,
    sweep: Annotated[
        str | None, typer.Option(help="Only the trials of the sweep NAME (`mnist sweep`).")
    ] = None,
) -> None:
    """A table of runs, newest first; `mnist runs rm` deletes runs."""
    if ctx.invoked_subcommand is not None:
        return
    import json

    from mnist_tui.runs.folders import list_runs, no_runs_message

    records = list_runs(runs_dir)
    if sweep is not None:
        records = [r for r in records if r.get("sweep") == sweep]
        if not records and not as_json:
            print(f"No runs of sweep {sweep!r} in {runs_dir}.")
            return
    if as_json:
        print(json.dumps(records, indent=2, allow_nan=False))  # list_runs checked the values
        return
    if not records:
        print(no_runs_message(runs_dir))
        return
    from mnist_tui.ui.tables import damaged_notes, runs_table

    print_result(runs_table(records), plain)
    if notes := damaged_notes(records):
        output_console(plain).print(notes, style="dim", markup=False, highlight=False)


@runs_app.command("rm", short_help="Delete or prune runs (asks first unless --yes).")
def remove_runs_command(
    runs: Annotated[
        list[str] | None,
        typer.Argument(metavar="RUN", help="Runs to delete: ids, unique prefixes or folders."),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS,...",
            help="Prune the runs with these statuses, e.g. interrupted,failed (also: "
            "completed, early_stopped, damaged).",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            metavar="N",
            help="Prune all but the newest N runs (with --status: of the runs it picks).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Delete runs, or prune them; asks first unless --yes; never a run still training."""
    from mnist_tui.runs.prune import delete_runs, human_bytes, select_runs

    selection = select_runs(runs_dir, runs or [], status, keep)
    for run_id in selection.running:
        print(f"{run_id} is still training: kept.")
    if not selection.doomed:
        print("No runs match: nothing deleted.")
        return
    count = len(selection.doomed)
    what = f"{count} run{'' if count == 1 else 's'} ({human_bytes(selection.bytes)})"
    if not yes:
        if not sys.stdin.isatty():
            raise MnistError(
                f"Not deleting {what} without asking, and stdin is not a terminal: "
                "pass --yes to delete."
            )
        for doomed in selection.doomed:
            size = human_bytes(doomed.bytes)
            print(f"  {doomed.run.id}  {doomed.status}  {size}  {doomed.run.path}")
        if not typer.confirm(f"Delete {what}?", default=False):
            print("Nothing deleted.")
            return
    freed, problems = delete_runs(selection)
    deleted = count - len(problems)
    print(
        f"Deleted {deleted} run{'' if deleted == 1 else 's'}, freed {human_bytes(freed)}: "
        + ", ".join(d.run.id for d in selection.doomed if not d.run.path.exists())
        + "."
    )
    if problems:
        raise MnistError(" ".join(problems))
