"""`mnist train`: options, signals, reporters; the work is in mnist_tui.train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli import train_parallel as parallel
from mnist_tui.cli import training_options as options
from mnist_tui.cli.app import (
    DataRoot,
    Plain,
    RunsDir,
    app,
    choices_epilog,
    data_root_for,
    is_interactive,
)
from mnist_tui.config import FIELDS, help_for, resolve_config
from mnist_tui.errors import MnistError
from mnist_tui.models.catalog import MODEL_SUMMARIES
from mnist_tui.presets import PRESETS
from mnist_tui.train.reporters import choose_reporters
from mnist_tui.train.stop import StopFlag

# The long lists of choices go below the options, once, so the options stay readable.
TRAIN_EPILOG = "\n\n".join(
    [
        choices_epilog("Models", MODEL_SUMMARIES),
        choices_epilog("Presets", {n: p.description for n, p in PRESETS.items()}),
    ]
)


@app.command(epilog=TRAIN_EPILOG)
def train(
    model: Annotated[str | None, typer.Option(help=help_for("model", "See Models below."))] = None,
    dataset: options.DatasetOption = None,
    epochs: options.EpochsOption = None,
    batch_size: options.BatchSizeOption = None,
    lr: options.LrOption = None,
    momentum: options.MomentumOption = None,
    beta2: options.Beta2Option = None,
    weight_decay: options.WeightDecayOption = None,
    optimizer: options.OptimizerOption = None,
    scheduler: options.SchedulerOption = None,
    patience: options.PatienceOption = None,
    val_size: options.ValSizeOption = None,
    label_smoothing: options.LabelSmoothingOption = None,
    augment: options.AugmentOption = None,
    seed: options.SeedOption = None,
    deterministic: options.DeterministicOption = None,
    device: options.DeviceOption = None,
    precision: options.PrecisionOption = None,
    name: options.NameOption = None,
    ema: options.EmaOption = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Named recipe (see Presets below), expanded into config.toml; a --config "
            "file and options given here override its settings."
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
    nproc: Annotated[
        int | None,
        typer.Option(
            "--nproc",
            min=1,
            help="Data-parallel: start this many processes on this machine (one per GPU on "
            "CUDA, gloo on the CPU); --batch-size stays the global batch.",
        ),
    ] = None,
    nnodes: Annotated[
        int,
        typer.Option(
            "--nnodes", min=1, help="With --nproc: machines in the job (each runs this command)."
        ),
    ] = 1,
    rdzv_endpoint: Annotated[
        str | None,
        typer.Option(
            "--rdzv-endpoint",
            metavar="HOST:PORT",
            help="With --nnodes: the rendezvous on the first machine, the same on every one.",
        ),
    ] = None,
    rdzv_timeout: Annotated[
        int,
        typer.Option("--rdzv-timeout", min=1, help="Seconds to wait for every machine to join."),
    ] = 600,
) -> None:
    """Train a model behind the live dashboard; every run gets its own folder under runs/."""
    given = {k: v for k, v in locals().items() if v is not None}
    overrides = {k: given[k] for k in FIELDS if k in given}
    # Checked before anything heavy is imported: a typo costs no waiting.
    resolved = resolve_config(config, overrides)
    if parallel.under_torchrun():
        parallel.train_rank(
            ctx, resolved, overrides, config, resume, runs_dir, data_root, plain, tensorboard
        )
        return
    if resume is not None and nproc is None and nnodes == 1:
        nproc = parallel.recorded_nproc(resume, runs_dir)
    if nproc is not None and (nproc > 1 or nnodes > 1):
        parallel.launch(ctx, resolved, nproc, nnodes, rdzv_endpoint, rdzv_timeout, resume, runs_dir)
        return
    if nnodes > 1 or rdzv_endpoint is not None:
        raise MnistError(
            "--nnodes and --rdzv-endpoint are for data-parallel jobs: give --nproc N "
            "(processes per machine, 2 or more on one machine)."
        )
    from mnist_tui.runs.folders import resolve_run
    from mnist_tui.train import run as training

    resume_run = None
    if resume is not None:
        if config is not None:
            raise MnistError("--resume continues a run with its own config: drop --config.")
        resume_run = resolve_run(resume, runs_dir)
        resolved = training.resume_config(resume_run, overrides)
        data_root = data_root_for(ctx, data_root, resume_run)

    stop = StopFlag()
    stop.install()
    with choose_reporters(
        live=is_interactive() and not plain, tensorboard=tensorboard
    ) as reporters:
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
