"""One `mnist train` run end to end: data, model, run folder, loop, summary, curves.

The CLI resolves options and picks reporters; this module composes the pieces.
"""

from __future__ import annotations

import contextlib
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mnist_tui import __version__
from mnist_tui.config import FIELDS, TrainConfig, apply_overrides, validate
from mnist_tui.data.tensors import DataBundle, load_data
from mnist_tui.errors import (
    ConfigError,
    MnistError,
    RunError,
    RunWriteError,
    brief,
)
from mnist_tui.fsutil import remove_stale_temporaries
from mnist_tui.models import checkpoints
from mnist_tui.models.architectures import build_model, count_parameters, model_names
from mnist_tui.runs.folders import (
    FINISHED,
    RunFolder,
    create_run,
    effective_status,
    iso,
    resume_command,
    utc_now,
    write_error,
)
from mnist_tui.train.devices import fast_layout, resolve_device, resolve_precision, seed_everything
from mnist_tui.train.events import (
    Callback,
    CallbackList,
    EpochEnded,
    RunEnded,
    RunStarted,
    history_from_rows,
)
from mnist_tui.train.loop import Trainer, run_ended
from mnist_tui.train.recorder import RunRecorder
from mnist_tui.train.schedules import ScheduleChange

if TYPE_CHECKING:
    from mnist_tui.train.distributed import Cluster

#: Settings a resumed run may change: they do not change what the run computes.
RESUMABLE_OVERRIDES = frozenset({"epochs", "patience", "device", "precision"})


class RunCheckpoints:
    """The CheckpointStore of a run folder: checkpoint.pt (best) and last.pt (state)."""

    def __init__(self, run: RunFolder, config: TrainConfig, data: DataBundle) -> None:
        self.run = run
        self.config = config
        self.data = data

    def save_best(self, state_dict: dict[str, torch.Tensor], epoch: int, val_acc: float) -> None:
        spec = self.data.spec
        checkpoint = checkpoints.make_checkpoint(
            model_name=self.config.model,
            model_args={},
            classes=list(spec.classes),
            mean=spec.mean,
            std=spec.std,
            state_dict=state_dict,
            epoch=epoch,
            val_acc=val_acc,
            dataset=spec.name,
            config=self.config.to_dict(),
        )
        self._save(checkpoint, self.run.checkpoint)

    def save_last(self, state: dict[str, Any]) -> None:
        self._save(state, self.run.last)

    def _save(self, obj: dict[str, Any], path: Path) -> None:
        try:
            checkpoints.save(obj, path)
        except OSError as e:
            raise write_error(e, self.run) from None


@dataclass
class TrainOutcome:
    run: RunFolder
    ended: RunEnded


def config_document(
    config: TrainConfig,
    run: RunFolder,
    data: DataBundle,
    device: torch.device,
    precision: str,
    data_root: Path,
    tags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """config.toml: the resolved settings plus what makes the run reproducible."""
    return {
        "train": config.to_dict(),
        "run": {"id": run.id, "created": iso(utc_now()), "mnist_tui": __version__, **(tags or {})},
        "environment": {
            "torch": str(torch.__version__),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or platform.machine(),
            "precision": precision,
            "threads": torch.get_num_threads(),
            "command": " ".join(["mnist", *sys.argv[1:]]),
        },
        "data": {
            "dataset": data.spec.name,
            "root": str(Path(data_root).resolve()),  # absolute: --resume works from anywhere
            "train_size": len(data.train),
            "val_size": len(data.val),
            "test_size": len(data.test),
            "split_seed": config.seed,
            "mean": data.spec.mean,
            "std": data.spec.std,
            "md5": data.md5,
        },
    }


def resume_config(run: RunFolder, overrides: dict[str, Any]) -> TrainConfig:
    """The run's own config with only the safe overrides applied."""
    stored = run.read_config().get("train", {})
    if not isinstance(stored, dict):
        raise RunError(f"{run.config} has no [train] table: the run folder is damaged.")
    # The allowed changes replace stored values before those are checked, so a run made
    # under older limits (say epochs = 1000000) can still be resumed with a valid --epochs.
    safe = {k: v for k, v in overrides.items() if k in RESUMABLE_OVERRIDES}
    config = apply_overrides(TrainConfig(), {**stored, **safe}, str(run.config))
    refused = sorted(
        k
        for k, v in overrides.items()
        if k in FIELDS and k not in RESUMABLE_OVERRIDES and getattr(config, k) != v
    )
    if refused:
        options = ", ".join("--" + k.replace("_", "-") for k in refused)
        raise ConfigError(
            f"Cannot change {options} when resuming {run.id}: it would be a different run. "
            f"Only {', '.join('--' + k for k in sorted(RESUMABLE_OVERRIDES))} may change; "
            "start a new run with `mnist train --config "
            f"{run.config}` instead."
        )
    return config


def train(
    config: TrainConfig,
    *,
    data_root: Path,
    runs_dir: Path,
    reporters: list[Callback],
    should_stop: Callable[[], bool] = lambda: False,
    resume: RunFolder | None = None,
    tags: dict[str, Any] | None = None,
    cluster: Cluster | None = None,
) -> TrainOutcome | None:
    """Train one run (new, or resumed from `resume`) and return how it ended.

    The run folder is claimed (its lock held) before anything else and for the run's
    whole life: two resumes of one run never both write it. `tags` (a sweep's name and
    trial number) go into config.toml's [run] and summary.toml. Data-parallel
    (`cluster`): every rank trains; rank 0 alone owns the run folder, its reporters and
    checkpoints (and is given `resume`), and the others return None.
    """
    with contextlib.ExitStack() as held:
        if resume is not None:
            held.enter_context(resume.claim())
        return _train(
            config, data_root, runs_dir, reporters, should_stop, resume, tags, cluster, held
        )


def _train(
    config: TrainConfig,
    data_root: Path,
    runs_dir: Path,
    reporters: list[Callback],
    should_stop: Callable[[], bool],
    resume: RunFolder | None,
    tags: dict[str, Any] | None,
    cluster: Cluster | None,
    held: contextlib.ExitStack,
) -> TrainOutcome | None:
    validate(config, model_names())
    device = cluster.device if cluster else resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    state = resumable_state(resume) if resume is not None else None
    if cluster is not None:
        state = cluster.resume_state(state)

    seed_everything(config.seed, config.deterministic)
    data = load_data(data_root, config.dataset, config.val_size, config.seed, device)
    model = build_model(config.model, num_classes=len(data.spec.classes)).to(device)
    model = fast_layout(model, device)
    if cluster is not None:
        cluster.check_batches(len(data.train), config.batch_size)
        cluster.seed_rank(config.seed)
    if cluster is not None and not cluster.is_main:
        return _follow(model, data, config, precision, should_stop, state, cluster)

    run = resume or create_run(runs_dir, config.name or config.model)
    if resume is None:
        held.enter_context(run.claim())
        document = config_document(config, run, data, device, precision, data_root, tags)
        if cluster is not None:
            document["distributed"] = cluster.describe()
        run.write_toml(run.config, document)
    recorder = RunRecorder(run, tags=tags)
    if cluster is not None:
        recorder.summary["world_size"] = cluster.world_size
    callbacks = CallbackList([recorder, *reporters])
    store = RunCheckpoints(run, config, data)
    trainer = Trainer(
        model,
        data,
        config,
        precision,
        callbacks,
        cluster.store(store) if cluster is not None else store,
        should_stop=should_stop,
        batch_transform=_augmentation(config, data),
        parallel=cluster,
    )
    resumed = _Resumed()
    if state is not None:
        assert resume is not None
        try:
            trainer.load_state(state)
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise RunError(
                f"{resume.last} does not match this run's settings ({brief(e, 160)}): "
                f"start a new run with `mnist train --config {resume.config}`."
            ) from None
        done = trainer.progress.epoch
        # Equal is fine: a run stopped after its last epoch still owes its test evaluation.
        if done > config.epochs:
            raise ConfigError(
                f"{run.id} has already trained {done} epochs, more than --epochs "
                f"{config.epochs}: resume with --epochs {done} or more."
            )
        resumed = _resume_story(run, config, trainer)

    callbacks.on_run_start(
        RunStarted(
            run_id=run.id,
            run_dir=str(run.path),
            model=config.model,
            parameters=count_parameters(model),
            device=str(device),
            precision=precision,
            train_size=len(data.train),
            val_size=len(data.val),
            test_size=len(data.test),
            seed=config.seed,
            epochs=config.epochs,
            batches_per_epoch=trainer.steps_per_epoch,
            batch_size=config.batch_size,
            start_epoch=trainer.progress.epoch + 1,
            config=config.to_dict(),
            resumed=state is not None,
            history=resumed.history,
            previous_seconds=resumed.seconds,
            resume_note=resumed.note,
        )
    )
    try:
        result = trainer.fit()
    except Exception as e:
        # Whatever stops the loop, the run is not left "running" (an unexpected error
        # included: its traceback still follows, but the record says failed). In a
        # data-parallel job a library error means another rank went away: the run stops
        # here and can be resumed from last.pt.
        if cluster is not None and not isinstance(e, MnistError):
            e = RunError(f"lost another rank ({brief(e, 120)})")
        _record_failure(recorder, run, e)
        raise
    curves = _draw_curves(run)
    message = ""
    if result.status == "interrupted":
        message = f"Interrupted. Resume with: {resume_command(run)}"
    # The "run interrupted" panel names no checkpoint that was never saved.
    checkpoint = str(run.checkpoint) if run.checkpoint.is_file() else ""
    ended = run_ended(result, str(run.path), checkpoint, message)
    ended = RunEnded(
        **{
            **ended.__dict__,
            "curves": curves,
            # One total everywhere (dashboard, plain, summary.toml, `mnist runs`).
            "seconds": resumed.seconds + result.seconds,
            "session_seconds": result.seconds if state is not None else None,
            "warning": chance_warning(ended, config, len(data.spec.classes)),
        }
    )
    callbacks.on_run_end(ended)
    return TrainOutcome(run, ended)


@dataclass(frozen=True)
class _Resumed:
    """What a resumed run brings along: its earlier epochs and time, what changed."""

    history: tuple[EpochEnded, ...] = ()
    seconds: float = 0.0
    note: str = ""


def _resume_story(run: RunFolder, config: TrainConfig, trainer: Trainer) -> _Resumed:
    """Re-plan the schedule for a changed --epochs (recorded in config.toml) and gather
    the run's history, so every view shows the whole run, not only this session."""
    document = run.read_config()
    stored = document.get("train", {})
    before = stored.get("epochs") if isinstance(stored, dict) else None
    done = trainer.progress.epoch
    change = trainer.fit_schedule_to_epochs()
    if change is None and isinstance(before, int) and before != config.epochs:
        change = ScheduleChange(config.scheduler, done, before, config.epochs, trainer.current_lr())
    note = ""
    if change is not None:
        note = change.sentence()
        # config.toml describes the run as it now goes on: a later --resume (or --config)
        # uses the new length, and the list says how the schedule got its shape.
        document["train"] = {**stored, "epochs": config.epochs}
        meta = document.get("run") if isinstance(document.get("run"), dict) else {}
        history = meta.get("resumed") if isinstance(meta.get("resumed"), list) else []
        document["run"] = {**meta, "resumed": [*history, change.record()]}
        run.write_toml(run.config, document)
    rows = [r for r in run.read_metrics() if r.get("epoch", 0) <= done]
    summary = run.read_summary()
    seconds = summary.get("seconds", 0.0)
    return _Resumed(
        history=history_from_rows(rows, config.epochs, config.patience),
        seconds=float(seconds) if isinstance(seconds, int | float) and seconds >= 0 else 0.0,
        note=note,
    )


#: Below this multiple of chance (1 / classes), a run is said to have learned nothing.
CHANCE_MARGIN = 1.5
#: Learning rates that train this tool's models: (lowest, highest, a good first try).
USUAL_LR = {
    "sgd": (1e-3, 0.5, 0.05),
    "adam": (1e-4, 0.05, 0.001),
    "adamw": (1e-4, 0.05, 0.001),
}


def chance_warning(ended: RunEnded, config: TrainConfig, classes: int) -> str:
    """For a run no better than guessing: say so, and what to change (else "")."""
    if ended.best_val_acc is None or ended.best_val_acc >= CHANCE_MARGIN / classes:
        return ""
    low, high, usual = USUAL_LR.get(config.optimizer, USUAL_LR["sgd"])
    if config.lr > high:
        fix = (
            f"--lr {config.lr:g} is far too high for {config.optimizer} (usual: {low:g} to "
            f"{high:g}): train again with a lower --lr, e.g. --lr {usual:g}"
        )
    elif config.lr < low:
        fix = f"--lr {config.lr:g} is too low to learn: train again with --lr {usual:g}"
    else:
        fix = "Train longer (--epochs), or check the data (`mnist download` verifies it)"
    return (
        f"Validation accuracy {ended.best_val_acc:.2%} is chance level (1 in {classes} "
        f"guessed right): the model learned nothing. {fix}."
    )


def _follow(
    model: torch.nn.Module,
    data: DataBundle,
    config: TrainConfig,
    precision: str,
    should_stop: Callable[[], bool],
    state: dict[str, Any] | None,
    cluster: Cluster,
) -> None:
    """A rank other than 0: the same training steps, no files, no output."""
    trainer = Trainer(
        model,
        data,
        config,
        precision,
        CallbackList([]),
        cluster.store(None),
        should_stop=should_stop,
        batch_transform=_augmentation(config, data),
        parallel=cluster,
    )
    if state is not None:
        try:
            trainer.load_state(state)
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise RunError(
                f"last.pt does not match this run's settings ({brief(e, 160)})."
            ) from None
    trainer.fit()


def _augmentation(config: TrainConfig, data: DataBundle) -> Callable | None:
    """The batch transform behind --augment, with config.toml's strengths, or None."""
    if not config.augment:
        return None
    from mnist_tui.data.augment import AffineAugment

    return AffineAugment(
        rotate_degrees=config.augment_rotate,
        scale=config.augment_scale,
        shift_pixels=config.augment_shift,
        background=(0.0 - data.spec.mean) / data.spec.std,
        elastic_alpha=config.augment_elastic,
        elastic_sigma=config.augment_elastic_sigma,
    )


def _record_failure(recorder: RunRecorder, run: RunFolder, error: BaseException) -> None:
    """Best effort: mark the run failed; the disk may be the thing that failed."""
    try:
        recorder.summary.update(status="failed", error=str(error)[:200])
        recorder.summary.pop("pid", None)
        run.write_toml(run.summary, recorder.summary)
    except RunWriteError:
        pass


def resumable_state(run: RunFolder) -> dict[str, Any]:
    """last.pt of a run that may be resumed, or a RunError saying why it may not."""
    summary = run.read_summary()
    status = effective_status(summary)
    if status in FINISHED:
        raise RunError(
            f"Run {run.id} already {status.replace('_', ' ')}: nothing to resume. "
            f"Start a new run with `mnist train --config {run.config}`."
        )
    if status == "running":
        raise RunError(
            f"Run {run.id} is still running (pid {summary.get('pid')}): stop it first, "
            "or wait for it to finish."
        )
    if not run.last.is_file():
        raise RunError(
            f"Run {run.id} has no last.pt: it stopped before its first save. Start it "
            f"again with `mnist train --config {run.config}`."
        )
    # A kill during a save leaves its temporary file behind; the real files are whole.
    remove_stale_temporaries(run.path)
    run.read_metrics()  # a damaged metrics.csv is refused now, not after the data loads
    return checkpoints.load(run.last, expected_format=checkpoints.STATE_FORMAT)


def _draw_curves(run: RunFolder) -> str | None:
    rows = run.read_metrics()
    if not rows:
        return None
    from mnist_tui.ui.plots import draw_curves

    try:
        best = run.read_summary().get("best_epoch")
    except MnistError:  # no or a damaged summary: the curves mark the best val accuracy
        best = None
    try:
        best = best if isinstance(best, int) else None
        return str(draw_curves(rows, run.curves, title=run.id, best_epoch=best))
    except (OSError, MnistError):
        return None
