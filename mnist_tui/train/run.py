"""One `mnist train` run end to end: data, model, run folder, loop, summary, curves.

The CLI resolves options and picks reporters; this module composes the pieces.
"""

from __future__ import annotations

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
    TrainingDiverged,
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
from mnist_tui.train.events import Callback, CallbackList, RunEnded, RunStarted
from mnist_tui.train.loop import Trainer, run_ended
from mnist_tui.train.recorder import RunRecorder

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
) -> dict[str, Any]:
    """config.toml: the resolved settings plus what makes the run reproducible."""
    return {
        "train": config.to_dict(),
        "run": {"id": run.id, "created": iso(utc_now()), "mnist_tui": __version__},
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
    cluster: Cluster | None = None,
) -> TrainOutcome | None:
    """Train one run (new, or resumed from `resume`) and return how it ended.

    Data-parallel (`cluster`): every rank trains; rank 0 alone owns the run folder, its
    reporters and checkpoints (and is given `resume`), and the others return None.
    """
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
        document = config_document(config, run, data, device, precision, data_root)
        if cluster is not None:
            document["distributed"] = cluster.describe()
        run.write_toml(run.config, document)
    recorder = RunRecorder(run)
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
    if state is not None:
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
        )
    )
    try:
        result = trainer.fit()
    except (RunWriteError, TrainingDiverged) as e:
        _record_failure(recorder, run, e)
        raise
    except Exception as e:
        if cluster is None:
            raise
        # Another rank went away: the run stops here and can be resumed from last.pt.
        _record_failure(recorder, run, RunError(f"lost another rank ({brief(e, 120)})"))
        raise
    curves = _draw_curves(run)
    message = ""
    if result.status == "interrupted":
        message = f"Interrupted. Resume with: {resume_command(run)}"
    ended = run_ended(result, str(run.path), str(run.checkpoint), message)
    ended = RunEnded(**{**ended.__dict__, "curves": curves})
    callbacks.on_run_end(ended)
    return TrainOutcome(run, ended)


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
    return checkpoints.load(run.last, expected_format=checkpoints.STATE_FORMAT)


def _draw_curves(run: RunFolder) -> str | None:
    rows = run.read_metrics()
    if not rows:
        return None
    from mnist_tui.ui.plots import draw_curves

    try:
        return str(draw_curves(rows, run.curves, title=run.id))
    except (OSError, MnistError):
        return None
