"""One sweep worker: asks the study for trials and trains each as an ordinary run.

Every trial is a `mnist train` run (train.run.train) whose config.toml and summary.toml
carry the sweep's name and trial number. A Callback on the loop's EpochEnded events reports
the validation accuracy to Optuna and asks its pruner; the objective is the best
validation accuracy, never the test set. Ctrl-C stops the current trial the way it stops
`mnist train` (the run is `interrupted`), and the trial is queued again with its
parameters, so `mnist sweep --resume` carries on to the trial count.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_tui.errors import TrainingDiverged, brief
from mnist_tui.sweep.space import Param
from mnist_tui.sweep.study import SweepPlan, counts_toward_target, trials_done
from mnist_tui.train.events import Callback, EpochEnded, RunStarted


class TrialInterrupted(Exception):
    """The trial stopped on Ctrl-C/SIGTERM: not a result, to be run again."""


class TrialSurplus(Exception):
    """Workers asked for the last trials at the same moment: this one is one too many."""


class TrialFailed(Exception):
    """The trial's settings failed (training diverged): a result, recorded as failed."""


class TrialWatcher(Callback):
    """Feeds the loop's per-epoch validation accuracy to the trial and its pruner."""

    def __init__(self, trial: Any, prune: bool, on_change: Callable[[], None]) -> None:
        self.trial = trial
        self.prune = prune
        self.on_change = on_change
        self.pruned = False

    def on_run_start(self, event: RunStarted) -> None:
        self.trial.set_user_attr("run_id", event.run_id)
        self.trial.set_user_attr("run_dir", event.run_dir)
        self.on_change()

    def on_epoch_end(self, event: EpochEnded) -> None:
        self.trial.report(event.val_acc, event.epoch)
        # The last epoch is not pruned: the trial has finished, its result is whole.
        if self.prune and event.epoch < event.epochs and self.trial.should_prune():
            self.pruned = True
        self.on_change()


@dataclass
class WorkerResult:
    trials: int = 0
    interrupted: bool = False


def suggest(trial: Any, param: Param) -> Any:
    """The trial's value for one parameter, drawn by the study's sampler."""
    if param.kind == "choice":
        return trial.suggest_categorical(param.name, list(param.choices))
    if param.kind == "int":
        return trial.suggest_int(
            param.name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
        )
    return trial.suggest_float(
        param.name, float(param.low), float(param.high), step=param.step, log=param.log
    )


def run_worker(
    study: Any,
    plan: SweepPlan,
    *,
    data_root: Path,
    runs_dir: Path,
    should_stop: Callable[[], bool] = lambda: False,
    deadline: float | None = None,
    on_change: Callable[[], None] = lambda: None,
) -> WorkerResult:
    """Run trials until the study has `plan.trials`, the deadline passes or a stop."""
    import optuna

    from mnist_tui.train.run import train

    result = WorkerResult()

    def objective(trial: optuna.Trial) -> float:
        # Two workers may both have seen one trial left and asked: the later one yields.
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        if sum(counts_toward_target(t) for t in earlier) >= plan.trials:
            trial.set_user_attr("surplus", True)
            raise TrialSurplus
        # A retried trial starts with its predecessor's attributes: reset what is per-run.
        trial.set_user_attr("interrupted", False)
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        params = {p.name: suggest(trial, p) for p in plan.space}
        config = plan.trial_config(params, trial.number)
        watcher = TrialWatcher(trial, plan.pruner != "none", on_change)
        try:
            outcome = train(
                config,
                data_root=data_root,
                runs_dir=runs_dir,
                reporters=[watcher],
                should_stop=lambda: should_stop() or watcher.pruned,
                tags={"sweep": plan.name, "trial": trial.number},
            )
        except TrainingDiverged as e:
            trial.set_user_attr("error", brief(e, 160))
            raise TrialFailed from None
        if watcher.pruned:
            run = outcome.run
            run.write_toml(run.summary, {**run.read_summary(), "status": "pruned"})
            raise optuna.TrialPruned()
        if outcome.ended.status == "interrupted":
            trial.set_user_attr("interrupted", True)
            raise TrialInterrupted
        return outcome.ended.best_val_acc

    while not should_stop():
        if deadline is not None and time.monotonic() >= deadline:
            break
        if trials_done(study) >= plan.trials:
            running = _others_running(study)  # fails lost trials first: then recount
            if trials_done(study) < plan.trials:
                continue  # a lost trial's retry is queued: run it
            if not running:
                break
            # Another worker's trial still runs: it may be lost (SIGKILL, a machine gone).
            # Wait for it to end, or for its heartbeat to go stale and its retry to queue.
            time.sleep(1.0)
            continue
        before = {t.number for t in study.get_trials(deepcopy=False)}
        study.optimize(
            objective,
            n_trials=1,
            catch=(TrialInterrupted, TrialFailed, TrialSurplus),
            gc_after_trial=False,
        )
        result.trials += 1
        on_change()
        if should_stop():
            _requeue_interrupted(study, before)
            result.interrupted = True
            break
    return result


def _others_running(study: Any) -> bool:
    """Whether trials still run; a lost one (no heartbeat for the grace period) is failed
    here first, and Optuna's retry callback queues its parameters again."""
    import optuna
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _requeue_interrupted(study: Any, before: set[int]) -> None:
    """Queue the trial a stop interrupted again, with its parameters (and grid point)."""
    from optuna.trial import TrialState

    from mnist_tui.sweep.storage import retry_callback

    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if trial.number not in before and trial.user_attrs.get("interrupted"):
            retry_callback(None)(study, trial)
