"""`mnist sweep` (start, --join, --resume) and `mnist sweep show NAME`; work in mnist_tui.sweep."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from mnist_tui.cli import training_options as options
from mnist_tui.cli.app import DataRoot, Plain, RunsDir, app, is_interactive, output_console
from mnist_tui.cli.train import StopFlag
from mnist_tui.config import FIELDS, help_for, resolve_config, validate
from mnist_tui.errors import ConfigError, MnistError
from mnist_tui.models.catalog import MODEL_SUMMARIES, models_help
from mnist_tui.presets import preset_help

sweep_app = typer.Typer(
    help="Search hyperparameters with Optuna; every trial is an ordinary run folder. "
    "Example: mnist sweep --name lr-batch --param lr=1e-3..1e-1:log "
    "--param batch_size=64,128,256 --trials 20 --epochs 5. "
    "`mnist sweep show NAME` shows a sweep's trials, best and importances.",
    no_args_is_help=False,
)
app.add_typer(
    sweep_app,
    name="sweep",
    short_help="Hyperparameter search on Optuna, each trial a run folder; `sweep show NAME`.",
)

Storage = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Where the study lives: sqlite:///FILE (default: sweeps.db in the runs folder) "
        "or postgresql://USER@HOST[:PORT]/DB for workers on several machines. Never put a "
        "password in it: libpq reads PGPASSWORD or ~/.pgpass.",
    ),
]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_duration(text: str) -> float:
    """`90`, `90s`, `30m`, `2h` -> seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"--timeout {text!r}: give a duration such as 600, 90s, 30m or 2h.")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _storage_url(storage: str | None, runs_dir: Path) -> str:
    from mnist_tui.sweep.storage import check_url, default_url

    return check_url(storage) if storage is not None else default_url(runs_dir)


def _check_data(data_root: Path, dataset: str) -> None:
    """Missing data fails every trial: say so once, before a study exists."""
    from mnist_tui.data.files import verify_installed
    from mnist_tui.data.specs import DATASETS

    verify_installed(data_root, DATASETS[dataset])


@sweep_app.callback(invoke_without_command=True)
def sweep(
    ctx: typer.Context,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=SPEC",
            help="A searched setting: LOW..HIGH, LOW..HIGH:log, LOW..HIGH:STEP or A,B,C "
            "(e.g. lr=1e-3..1e-1:log, batch_size=64,128,256). Repeatable.",
        ),
    ] = None,
    space: Annotated[
        Path | None,
        typer.Option("--space", help="TOML file of searched settings, in a params table."),
    ] = None,
    sweep_name: Annotated[
        str | None, typer.Option("--name", help="Name of the sweep (default: sweep-<time>).")
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(min=1, help="Number of trials (default: 20; grid: every combination)."),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(help="Start no new trial after this long (600, 90s, 30m, 2h)."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes on this machine; the CPU threads are shared out."
        ),
    ] = 1,
    sampler: Annotated[str, typer.Option(help="tpe, random or grid (each combination once).")] = (
        "tpe"
    ),
    pruner: Annotated[
        str, typer.Option(help="median (stop trials behind the median epoch by epoch) or none.")
    ] = "median",
    storage: Storage = None,
    join: Annotated[
        str | None,
        typer.Option(help="Add workers to the sweep NAME (space and settings from the study)."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Carry on the sweep NAME up to its trial count.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help=help_for("model", f"Models: {models_help()}."))
    ] = None,
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
    ema: options.EmaOption = None,
    preset: Annotated[
        str | None, typer.Option(help=f"Named recipe for the fixed settings. {preset_help()}")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML file of fixed settings (e.g. a run's config.toml)."),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
    data_root: DataRoot = Path("data"),
    plain: Plain = False,
) -> None:
    """Search hyperparameters with Optuna; every trial is an ordinary run folder.

    Example: mnist sweep --name lr-batch --param lr=1e-3..1e-1:log
    --param batch_size=64,128,256 --trials 20 --epochs 5
    """
    if ctx.invoked_subcommand is not None:
        return
    given = {k: v for k, v in locals().items() if v is not None}
    overrides = {k: given[k] for k in FIELDS if k in given}
    deadline = time.monotonic() + parse_duration(timeout) if timeout is not None else None
    url = _storage_url(storage, runs_dir)
    existing = join or resume
    if join and resume:
        raise ConfigError("--join and --resume both name a sweep: give one.")
    if existing is not None:
        extra = [f"--{k.replace('_', '-')}" for k in overrides]
        extra += [
            o
            for o, v in (
                ("--param", param),
                ("--space", space),
                ("--config", config),
                ("--name", sweep_name),
            )
            if v
        ]
        extra += [
            o
            for o, v in (
                ("--trials", trials),
                ("--sampler", sampler != "tpe" or None),
                ("--pruner", pruner != "median" or None),
            )
            if v
        ]
        if extra:
            raise ConfigError(
                f"{'--join' if join else '--resume'} takes the search and its settings from "
                f"the study: drop {', '.join(extra)}."
            )
        from mnist_tui.sweep.storage import open_storage
        from mnist_tui.sweep.study import load_study

        study, plan = load_study(existing, open_storage(url, create=False))
        recorded = Path(plan.data_root) if plan.data_root else None
        # Another machine's folder may not exist here: then --root's default stands.
        if (
            ctx.get_parameter_source("data_root").name == "DEFAULT"
            and recorded
            and recorded.is_dir()
        ):
            data_root = recorded
    else:
        study, plan = _new_study(
            param or [],
            space,
            sweep_name,
            trials,
            sampler,
            pruner,
            config,
            overrides,
            url,
            runs_dir,
            data_root,
        )
    _check_data(data_root, plan.base.get("dataset", "mnist"))
    stop = StopFlag()
    stop.install()
    session = Session(study, plan, url, storage is not None, runs_dir, data_root, deadline, stop)
    session.live = not plain and is_interactive()
    interrupted = _run_processes(session, jobs) if jobs > 1 else _run_here(session)
    _finish(session, interrupted)
    if interrupted:
        raise typer.Exit(stop.exit_code)


@dataclass
class Session:
    """One `mnist sweep` invocation: the study, where runs and data are, when to stop."""

    study: Any
    plan: Any  # sweep.study.SweepPlan, imported lazily
    url: str
    url_given: bool
    runs_dir: Path
    data_root: Path
    deadline: float | None
    stop: StopFlag
    live: bool = False


def _new_study(
    params: list[str],
    space_file: Path | None,
    name: str | None,
    trials: int | None,
    sampler: str,
    pruner: str,
    config_file: Path | None,
    overrides: dict[str, Any],
    url: str,
    runs_dir: Path,
    data_root: Path,
) -> tuple[Any, Any]:
    """Check everything (space, settings, choices) and only then create the study."""
    from mnist_tui.runs.folders import utc_now
    from mnist_tui.sweep.space import build_space
    from mnist_tui.sweep.study import (
        SweepPlan,
        base_settings,
        check_choices,
        check_name,
        create_study,
        default_trials,
    )

    space = build_space(params, space_file)
    both = [p.name for p in space if p.name in overrides]
    if both:
        option = "--" + both[0].replace("_", "-")
        raise ConfigError(f"{option} is both fixed and searched (--param {both[0]}=...): give one.")
    resolved = resolve_config(config_file, overrides)
    validate(resolved, list(MODEL_SUMMARIES))
    check_choices(sampler, pruner, space)
    name = check_name(name or f"sweep-{utc_now():%Y%m%d-%H%M%S}")
    target = default_trials(sampler, space, trials)
    if sampler == "grid":
        from mnist_tui.sweep.space import grid_size

        target = min(target, grid_size(space))  # a grid point runs once
    _check_data(data_root, resolved.dataset)
    plan = SweepPlan(
        name=name,
        space=space,
        base=base_settings(resolved, space),
        trials=target,
        sampler=sampler,
        pruner=pruner,
        data_root=str(Path(data_root).resolve()),
    )
    from mnist_tui.sweep.storage import open_storage

    return create_study(plan, open_storage(url)), plan


def _monitor(session: Session) -> Any:
    from mnist_tui.sweep.view import SweepMonitor

    plan = session.plan
    epochs = int(plan.base.get("epochs", FIELDS["epochs"].default))
    names = [p.name for p in plan.space]
    return SweepMonitor(session.study, plan.name, names, epochs, plan.trials, session.live)


def _run_here(session: Session) -> bool:
    """One worker in this process; the view refreshes at every epoch."""
    from mnist_tui.sweep.worker import run_worker

    with _monitor(session) as monitor:
        result = run_worker(
            session.study,
            session.plan,
            data_root=session.data_root,
            runs_dir=session.runs_dir,
            should_stop=session.stop,
            deadline=session.deadline,
            on_change=monitor.refresh,
        )
    return result.interrupted


def _run_processes(session: Session, jobs: int) -> bool:
    """`jobs` worker processes (`mnist sweep --join`), sharing this machine's threads.

    The same command a worker on another machine runs; this process only shows the view.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // jobs)
    logs = Path(session.runs_dir) / ".sweeps" / session.plan.name
    try:
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MnistError(f"Cannot create {logs}: {e.strerror or e}.") from None
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [
        *[sys.executable, "-m", "mnist_tui", "sweep", "--join", session.plan.name],
        *["--storage", session.url, "--runs-dir", str(session.runs_dir)],
        *["--root", str(session.data_root), "--plain"],
    ]
    children: list[tuple[subprocess.Popen, Path]] = []
    for k in range(1, jobs + 1):
        extra = []
        if session.deadline is not None:
            extra = ["--timeout", f"{max(1.0, session.deadline - time.monotonic()):.0f}"]
        log = logs / f"worker-{k}.log"
        with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
            child = subprocess.Popen([*command, *extra], stdout=out, stderr=out, env=env)
        children.append((child, log))
        time.sleep(0.5)  # staggered: fewer workers asking the sampler at the same moment
    forwarded = False
    with _monitor(session) as monitor:
        while any(child.poll() is None for child, _ in children):
            if session.stop() and not forwarded:
                # Ctrl-C reaches the children from the terminal too; a SIGTERM does not.
                for child, _ in children:
                    if child.poll() is None:
                        child.send_signal(session.stop.signal or signal.SIGINT)
                forwarded = True
            monitor.refresh()
            time.sleep(1.0)
    failed = [(log, c.returncode) for c, log in children if c.returncode not in (0, 130, 143)]
    if failed and not session.stop():
        log, code = failed[0]
        raise MnistError(f"A worker stopped with exit code {code}: {_last_line(log)} ({log}).")
    return bool(session.stop()) or any(c.returncode in (130, 143) for c, _ in children)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return (lines[-1] if lines else "no output").removeprefix("mnist: error: ")


def _finish(session: Session, interrupted: bool) -> None:
    from mnist_tui.sweep.view import best_line, best_record, progress_line, trial_records

    plan = session.plan
    records = trial_records(session.study)
    console = output_console()
    if not session.live:
        print(progress_line(records, plan.trials))
        print(best_line(records))
    best = best_record(records)
    if best is not None and best.get("run_dir"):
        again = Path(best["run_dir"]) / "config.toml"
        console.print(f"Train the best again: mnist train --config {again}", markup=False)
    from mnist_tui.sweep.png import default_png, write_sweep_png

    try:  # a plot that cannot be written loses nothing: the trials are in the study
        png = write_sweep_png(session.study, plan, default_png(session.runs_dir, plan.name))
        console.print(f"Plot: {png}", markup=False)
    except MnistError as e:
        print(f"mnist: warning: {e}", file=sys.stderr)
    where = f" --storage {session.url}" if session.url_given else ""
    where += f" --runs-dir {session.runs_dir}" if str(session.runs_dir) != "runs" else ""
    if interrupted:
        print(
            "Stopped; finished trials are kept. Carry on with: "
            f"mnist sweep --resume {plan.name}{where}",
            file=sys.stderr,
        )
    else:
        console.print(f"Details: mnist sweep show {plan.name}{where}", markup=False)


@sweep_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The sweep's name.")],
    storage: Storage = None,
    runs_dir: RunsDir = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    png: Annotated[
        Path | None,
        typer.Option(
            "--png",
            help="Write sweep.png (history, one panel per parameter) to FILE (a folder: "
            "FILE/sweep.png). A sweep writes runs/.sweeps/NAME/sweep.png when it ends.",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """A sweep's trials, its best trial (and the command that trains it again), importances."""
    import json

    from mnist_tui.sweep.report import sweep_report
    from mnist_tui.sweep.storage import open_storage
    from mnist_tui.sweep.study import load_study

    url = _storage_url(storage, runs_dir)
    study, plan = load_study(name, open_storage(url, create=False))
    report = sweep_report(study, plan, url)
    if png is not None:
        from mnist_tui.sweep.png import write_sweep_png

        written = write_sweep_png(study, plan, png)
        print(f"wrote {written}", file=sys.stderr if as_json else sys.stdout)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    from mnist_tui.sweep.report import report_view

    output_console().print(report_view(report))
