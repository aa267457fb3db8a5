"""A sweep's Optuna study: its plan (space, fixed settings, trial count) kept in the study.

The plan is stored in the study's user attributes, so `mnist sweep --join NAME` on another
machine and `mnist sweep --resume NAME` rebuild the same search from the storage alone.
Optuna is imported here, never in `mnist --help`; this module does not need torch.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Any

from mnist_tui.config import TrainConfig, apply_overrides
from mnist_tui.errors import ConfigError, MnistError
from mnist_tui.sweep.space import Param, grid_size
from mnist_tui.sweep.storage import unreachable

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
PLAN_KEY = "mnist_sweep"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Median pruning starts once this many trials have finished: sweeps here are 10-50 trials
#: long, and waiting for Optuna's default 5 would leave little of a short sweep to prune.
PRUNER_STARTUP_TRIALS = 2


class SweepError(MnistError):
    """A sweep cannot start, join or resume as asked."""


@dataclass
class SweepPlan:
    """What a sweep searches and with which fixed settings: the same for every worker."""

    name: str
    space: list[Param]
    base: dict[str, Any]  # every TrainConfig setting that is not searched
    trials: int
    sampler: str = "tpe"
    pruner: str = "median"
    data_root: str = ""
    created_by: str = field(default_factory=socket.gethostname)

    def to_attrs(self) -> dict[str, Any]:
        return {
            "version": 1,
            "space": [p.to_dict() for p in self.space],
            "base": self.base,
            "trials": self.trials,
            "sampler": self.sampler,
            "pruner": self.pruner,
            "data_root": self.data_root,
            "created_by": self.created_by,
        }

    @classmethod
    def from_attrs(cls, name: str, attrs: dict[str, Any]) -> SweepPlan:
        return cls(
            name=name,
            space=[Param.from_dict(p) for p in attrs["space"]],
            base=dict(attrs["base"]),
            trials=int(attrs["trials"]),
            sampler=attrs.get("sampler", "tpe"),
            pruner=attrs.get("pruner", "median"),
            data_root=attrs.get("data_root", ""),
            created_by=attrs.get("created_by", ""),
        )

    def trial_config(self, params: dict[str, Any], number: int) -> TrainConfig:
        """The full TrainConfig of one trial: fixed settings plus the sampled values."""
        config = apply_overrides(TrainConfig(), self.base, f"sweep {self.name}")
        config = apply_overrides(config, params, f"trial {number}")
        return apply_overrides(config, {"name": f"{self.name}-t{number}"})


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"--name {name!r}: a sweep name is letters, digits, '-', '_' or '.' "
            "(at most 64, starting with a letter or digit)."
        )
    return name


def check_choices(sampler: str, pruner: str, space: list[Param]) -> None:
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {sampler!r} is not one of {', '.join(SAMPLERS)}.")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner {pruner!r} is not one of {', '.join(PRUNERS)}.")
    if sampler == "grid":
        grid_size(space)  # refuses continuous ranges with one line


def make_sampler(plan: SweepPlan) -> Any:
    import optuna

    if plan.sampler == "grid":
        return optuna.samplers.GridSampler({p.name: p.grid_values() for p in plan.space})
    if plan.sampler == "random":
        return optuna.samplers.RandomSampler()
    # constant_liar: workers running at once do not all sample the same promising point.
    return optuna.samplers.TPESampler(constant_liar=True)


def make_pruner(plan: SweepPlan) -> Any:
    import optuna

    if plan.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=0)


def study_names(storage: Any) -> list[str]:
    import optuna

    try:
        return [
            s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
        ]
    except Exception as e:
        raise unreachable(_url(storage), e) from None


def create_study(plan: SweepPlan, storage: Any) -> Any:
    """A new study holding `plan`; a name already taken is refused (say --resume)."""
    import optuna

    if plan.name in study_names(storage):
        raise SweepError(
            f"A sweep named {plan.name!r} already exists in {_url(storage)}: continue it with "
            f"`mnist sweep --resume {plan.name}` or pick another --name."
        )
    try:
        study = optuna.create_study(
            study_name=plan.name,
            storage=storage,
            direction="maximize",
            sampler=make_sampler(plan),
            pruner=make_pruner(plan),
        )
        study.set_user_attr(PLAN_KEY, plan.to_attrs())
    except optuna.exceptions.DuplicatedStudyError:
        raise SweepError(
            f"A sweep named {plan.name!r} was just created by another worker."
        ) from None
    except Exception as e:
        raise unreachable(_url(storage), e) from None
    return study


def load_study(name: str, storage: Any) -> tuple[Any, SweepPlan]:
    """An existing study and its plan; a missing one names the sweeps there are."""
    import difflib

    import optuna

    names = study_names(storage)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = f" (sweeps there: {', '.join(names[:8])})" if names else " (it holds none)"
        raise SweepError(f"No sweep {name!r} in {_url(storage)}{known}.{hint}")
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        attrs = study.user_attrs.get(PLAN_KEY)
    except Exception as e:
        raise unreachable(_url(storage), e) from None
    if not isinstance(attrs, dict):
        raise SweepError(f"Study {name!r} was not made by `mnist sweep`: it has no search plan.")
    plan = SweepPlan.from_attrs(name, attrs)
    study.sampler = make_sampler(plan)
    study.pruner = make_pruner(plan)
    return study, plan


def _url(storage: Any) -> str:
    """The storage's URL for messages; it never holds a password (storage.check_url)."""
    return str(getattr(storage, "url", storage))


# --- counting trials ------------------------------------------------------------------------


def counts_toward_target(trial: Any) -> bool:
    """A trial with a result, or one running: interrupted and lost ones are retried instead."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    # A failure of the setting itself (diverged) is a result; a Ctrl-C or a lost worker is not.
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get("error"))


def trials_done(study: Any) -> int:
    return sum(counts_toward_target(t) for t in study.get_trials(deepcopy=False))


def default_trials(sampler: str, space: list[Param], trials: int | None) -> int:
    """--trials, or for the grid sampler every combination once."""
    if trials is not None:
        return trials
    return grid_size(space) if sampler == "grid" else 20


def base_settings(config: TrainConfig, space: list[Param]) -> dict[str, Any]:
    """The fixed settings of a sweep: the resolved config less the searched ones."""
    searched = {p.name for p in space}
    return {k: v for k, v in config.to_dict().items() if k not in searched and k != "name"}
