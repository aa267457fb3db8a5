"""`mnist eval`: a run's best checkpoint on its test (or validation) split.

`classification_report` turns labels and predictions into plain numbers (numpy only);
`evaluate_run` produces them for a run with the same `engine.evaluate` that training
used, on the same split, device and precision when this machine has them, so the
accuracy and loss agree exactly with summary.toml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnist_tui.errors import ConfigError, RunError
from mnist_tui.runs.folders import RunFolder

SPLITS = ("test", "val")
#: How many confused pairs are named in words.
TOP_PAIRS = 5
#: How many of the worst mistakes `--json` lists (index into the split, labels, confidence).
MISTAKES_IN_JSON = 25


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int  # true samples of this class


@dataclass(frozen=True)
class ConfusedPair:
    true: str
    predicted: str
    count: int

    def sentence(self) -> str:
        times = "time" if self.count == 1 else "times"
        return f"{self.true} read as {self.predicted}: {self.count} {times}"


@dataclass(frozen=True)
class Mistake:
    """One misclassified sample: what it is, what the model said, how sure it was."""

    index: int  # position in the split
    true: str
    predicted: str
    confidence: float  # probability of the wrong prediction


@dataclass
class EvalReport:
    """Everything `mnist eval` shows, as plain data."""

    run_id: str
    split: str
    samples: int
    accuracy: float
    loss: float
    classes: list[str]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    per_class: list[ClassScores]
    pairs: list[ConfusedPair]
    device: str = "cpu"
    precision: str = "fp32"
    recorded_accuracy: float | None = None  # what training recorded for this split
    mistakes: list[Mistake] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["pairs"] = [{**asdict(p), "text": p.sentence()} for p in self.pairs]
        document["mistakes"] = [asdict(m) for m in self.mistakes[: TOP_PAIRS * 5]]
        return document


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """classes x classes counts; row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    return matrix


def class_scores(matrix: np.ndarray, classes: list[str]) -> list[ClassScores]:
    """Precision, recall and F1 per class; 0 where a class was never predicted/present."""
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    scores = []
    for i, label in enumerate(classes):
        precision = true_positive[i] / predicted[i] if predicted[i] else 0.0
        recall = true_positive[i] / actual[i] if actual[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(
            ClassScores(label, float(precision), float(recall), float(f1), int(actual[i]))
        )
    return scores


def confused_pairs(
    matrix: np.ndarray, classes: list[str], top: int = TOP_PAIRS
) -> list[ConfusedPair]:
    """The largest off-diagonal counts, largest first (ties: by true, then predicted class)."""
    pairs = [
        ConfusedPair(classes[t], classes[p], int(matrix[t, p]))
        for t in range(len(classes))
        for p in range(len(classes))
        if t != p and matrix[t, p] > 0
    ]
    pairs.sort(key=lambda pair: -pair.count)
    return pairs[:top]


def worst_mistakes(
    labels: np.ndarray, probabilities: np.ndarray, classes: list[str], limit: int
) -> list[Mistake]:
    """Misclassified samples, the most confidently wrong first."""
    predictions = probabilities.argmax(1)
    wrong = np.flatnonzero(predictions != labels)
    confidence = probabilities[wrong, predictions[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:limit]
    return [
        Mistake(
            int(i),
            classes[int(labels[i])],
            classes[int(predictions[i])],
            float(probabilities[i].max()),
        )
        for i in order
    ]


def classification_report(
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes: list[str],
    *,
    run_id: str,
    split: str,
    loss: float,
    accuracy: float,
    mistakes: int = 36,
) -> EvalReport:
    """The numbers of an evaluation from labels and predicted probabilities."""
    matrix = confusion_matrix(labels, probabilities.argmax(1), len(classes))
    return EvalReport(
        run_id=run_id,
        split=split,
        samples=len(labels),
        accuracy=accuracy,
        loss=loss,
        classes=list(classes),
        confusion=matrix.tolist(),
        per_class=class_scores(matrix, classes),
        pairs=confused_pairs(matrix, classes),
        mistakes=worst_mistakes(labels, probabilities, classes, mistakes),
    )


@dataclass
class Evaluation:
    """A report plus the split's images (0..1, for mistakes.png)."""

    report: EvalReport
    images: np.ndarray  # (N, 28, 28) float32, 0..1


def _device_and_precision(config: dict[str, Any], device_option: str | None) -> tuple[Any, str]:
    """The device and precision the run trained with, when available here; else the CPU.

    Same device and precision means the same arithmetic, hence the same numbers.
    """
    from mnist_tui.train.devices import resolve_device, resolve_precision

    environment = config.get("environment", {})
    if device_option is not None:
        device = resolve_device(device_option)
    else:
        try:
            device = resolve_device(str(environment.get("device", "cpu")))
        except ConfigError:
            device = resolve_device("cpu")
    recorded = str(environment.get("precision", "fp32"))
    same_kind = str(environment.get("device", "cpu")).split(":")[0] == device.type
    precision = resolve_precision(recorded if same_kind else "fp32", device)
    return device, precision


def evaluate_run(
    run: RunFolder,
    split: str,
    data_root: Path,
    device_option: str | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Evaluate the run's best checkpoint on `split` ("test" or "val")."""
    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(SPLITS)}.")
    from mnist_tui.data.tensors import load_data
    from mnist_tui.models import checkpoints
    from mnist_tui.train.devices import fast_layout
    from mnist_tui.train.loop import evaluate

    config = run.read_config()
    train = run.train_settings(
        ("dataset", "seed", "val_size")
    )  # checked by training's rules: seed, val_size, dataset
    if run.lacks_checkpoint():
        raise RunError(
            f"{run.id} has no checkpoint.pt yet (it finished no epoch): nothing to evaluate."
        )
    # Options and data first: a mistake there is named before any checkpoint is loaded.
    device, precision = _device_and_precision(config, device_option)
    dataset = str(train.get("dataset", "mnist"))
    try:
        val_size, seed = int(train["val_size"]), int(train["seed"])
    except (KeyError, TypeError, ValueError):
        raise RunError(f"{run.config} lacks val_size/seed: the run folder is damaged.") from None
    data = load_data(data_root, dataset, val_size, seed, device)
    model, checkpoint = checkpoints.load_model(run.checkpoint)
    model = model.to(device)
    # Training's memory layout too: channels_last kernels round differently, and eval
    # must reproduce the run's own numbers.
    model = fast_layout(model, device)
    chosen = data.test if split == "test" else data.val
    result = evaluate(model, chosen, precision=precision, keep_outputs=True, on_batch=on_batch)

    classes = [str(c) for c in checkpoint["classes"]]
    labels = chosen.labels.cpu().numpy()
    report = classification_report(
        labels,
        result.probabilities.double().numpy(),
        classes,
        run_id=run.id,
        split=split,
        loss=result.loss,
        accuracy=result.accuracy,
    )
    report.device, report.precision = str(device), precision
    report.recorded_accuracy = _recorded_accuracy(run, split)
    mean, std = float(checkpoint["mean"]), float(checkpoint["std"])
    images = (chosen.images.cpu().numpy()[:, 0] * std + mean).clip(0.0, 1.0)
    return Evaluation(report, images.astype(np.float32))


def _recorded_accuracy(run: RunFolder, split: str) -> float | None:
    """What training wrote into summary.toml for this split (None when absent)."""
    try:
        summary = run.read_summary()
    except RunError:
        return None
    value = summary.get("test_acc" if split == "test" else "best_val_acc")
    return float(value) if isinstance(value, int | float) else None
