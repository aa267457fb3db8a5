"""`mnist eval --ensemble`: average several runs' class probabilities on one split.

`ensemble_report` is the arithmetic (numpy only): each member's accuracy and loss, those
of the mean of the members' probabilities, and how many images the members misread
together (averaging cannot fix a mistake every member makes, and rarely one most make).
`evaluate_ensemble` produces the probabilities from the runs' best checkpoints with the
same `engine.evaluate` that training and `mnist eval` use, so each member's accuracy
matches its own `mnist eval`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_tui.errors import ConfigError, RunError
from mnist_tui.runs.folders import RunFolder

#: The smallest probability used in the log loss, so one confident miss is not infinite.
EPSILON = 1e-12


@dataclass(frozen=True)
class Score:
    name: str  # a run id, or "ensemble"
    accuracy: float
    loss: float  # per-sample average negative log-likelihood
    correct: int


@dataclass
class EnsembleReport:
    split: str
    samples: int
    members: list[Score]
    ensemble: Score
    misread_by_all: int  # images every member gets wrong
    misread_by_majority: int  # images more than half of the members get wrong

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def score(name: str, labels: np.ndarray, probabilities: np.ndarray) -> Score:
    """Accuracy and per-sample log loss of (N, C) probabilities against (N,) labels."""
    correct = int((probabilities.argmax(1) == labels).sum())
    picked = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.log(np.maximum(picked, EPSILON)).mean())
    return Score(name, correct / len(labels), loss, correct)


def ensemble_report(
    labels: np.ndarray, probabilities: list[np.ndarray], names: list[str], split: str = "test"
) -> EnsembleReport:
    """Each member's score and the score of their averaged probabilities."""
    if len(probabilities) != len(names) or not probabilities:
        raise ValueError("one probability array per member name, at least one")
    shapes = {p.shape for p in probabilities}
    if len(shapes) != 1 or probabilities[0].shape[0] != len(labels):
        raise ValueError(f"members disagree on the shape of their outputs: {sorted(shapes)}")
    stacked = np.stack(probabilities)
    misread_by = (stacked.argmax(2) != labels).sum(0)  # per image, how many members err
    return EnsembleReport(
        split=split,
        samples=len(labels),
        members=[score(n, labels, p) for n, p in zip(names, probabilities, strict=True)],
        ensemble=score("ensemble", labels, stacked.mean(0)),
        misread_by_all=int((misread_by == len(probabilities)).sum()),
        misread_by_majority=int((misread_by > len(probabilities) / 2).sum()),
    )


def _train_settings(run: RunFolder) -> dict[str, Any]:
    train = run.train_settings(("dataset", "seed", "val_size"))  # checked by training's rules
    if run.lacks_checkpoint():
        raise RunError(f"{run.id} has no checkpoint.pt yet (it finished no epoch).")
    return train


def evaluate_ensemble(
    runs: list[RunFolder], split: str, data_root: Path, device_option: str | None = None
) -> EnsembleReport:
    """Evaluate each run's best checkpoint on `split` and the average of their outputs."""
    if len(runs) < 2:
        raise ConfigError("--ensemble needs at least two runs, e.g. `mnist eval --ensemble A B`.")
    ids = [run.id for run in runs]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"--ensemble got the same run twice: {', '.join(ids)}.")
    settings = [_train_settings(run) for run in runs]
    datasets = {str(s.get("dataset", "mnist")) for s in settings}
    if len(datasets) > 1:
        trained_on = ", ".join(
            f"{run.id}: {s.get('dataset', 'mnist')}" for run, s in zip(runs, settings, strict=True)
        )
        raise ConfigError(
            f"--ensemble runs were trained on different datasets ({trained_on}): "
            "give runs of one dataset."
        )
    if split == "val" and len({(s.get("seed"), s.get("val_size")) for s in settings}) > 1:
        # Each run's validation split comes from its own seed: they are different images.
        raise ConfigError(
            "--split val: these runs hold out different validation images (different "
            "--seed or --val-size); compare them on --split test."
        )

    from mnist_tui.data.tensors import load_data
    from mnist_tui.models import checkpoints
    from mnist_tui.train.devices import resolve_device
    from mnist_tui.train.loop import evaluate

    device = resolve_device(device_option or "auto")
    first = settings[0]
    data = load_data(data_root, datasets.pop(), int(first["val_size"]), int(first["seed"]), device)
    chosen = data.test if split == "test" else data.val
    probabilities = []
    for run in runs:
        model, _ = checkpoints.load_model(run.checkpoint)
        # fp32 everywhere: the members' numbers then match `mnist eval` on the CPU.
        result = evaluate(model.to(device), chosen, precision="fp32", keep_outputs=True)
        probabilities.append(result.probabilities.double().numpy())
    labels = chosen.labels.cpu().numpy()
    return ensemble_report(labels, probabilities, ids, split)
