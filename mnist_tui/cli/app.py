"""The Typer app, the options several commands share, and the console-script entry.

Only the standard library, Typer and Rich are imported here; each command module imports
torch, torchvision or matplotlib inside its command body, so `mnist --help` answers at once.
"""

from __future__ import annotations

import errno
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from mnist_tui import __version__
from mnist_tui.errors import MnistError, printable
from mnist_tui.fsutil import describe_os_error

if TYPE_CHECKING:
    from mnist_tui.runs.folders import RunFolder

# Conventional names for the value an option takes, in place of Typer's `<str>`, `<int>`.
_METAVARS = {"str": "TEXT", "int": "N", "float": "NUMBER", "path": "PATH", "file": "FILE"}
_TYPE_LABEL = re.compile(r"<([\w\[\]]+)>")


def _conventional(record: str) -> str:
    return _TYPE_LABEL.sub(lambda m: _METAVARS.get(m[1], m[1].upper()), record)


def _usage_name(argument: TyperArgument) -> str:
    """`RUN`, `[RUN]`, `IMAGE...`, `[RUN]...`: what man pages and Click write."""
    name = argument.metavar or (argument.name or "ARG").upper()
    name = name if argument.required else f"[{name}]"
    return f"{name}..." if argument.nargs != 1 else name


class HelpLayout:
    """Help as Click lays it out, readable at 80 columns (Typer's Rich panels squeeze
    descriptions into a narrow column and print `<bool>` after flags, which reads as if
    `--json true` were expected).

    - usage lines: `mnist eval [OPTIONS] [RUN]...`, `mnist predict [OPTIONS] IMAGE...`;
    - flags without a value placeholder, values as TEXT, N, NUMBER, PATH (or a metavar);
    - long lists of choices once, below the options: an epilog paragraph whose first line
      ends with ":" and whose other lines are `name<TAB>description` is a definition list
      (see `choices_epilog`).
    """

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []  # type: ignore[attr-defined]
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            if isinstance(param, TyperArgument):
                pieces.append(_usage_name(param))
        if isinstance(self, TyperGroup):
            pieces.append(self.subcommand_metavar)
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            if isinstance(param, TyperArgument):
                if not param.hidden:
                    name = _usage_name(param).strip("[]").replace("]", "")
                    arguments.append((name, param.help or ""))
            elif (record := param.get_help_record(ctx)) is not None:
                options.append((_conventional(record[0]), record[1]))
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)
        if isinstance(self, TyperGroup):
            self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command's whole first paragraph, wrapped (Click cuts it off with "...")."""
        rows = []
        for name in self.list_commands(ctx):  # type: ignore[attr-defined]
            command = self.get_command(ctx, name)  # type: ignore[attr-defined]
            if command is not None and not command.hidden:
                text = command.short_help or (command.help or "").split("\n\n")[0]
                rows.append((name, " ".join(text.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        for paragraph in (self.epilog or "").strip().split("\n\n"):  # type: ignore[attr-defined]
            heading, *lines = paragraph.strip().splitlines() or [""]
            if heading.endswith(":") and lines and all("\t" in line for line in lines):
                with formatter.section(heading[:-1]):  # writes its own blank line
                    formatter.write_dl([tuple(line.split("\t", 1)) for line in lines])
            elif paragraph.strip():
                formatter.write_paragraph()
                with formatter.indentation():
                    formatter.write_text(paragraph.strip())


class MnistCommand(HelpLayout, TyperCommand):
    """Every `mnist` command: Typer's command with the help layout above."""


class MnistGroup(HelpLayout, TyperGroup):
    """`mnist` and its command groups (`mnist runs`)."""


def choices_epilog(title: str, choices: dict[str, str]) -> str:
    """An epilog paragraph listing `choices` under `title`, laid out by HelpLayout."""
    return f"{title}:\n" + "\n".join(f"{name}\t{text}" for name, text in choices.items())


class MnistTyper(typer.Typer):
    """typer.Typer whose commands and groups use the help layout above."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", MnistCommand)
        return super().command(*args, **kwargs)


def command_group(**kwargs: Any) -> MnistTyper:
    """A sub-command group (`mnist runs ...`) with the same settings as the app."""
    kwargs.setdefault("cls", MnistGroup)
    kwargs.setdefault("rich_markup_mode", None)
    kwargs.setdefault("pretty_exceptions_enable", False)
    kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
    return MnistTyper(**kwargs)


WORKBENCH = (
    "A terminal workbench for MNIST: train, compare, sweep, evaluate, predict, draw, "
    "inspect, export."
)

app = command_group(
    name="mnist",
    help=WORKBENCH,
    no_args_is_help=True,
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
    bool, typer.Option("--plain", help="Plain lines: no live display, colour or box drawing.")
]


def stderr_line(message: str) -> None:
    # Messages quote paths, labels and values from files: control characters in them
    # are shown as escapes, never sent to the terminal.
    print(f"mnist: error: {printable(message, limit=4000)}", file=sys.stderr, flush=True)


def is_interactive() -> bool:
    """A live display only makes sense on a real terminal that understands escapes.

    Rich's own judgement (a TTY, not TERM=dumb), so the dashboard and Rich agree.
    """
    from rich.console import Console

    return Console().is_interactive


def output_console(plain: bool = False, fit_terminal: bool = False) -> Any:
    """A Rich console for results; in a pipe, wide enough that tables keep whole cells.

    Markup and emoji codes in strings are never read: the strings printed come from files
    (class labels, run ids, paths), and `[/bold]` in a label must print as itself, not
    crash or restyle the output. Views style with Text objects and `style=` instead.
    `plain`: no colour, so heatmaps and legends draw their ASCII ramps (see ui.heatmap).
    """
    from rich.console import Console

    width = None if sys.stdout.isatty() or fit_terminal else 160
    colour: dict[str, Any] = {"no_color": True} if plain else {}
    return Console(width=width, markup=False, emoji=False, highlight=False, **colour)


def print_result(renderable: Any, plain: bool = False) -> None:
    """Print a command's result; `--plain` output has no box drawing anywhere."""
    if plain:
        from mnist_tui.ui.tables import unboxed

        renderable = unboxed(renderable)
    output_console(plain).print(renderable)


def degrade_to_ascii() -> None:
    """On a terminal whose encoding cannot hold every character (PYTHONIOENCODING=ascii,
    a Latin-1 locale), print what it cannot as `?`/`\\xe9` instead of raising
    UnicodeEncodeError halfway through a table."""
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace")):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if encoding not in ("utf8", "utf16", "utf32") and reconfigure is not None:
            reconfigure(errors=errors)


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
    """A terminal workbench for MNIST (see WORKBENCH)."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: every expected failure is one line on stderr, no traceback."""
    degrade_to_ascii()
    try:
        code = app(args=argv, prog_name="mnist", standalone_mode=False)
    except MnistError as e:
        stderr_line(str(e))
        sys.exit(e.exit_code)
    except OSError as e:
        # The last guard for the one OSError class every path option shares: a name over
        # the filesystem's limit, which pathlib raises from is_dir()/exists() on Linux.
        # Commands turn every other OSError into their own message.
        if e.errno != errno.ENAMETOOLONG:
            raise
        stderr_line(f"{e.filename or 'a path'}: {describe_os_error(e)}.")
        sys.exit(2)
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
