"""`mnist train`: options, signals, reporters; the work is in mnist_tui.train."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

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
    if _under_torchrun():
        _train_rank(
            ctx, resolved, overrides, config, resume, runs_dir, data_root, plain, tensorboard
        )
        return
    if resume is not None and nproc is None and nnodes == 1:
        nproc = _recorded_nproc(resume, runs_dir)
    if nproc is not None and (nproc > 1 or nnodes > 1):
        _launch(ctx, resolved, nproc, nnodes, rdzv_endpoint, rdzv_timeout, resume, runs_dir)
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


# --- data-parallel: the launcher and one rank ---------------------------------------------

_LAUNCH_OPTIONS = ("nproc", "nnodes", "rdzv_endpoint", "rdzv_timeout")


def _under_torchrun() -> bool:
    """Started by torchrun or by `mnist train --nproc` (torch's env:// settings present)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def _worker_args(ctx: typer.Context) -> list[str]:
    """This command line again for the workers, without the launcher's own options."""
    args: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        if name in _LAUNCH_OPTIONS or source is None or source.name == "DEFAULT":
            continue
        value = ctx.params[name]
        if getattr(param, "is_flag", False):
            secondary = getattr(param, "secondary_opts", [])
            if value:
                args.append(param.opts[0])
            elif secondary:
                args.append(secondary[0])
            continue
        args += [param.opts[0], str(value)]
    return args


def _recorded_nproc(resume: str, runs_dir: Path) -> int | None:
    """The processes a data-parallel run was trained with (resumed with as many)."""
    from mnist_tui.runs.folders import resolve_run

    table = resolve_run(resume, runs_dir).read_config().get("distributed")
    if not isinstance(table, dict) or int(table.get("world_size", 1)) <= 1:
        return None
    if int(table.get("nodes", 1)) > 1:
        raise MnistError(
            f"Run {resume} was trained on {table['nodes']} machines: resume it with the "
            "command that started it (mnist train --nproc --nnodes, or torchrun) on every "
            "machine, adding --resume RUN."
        )
    return int(table["world_size"])


def _check_resume_world(run: Any, world_size: int) -> None:
    table = run.read_config().get("distributed")
    recorded = int(table.get("world_size", 1)) if isinstance(table, dict) else 1
    if recorded != world_size:
        how = (
            f"`mnist train --nproc {recorded} --resume {run.id}` (or the same torchrun command)"
            if recorded > 1
            else f"`mnist train --resume {run.id}`, without --nproc"
        )
        raise MnistError(
            f"Run {run.id} was trained with {recorded} process(es), not {world_size}: "
            f"resume it with {how}."
        )


def _launch(
    ctx: typer.Context,
    resolved: Any,
    nproc: int,
    nnodes: int,
    rdzv_endpoint: str | None,
    rdzv_timeout: int,
    resume: str | None,
    runs_dir: Path,
) -> None:
    """The parent of `mnist train --nproc N`: checks first, then torch's elastic agent."""
    # Read when torch loads (here and in the workers): the store's C++ retry warnings
    # would bury the one line a failed rendezvous or a lost rank comes down to.
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    if nnodes > 1 and rdzv_endpoint is None:
        raise MnistError("--nnodes 2 or more needs --rdzv-endpoint HOST:PORT of the first machine.")
    if rdzv_endpoint is not None and not rdzv_endpoint.rpartition(":")[2].isdigit():
        raise MnistError(f"--rdzv-endpoint {rdzv_endpoint!r} must be HOST:PORT.")
    if resume is not None:
        from mnist_tui.errors import RunError
        from mnist_tui.runs.folders import resolve_run

        try:
            _check_resume_world(resolve_run(resume, runs_dir), nproc * nnodes)
        except RunError:
            if nnodes == 1:
                raise
            # Another machine's job: the run folder is on the first one, whose rank 0 checks.
    from mnist_tui.config import validate
    from mnist_tui.models.architectures import model_names

    validate(resolved, model_names())  # a wrong value is said once, not once per rank
    import torch

    from mnist_tui.train.devices import resolve_device

    device = resolve_device(resolved.device)
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise MnistError(
            f"--nproc {nproc} on CUDA needs a GPU per process; this machine has "
            f"{torch.cuda.device_count()}: use --nproc {torch.cuda.device_count()} or --device cpu."
        )
    if device.type not in ("cpu", "cuda"):
        raise MnistError(f"--device {resolved.device}: data-parallel training runs on cpu or cuda.")
    from mnist_tui.train import distributed

    code = distributed.launch(
        nproc,
        _worker_args(ctx),
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        rdzv_timeout=rdzv_timeout,
    )
    if code:
        raise typer.Exit(code)


def _train_rank(
    ctx: typer.Context,
    resolved: Any,
    overrides: dict[str, Any],
    config: Path | None,
    resume: str | None,
    runs_dir: Path,
    data_root: Path,
    plain: bool,
    tensorboard: bool,
) -> None:
    """One rank of a data-parallel job: rank 0 resolves the run and reports, others follow."""
    from mnist_tui.runs.folders import resolve_run
    from mnist_tui.train import distributed
    from mnist_tui.train import run as training

    cluster = distributed.setup(resolved.device)
    stop = StopFlag(quiet=not cluster.is_main, quiet_on_term=cluster.launched_by_mnist)
    stop.install()
    agreed = cluster.agreed(stop)
    try:
        resume_run = None
        if cluster.is_main and resume is not None:
            if config is not None:
                raise MnistError("--resume continues a run with its own config: drop --config.")
            resume_run = resolve_run(resume, runs_dir)
            _check_resume_world(resume_run, cluster.world_size)
            resolved = training.resume_config(resume_run, overrides)
            data_root = data_root_for(ctx, data_root, resume_run)
        # Rank 0's settings for everyone (a resumed run's own config.toml, its data folder),
        # or None when rank 0 refused: it says why, the others stop quietly.
        shared = cluster.share((resolved, str(data_root)))
        if not cluster.is_main:
            resolved = shared[0]
            if ctx.get_parameter_source("data_root").name == "DEFAULT":
                data_root = Path(shared[1])
        if cluster.is_main:
            with choose_reporters(
                live=is_interactive() and not plain, tensorboard=tensorboard
            ) as reporters:
                training.train(
                    resolved,
                    data_root=data_root,
                    runs_dir=runs_dir,
                    reporters=[*reporters, distributed.RunNote()],
                    should_stop=agreed,
                    resume=resume_run,
                    cluster=cluster,
                )
        else:
            training.train(
                resolved,
                data_root=data_root,
                runs_dir=runs_dir,
                reporters=[],
                should_stop=agreed,
                cluster=cluster,
            )
    except MnistError as e:
        _fail(cluster, e, e.exit_code, str(e))
    except Exception as e:
        if not distributed.is_peer_loss(e):
            raise
        _fail(
            cluster,
            e,
            distributed.PEER_LOST_EXIT,
            "Lost contact with another rank of the job (it stopped or was killed): every "
            f"rank stops; {'the run is marked failed and ' if cluster.is_main else ''}"
            "its last saved epoch can be resumed with --resume RUN.",
            peer_loss=True,
        )
    finally:
        cluster.close()
    if agreed.stopped:  # on every rank, wherever the signal landed
        raise typer.Exit(stop.exit_code)


def _fail(cluster: Any, error: Exception, code: int, line: str, peer_loss: bool = False) -> None:
    """The first rank to fail says why in one line; the others exit quietly."""
    quiet = peer_loss and cluster.launched_by_mnist  # the launcher names the dead rank
    if not quiet and cluster.first_to_fail():
        prefix = "" if cluster.is_main else f"rank {cluster.rank}: "
        error = MnistError(prefix + line)
        error.exit_code = code
        raise error from None
    raise typer.Exit(code)
