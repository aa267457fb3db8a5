"""`mnist train --nproc N` and torchrun: the launcher, and what one rank of the job does.

The data-parallel work itself (process group, global-batch slices, reduced metrics) is in
mnist_tui.train.distributed; this module turns the command line into that job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from mnist_tui.cli.app import data_root_for, is_interactive
from mnist_tui.errors import MnistError
from mnist_tui.train.reporters import choose_reporters
from mnist_tui.train.stop import StopFlag

_LAUNCH_OPTIONS = ("nproc", "nnodes", "rdzv_endpoint", "rdzv_timeout")


def under_torchrun() -> bool:
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


def recorded_nproc(resume: str, runs_dir: Path) -> int | None:
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


def launch(
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


def train_rank(
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
