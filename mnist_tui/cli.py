"""The `mnist` command line: Typer commands that compose the rest of the package.

Only the standard library, Typer and Rich are imported at module level; torch,
torchvision and matplotlib are imported inside the commands that need them, so
`mnist --help` answers at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mnist_tui import __version__
from mnist_tui.config import DATASETS, FIELDS, help_for, resolve_config
from mnist_tui.errors import MnistError
from mnist_tui.model_catalog import models_help
from mnist_tui.presets import preset_help

if TYPE_CHECKING:
    from mnist_tui.runs import RunFolder

app = typer.Typer(
    name="mnist",
    help="A terminal workbench for MNIST: download, train, evaluate, predict, inspect, export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# --- shared options -----------------------------------------------------------------------

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
    """A live display only makes sense on a real terminal that understands escapes."""
    return sys.stdout.isatty() and os.environ.get("TERM", "") not in ("", "dumb")


def output_console() -> Any:
    """A Rich console for results; in a pipe, wide enough that tables keep whole cells."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def _data_root_for(ctx: typer.Context, data_root: Path, run: RunFolder) -> Path:
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


# --- download -------------------------------------------------------------------------------


@app.command()
def download(
    dataset: Annotated[str, typer.Option(help=f"One of: {', '.join(DATASETS)}.")] = "mnist",
    data_root: DataRoot = Path("data"),
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Import from a local folder or .tgz/.tar.gz/.zip of IDX files (raw or .gz).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Fetch again even if present.")] = False,
    plain: Plain = False,
) -> None:
    """Fetch a dataset through torchvision's mirrors (or import it --from a local copy)."""
    from mnist_tui import datasets
    from mnist_tui.progress import byte_progress

    spec = datasets.spec_for(dataset)
    if not force and datasets.is_installed(data_root, spec):
        print(f"{spec.name}: already present in {datasets.raw_dir(data_root, spec)}, verified.")
        return
    with byte_progress(live=is_interactive() and not plain) as progress:
        if source is not None:
            folder = datasets.import_from(source, data_root, spec, progress)
        else:
            folder = datasets.download(data_root, spec, progress)
    print(f"{spec.name}: 4 files verified (md5) and installed in {folder}.")


# --- train ----------------------------------------------------------------------------------


class StopFlag:
    """Turns SIGINT/SIGTERM into a request the loop honours after the current step."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.repeated = False

    def __call__(self) -> bool:
        return self.signal is not None

    def handle(self, signum: int, _frame: Any) -> None:
        if self.signal is None:
            self.signal = signum
            self._say("\nStopping after the current step; saving... (the run can be resumed)")
        elif not self.repeated:
            # A second signal while saving is ignored: stopping halfway would gain nothing,
            # and every file is replaced atomically anyway. Said once, so it is not a hang.
            self.repeated = True
            self._say("Still saving; the run stops in a moment.")

    @staticmethod
    def _say(line: str) -> None:
        # The handler may interrupt a write to stderr; a message is not worth a crash.
        with contextlib.suppress(RuntimeError, OSError):
            print(line, file=sys.stderr, flush=True)

    def install(self) -> None:
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)


@contextlib.contextmanager
def train_reporters(plain: bool, tensorboard: bool) -> Iterator[list[Any]]:
    """The live dashboard on a terminal, plain lines otherwise; TensorBoard if asked."""
    from mnist_tui.reporters import PlainReporter

    reporters: list[Any] = []
    if tensorboard:
        from mnist_tui.tensorboard import TensorBoardReporter

        reporters.append(TensorBoardReporter.checked())  # fails before any work starts
    if plain or not is_interactive():
        yield [*reporters, PlainReporter()]
        return
    from mnist_tui.dashboard import LiveDashboard

    with LiveDashboard() as dashboard:
        yield [*reporters, dashboard]


@app.command()
def train(
    model: Annotated[
        str | None, typer.Option(help=help_for("model", f"Models: {models_help()}."))
    ] = None,
    dataset: Annotated[str | None, typer.Option(help=help_for("dataset"))] = None,
    epochs: Annotated[int | None, typer.Option(help=help_for("epochs"))] = None,
    batch_size: Annotated[int | None, typer.Option(help=help_for("batch_size"))] = None,
    lr: Annotated[float | None, typer.Option(help=help_for("lr"))] = None,
    momentum: Annotated[float | None, typer.Option(help=help_for("momentum"))] = None,
    beta2: Annotated[float | None, typer.Option(help=help_for("beta2"))] = None,
    weight_decay: Annotated[float | None, typer.Option(help=help_for("weight_decay"))] = None,
    optimizer: Annotated[str | None, typer.Option(help=help_for("optimizer"))] = None,
    scheduler: Annotated[str | None, typer.Option(help=help_for("scheduler"))] = None,
    patience: Annotated[int | None, typer.Option(help=help_for("patience"))] = None,
    val_size: Annotated[int | None, typer.Option(help=help_for("val_size"))] = None,
    label_smoothing: Annotated[float | None, typer.Option(help=help_for("label_smoothing"))] = None,
    augment: Annotated[bool | None, typer.Option(help=help_for("augment"))] = None,
    seed: Annotated[int | None, typer.Option(help=help_for("seed"))] = None,
    deterministic: Annotated[bool | None, typer.Option(help=help_for("deterministic"))] = None,
    device: Annotated[str | None, typer.Option(help=help_for("device"))] = None,
    precision: Annotated[str | None, typer.Option(help=help_for("precision"))] = None,
    name: Annotated[str | None, typer.Option(help=help_for("name"))] = None,
    ema: Annotated[float | None, typer.Option(metavar="DECAY", help=help_for("ema"))] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Named recipe, expanded into config.toml; a --config file and options "
            f"given here override its settings. {preset_help()}"
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML file of settings (e.g. a run's config.toml)."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run (id, prefix, path, latest).")
    ] = None,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer fills it in
    runs_dir: RunsDir = Path("runs"),
    data_root: DataRoot = Path("data"),
    plain: Plain = False,
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard",
            help="Also write loss/accuracy/lr scalars per epoch to runs/<id>/tensorboard/ "
            "(needs the tensorboard extra).",
        ),
    ] = False,
) -> None:
    """Train a model behind the live dashboard; every run gets its own folder under runs/."""
    given = {k: v for k, v in locals().items() if v is not None}
    overrides = {k: given[k] for k in FIELDS if k in given}
    # Checked before anything heavy is imported: a typo costs no waiting.
    resolved = resolve_config(config, overrides)
    from mnist_tui import training
    from mnist_tui.runs import resolve_run

    resume_run = None
    if resume is not None:
        if config is not None:
            raise MnistError("--resume continues a run with its own config: drop --config.")
        resume_run = resolve_run(resume, runs_dir)
        resolved = training.resume_config(resume_run, overrides)
        data_root = _data_root_for(ctx, data_root, resume_run)

    stop = StopFlag()
    stop.install()
    with train_reporters(plain, tensorboard) as reporters:
        outcome = training.train(
            resolved,
            data_root=data_root,
            runs_dir=runs_dir,
            reporters=reporters,
            should_stop=stop,
            resume=resume_run,
        )
    if outcome.ended.status == "interrupted":
        raise typer.Exit(stop.exit_code)


# --- runs -----------------------------------------------------------------------------------


@app.command("runs")
def list_runs_command(
    runs_dir: RunsDir = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """A table of runs, newest first."""
    import json

    from mnist_tui.runs import list_runs

    records = list_runs(runs_dir)
    if as_json:
        print(json.dumps(records, indent=2))
        return
    if not records:
        print(f"No runs in {runs_dir}: train one with `mnist train`.")
        return
    from mnist_tui.render import damaged_notes, runs_table

    console = output_console()
    console.print(runs_table(records))
    if notes := damaged_notes(records):
        console.print(notes, style="dim", markup=False, highlight=False)


# --- eval -----------------------------------------------------------------------------------


@app.command("eval")
def eval_command(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[RUN]...",
            help="Run id, unique prefix, folder path or `latest` (several with --ensemble).",
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate: test or val.")] = "test",
    ensemble: Annotated[
        bool,
        typer.Option(
            "--ensemble",
            help="Average the probabilities of RUN RUN ...; report the ensemble's accuracy "
            "next to each member's.",
        ),
    ] = False,
    png: Annotated[
        bool, typer.Option("--png", help="Write confusion.png and mistakes.png into the run.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    device: Annotated[
        str | None,
        typer.Option(help="Device to evaluate on. Default: the run's own when present, else cpu."),
    ] = None,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer fills it in
    runs_dir: RunsDir = Path("runs"),
    data_root: DataRoot = Path("data"),
    plain: Plain = False,
) -> None:
    """Accuracy, loss, confusion matrix and per-class scores of a run's best checkpoint."""
    from mnist_tui.evaluation import SPLITS, evaluate_run
    from mnist_tui.runs import resolve_run

    if split not in SPLITS:  # checked before loading anything
        raise MnistError(f"--split {split!r}: choose one of {', '.join(SPLITS)}.")
    if ensemble:
        if png:
            raise MnistError(
                "--png draws one run's confusion matrix and mistakes: drop it for --ensemble."
            )
        _eval_ensemble(ctx, runs or [], split, as_json, device, runs_dir, data_root)
        return
    if runs and len(runs) > 1:
        raise MnistError(
            f"eval takes one run, got {len(runs)}; add --ensemble to evaluate them together."
        )
    folder = resolve_run(runs[0] if runs else None, runs_dir)
    data_root = _data_root_for(ctx, data_root, folder)
    with _eval_progress(live=sys.stderr.isatty() and not plain, what=f"{split} split") as tick:
        evaluation = evaluate_run(folder, split, data_root, device, on_batch=tick)
    report = evaluation.report
    if png:
        from mnist_tui.eval_pngs import write_eval_pngs

        written = write_eval_pngs(folder, evaluation)
        if not as_json:
            print("wrote " + ", ".join(str(p) for p in written))
    if as_json:
        import json

        print(json.dumps(report.to_json(), indent=2))
        return
    from mnist_tui.eval_view import eval_view

    output_console().print(eval_view(report))


def _eval_ensemble(
    ctx: typer.Context,
    runs: list[str],
    split: str,
    as_json: bool,
    device: str | None,
    runs_dir: Path,
    data_root: Path,
) -> None:
    """`mnist eval --ensemble RUN RUN ...`: the averaged probabilities' accuracy."""
    from mnist_tui.ensemble import evaluate_ensemble
    from mnist_tui.runs import resolve_run

    folders = [resolve_run(run, runs_dir) for run in runs]
    if folders:  # members share a dataset; the first one's folder stands for all
        data_root = _data_root_for(ctx, data_root, folders[0])
    report = evaluate_ensemble(folders, split, data_root, device).to_json()
    if as_json:
        import json

        print(json.dumps(report, indent=2))
        return
    from mnist_tui.render import ensemble_table

    output_console().print(ensemble_table(report))


def _eval_progress(live: bool, what: str) -> Any:
    """A transient Rich bar on stderr (only on a terminal) fed `(done, total)`."""
    import contextlib

    @contextlib.contextmanager
    def bar() -> Any:
        if not live:
            yield None
            return
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(f"evaluating {what}", total=None)
            yield lambda done, total: progress.update(task, completed=done, total=total)

    return bar()


# --- predict --------------------------------------------------------------------------------


@app.command()
def predict(
    images: Annotated[
        list[str], typer.Argument(help="Image files, folders or globs (PNG, JPEG, BMP, ...).")
    ],
    run: Annotated[
        str | None, typer.Option(help="Run whose checkpoint predicts (id, prefix, path, latest).")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="How many classes to show.")] = 3,
    invert: Annotated[
        bool | None,
        typer.Option(
            "--invert/--no-invert",
            help="Force the polarity: --invert for dark ink on light paper. Default: judged "
            "from each image.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="An exported model instead of a run: an `mnist export` folder, a TorchScript "
            ".pt file or an .onnx file.",
        ),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Which digit is this? Preprocesses each image the MNIST way and shows what the model saw."""
    from mnist_tui import predict as predicting
    from mnist_tui.runs import resolve_run

    if model is not None and run is not None:
        raise MnistError("Give --run or --model, not both.")
    if model is not None:
        from mnist_tui.exported import classifier_from_export

        classifier = classifier_from_export(model)
    else:
        classifier = predicting.classifier_from_run(resolve_run(run, runs_dir))
    top_k = predicting.check_top_k(top_k, len(classifier.classes))
    paths, failures = predicting.expand_inputs(images)
    prepared, bad_images = predicting.prepare_all(paths, invert)
    failures += bad_images
    for failure in failures:
        stderr_line(failure.message)
    results = predicting.predict(classifier, prepared, top_k)
    if as_json:
        import json

        print(json.dumps([r.to_json() for r in results], indent=2))
    elif results:
        from mnist_tui.predict_view import predictions_view

        output_console().print(predictions_view(results))
    if failures:
        raise typer.Exit(1)


# --- inspect --------------------------------------------------------------------------------


@app.command("inspect")
def inspect_command(
    layer: Annotated[
        str | None,
        typer.Argument(help="Layer to look at (conv1, fc1, a.nested.name). None: a summary."),
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="Run to inspect (id, prefix, path, latest).")
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(help="Show the layer's output (feature maps) for this image file."),
    ] = None,
    invert: Annotated[
        bool | None,
        typer.Option(
            "--invert/--no-invert",
            help="With --image: force the polarity, as in `mnist predict`. Default: judged.",
        ),
    ] = None,
    in_channel: Annotated[
        int | None,
        typer.Option(help="Kernels of this input channel only (default: averaged over all)."),
    ] = None,
    all_inputs: Annotated[
        bool, typer.Option("--all", help="Kernels of every input channel, one tile each.")
    ] = False,
    png: Annotated[
        Path | None, typer.Option(help="Also save the picture as this PNG file (matplotlib).")
    ] = None,
    png_only: Annotated[
        bool, typer.Option("--png-only", help="Save the --png file without the terminal view.")
    ] = False,
    random: Annotated[
        bool,
        typer.Option("--random", help="Inspect an untrained, randomly initialised model."),
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Architecture of the --random model (default simple_cnn).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random initialisation.")] = 42,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Look inside a model: a summary, a layer's kernels, or its feature maps for an image."""
    if png_only and png is None:
        raise MnistError("--png-only needs --png FILE.")
    from rich.console import Console

    from mnist_tui.inspecting import InspectRequest, inspect

    console = Console()
    request = InspectRequest(
        layer=layer,
        run=run,
        runs_dir=runs_dir,
        image=image,
        invert=invert,
        png=png,
        show=not png_only,
        in_channel=in_channel,
        all_inputs=all_inputs,
        random=random,
        model_name=model,
        seed=seed,
        width=console.width,
    )
    for part in inspect(request):
        console.print(part)


# --- export -------------------------------------------------------------------------------

EXPORT_FORMATS = ("bundle", "torchscript", "onnx", "all")


@app.command("export")
def export_command(
    run: Annotated[
        str | None, typer.Argument(help="Run id, unique prefix, folder or latest (default).")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="bundle (folder: weights, TorchScript, labels, preprocessing, config, model "
            "card), torchscript (model.pt), onnx (model.onnx) or all (bundle + model.onnx).",
        ),
    ] = "bundle",
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export into.")] = ...,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the export in a non-empty --out folder.")
    ] = False,
    check_images: Annotated[
        int | None,
        typer.Option(help="Test images the load-back check compares on (default: all)."),
    ] = None,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer fills it in
    runs_dir: RunsDir = Path("runs"),
    data_root: DataRoot = Path("data"),
) -> None:
    """Export a run's model for other programs; each file is loaded back and checked."""
    if fmt not in EXPORT_FORMATS:
        raise MnistError(f"--format {fmt!r} is not one of: {', '.join(EXPORT_FORMATS)}.")
    from mnist_tui.export import export_run, report_lines
    from mnist_tui.runs import resolve_run

    folder = resolve_run(run, runs_dir)
    result = export_run(
        folder,
        fmt,
        out,
        data_root=_data_root_for(ctx, data_root, folder),
        force=force,
        check_images=check_images,
    )
    print("\n".join(report_lines(result)))


# --- entry point ----------------------------------------------------------------------------


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
