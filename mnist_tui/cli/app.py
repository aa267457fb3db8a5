"""The Typer app, the options several commands share, and the console-script entry.

Only the standard library, Typer and Rich are imported here; each command module imports
torch, torchvision or matplotlib inside its command body, so `mnist --help` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mnist_tui import __version__
from mnist_tui.errors import MnistError

if TYPE_CHECKING:
    from mnist_tui.runs.folders import RunFolder

app = typer.Typer(
    name="mnist",
    help="A terminal workbench for MNIST: download, train, evaluate, predict, inspect, export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


RunsDir = Annotated[
    Path,
    typer.Option("--runs-dir", envvar="MNIST_RUNS_DIR", help="Folder holding the run folders."),
]
DataRoot = Annotated[
    Path,
    typer.Option("--root", envvar="MNIST_DATA_DIR", help="Folder holding the datasets."),
]
Plain = Annotated[
    bool, typer.Option("--plain", help="Plain line output instead of the live display.")
]


def stderr_line(message: str) -> None:
    print(f"mnist: error: {message}", file=sys.stderr, flush=True)


def is_interactive() -> bool:
    """A live display only makes sense on a real terminal that understands escapes.

    Rich's own judgement (a TTY, not TERM=dumb), so the dashboard and Rich agree.
    """
    from rich.console import Console

    return Console().is_interactive


def output_console() -> Any:
    """A Rich console for results; in a pipe, wide enough that tables keep whole cells."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def weights_run(spec: str | None, runs_dir: Path, hint: str = "") -> RunFolder:
    """The run whose checkpoint a command uses; `latest` is the newest run with one.

    When newer runs have no checkpoint yet, stderr says which run was used instead.
    """
    from mnist_tui.runs.folders import resolve_run_with_weights

    run, note = resolve_run_with_weights(spec, runs_dir, hint)
    if note:
        print(note, file=sys.stderr, flush=True)
    return run


def data_root_for(ctx: typer.Context, data_root: Path, run: RunFolder) -> Path:
    """--root (or MNIST_DATA_DIR) when given, else the data folder `run` was trained from.

    So `mnist eval latest` works from any folder, not only from where the run was made.
    """
    if ctx is None or ctx.get_parameter_source("data_root").name != "DEFAULT":
        return data_root
    return run.recorded_data_root() or data_root


def version_callback(value: bool) -> None:
    if value:
        print(f"mnist {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """A terminal workbench for MNIST: download, train, evaluate, predict, inspect, export."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: every expected failure is one line on stderr, no traceback."""
    try:
        code = app(args=argv, prog_name="mnist", standalone_mode=False)
    except MnistError as e:
        stderr_line(str(e))
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as e:  # usage errors: bad option values, unknown options
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        ctx = getattr(e, "ctx", None)
        command = ctx.command_path if ctx is not None else "mnist"
        stderr_line(f"{message} (see `{command} --help`)")
        sys.exit(getattr(e, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
