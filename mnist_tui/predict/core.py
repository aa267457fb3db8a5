"""`mnist predict`: image paths in, plain prediction records out.

The model is any `Classifier`: a callable taking an (N, 1, 28, 28) float32 tensor
(normalised with the classifier's mean/std) and returning (N, classes) logits, plus the
class names and the normalisation. `classifier_from_run` builds one from a run's
checkpoint on the CPU; other loaders (exported models) return the same type.

Each image is read on its own (imaging.prepare_digits: every digit in it, left to right,
or the whole image as one digit with `single`); a file that fails becomes a `Failure`
carrying its one-line message while the others are still predicted. A digit whose top
probability is low, or whose top two are close, is marked `unsure` with a hint.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnist_tui.errors import ConfigError, ImageError, MnistError
from mnist_tui.fsutil import describe_os_error
from mnist_tui.imaging.prepare import PreparedDigit, Reading, prepare_digit, prepare_digits
from mnist_tui.models import checkpoints
from mnist_tui.runs.folders import RunFolder

#: File endings `predict DIR` picks up (files given by name are tried whatever their name).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
)
BATCH = 256  # images per forward pass: bounded memory for directories of thousands
# A digit is "unsure" below this top probability, or when the runner-up is this close.
UNSURE_PROBABILITY = 0.6
UNSURE_MARGIN = 0.3
UNSURE_HINT = "crop closer to the digits, write with a thicker pen, or take the photo in more light"
TOUCHING_HINT = "some digits touch and could not be split: leave a gap between them"


@dataclass(frozen=True)
class Classifier:
    """Anything that maps normalised (N, 1, 28, 28) inputs to (N, classes) logits."""

    forward: Callable[[torch.Tensor], torch.Tensor]
    classes: list[str]
    mean: float
    std: float
    source: str  # shown to the user: where the model came from


@dataclass(frozen=True)
class DigitPrediction:
    """One digit found in an image: its answer, input and place."""

    index: int  # class index of the top prediction
    label: str
    probability: float
    top_k: list[tuple[str, float]]
    pixels: list[list[float]] = field(repr=False)
    box: tuple[int, int, int, int] | None = None  # left, top, right, bottom in the image
    unsure: bool = False
    touching: bool = False  # probably touching digits that could not be split

    def to_json(self) -> dict[str, Any]:
        return {
            "digit": _json_label(self.label),
            "probability": self.probability,
            "top_k": [{"digit": _json_label(label), "probability": p} for label, p in self.top_k],
            "box": list(self.box) if self.box is not None else None,
            "unsure": self.unsure,
        }


def is_unsure(top_k: list[tuple[str, float]]) -> bool:
    """Low top probability, or a runner-up close behind (needs the top two; top_k>=1)."""
    first = top_k[0][1]
    second = top_k[1][1] if len(top_k) > 1 else 0.0
    return first < UNSURE_PROBABILITY or first - second < UNSURE_MARGIN


@dataclass(frozen=True)
class Prediction:
    """One image's answer, as plain data (render and JSON take it as is).

    One digit: `label`/`probability`/`top_k`/`pixels` are its own. Several digits:
    `label` is the number read left to right, `probability` the product of the digits'
    (the chance all are right), and `digits` holds each one.
    """

    path: str
    index: int  # class index of the top prediction (-1 for a number of several digits)
    label: str  # its class name ("7" for MNIST), or the number ("2026")
    probability: float
    top_k: list[tuple[str, float]]  # (label, probability), most likely first
    pixels: list[list[float]] = field(repr=False)  # 28x28 input as the model saw it, 0..1
    inverted: bool = False
    digits: list[DigitPrediction] = field(default_factory=list, repr=False)
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def unsure(self) -> bool:
        return any(d.unsure or d.touching for d in self.digits)

    @property
    def hint(self) -> str:
        if any(d.touching for d in self.digits):
            return TOUCHING_HINT
        return UNSURE_HINT if self.unsure else ""

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"path": self.path}
        if len(self.digits) > 1:
            record["number"] = self.label
            record["probability"] = self.probability
            record["digits"] = [d.to_json() for d in self.digits]
        else:
            record["digit"] = _json_label(self.label)
            record["probability"] = self.probability
            record["top_k"] = [
                {"digit": _json_label(label), "probability": p} for label, p in self.top_k
            ]
            if self.digits and self.digits[0].box is not None:
                record["box"] = list(self.digits[0].box)
        record["inverted"] = self.inverted
        record["unsure"] = self.unsure
        if self.hint:
            record["hint"] = self.hint
        return record


def _json_label(label: str) -> int | str:
    return int(label) if label.isdigit() else label


@dataclass(frozen=True)
class Failure:
    path: str
    message: str


def classifier_from_run(run: RunFolder) -> Classifier:
    """The run's best checkpoint as a Classifier on the CPU (whatever device trained it)."""
    model, checkpoint = checkpoints.load_model(run.checkpoint)

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(inputs)

    return Classifier(
        forward=forward,
        classes=[str(c) for c in checkpoint["classes"]],
        mean=float(checkpoint["mean"]),
        std=float(checkpoint["std"]),
        source=str(run.checkpoint),
    )


def expand_inputs(arguments: Iterable[str]) -> tuple[list[Path], list[Failure]]:
    """Files, folders (their image files, sorted) and globs -> image paths, in order.

    An argument that names nothing becomes a Failure; duplicates are dropped.
    """
    paths: list[Path] = []
    failures: list[Failure] = []
    for argument in arguments:
        try:
            found, failure = _expand(argument)
        except OSError as e:  # a name over 255 bytes, a folder that cannot be listed
            found, failure = [], Failure(argument, f"{argument}: {describe_os_error(e)}.")
        paths.extend(found)
        if failure is not None:
            failures.append(failure)
    unique = list(dict.fromkeys(paths))
    return unique, failures


def _expand(argument: str) -> tuple[list[Path], Failure | None]:
    """One argument's image paths, or the Failure that says why there are none."""
    candidate = Path(argument)
    if candidate.is_dir():
        found = sorted(
            p for p in candidate.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not found:
            return [], Failure(argument, f"{argument}: no image files in this folder.")
        return found, None
    if candidate.exists():
        return [candidate], None
    if glob.has_magic(argument):
        matches = sorted(Path(p) for p in glob.glob(argument) if Path(p).is_file())
        if not matches:
            return [], Failure(argument, f"{argument}: no files match this pattern.")
        return matches, None
    return [], Failure(argument, f"{argument}: no such file. Check the path.")


def prepare_all(
    paths: list[Path], invert: bool | None
) -> tuple[list[tuple[Path, PreparedDigit]], list[Failure]]:
    """Prepare each image; a bad one becomes a Failure instead of stopping the rest."""
    prepared = []
    failures = []
    for path in paths:
        try:
            prepared.append((path, prepare_digit(path, invert=invert)))
        except ImageError as e:
            failures.append(Failure(str(path), str(e)))
    return prepared, failures


def read_all(
    paths: list[Path], invert: bool | None, single: bool = False, steps: bool = False
) -> tuple[list[tuple[Path, Reading]], list[Failure]]:
    """Read every digit of each image; a bad image becomes a Failure, the rest go on."""
    readings = []
    failures = []
    for path in paths:
        try:
            readings.append((path, prepare_digits(path, invert=invert, single=single, steps=steps)))
        except ImageError as e:
            failures.append(Failure(str(path), str(e)))
    return readings, failures


def predict_readings(
    classifier: Classifier, readings: list[tuple[Path, Reading]], top_k: int
) -> list[Prediction]:
    """One Prediction per image, its digits left to right (one batch over all digits)."""
    every = [digit for _, reading in readings for digit in reading.digits]
    probs = probabilities(classifier, every)
    results, row = [], 0
    for path, reading in readings:
        digits = []
        for digit in reading.digits:
            digits.append(_digit_prediction(classifier, digit, probs[row], max(top_k, 2)))
            row += 1
        # The second guess is needed to judge doubt; only top_k of them are shown.
        digits = [
            DigitPrediction(
                d.index,
                d.label,
                d.probability,
                d.top_k[:top_k],
                d.pixels,
                d.box,
                d.unsure,
                d.touching,
            )
            for d in digits
        ]
        first = digits[0]
        several = len(digits) > 1
        results.append(
            Prediction(
                path=str(path),
                index=-1 if several else first.index,
                label="".join(d.label for d in digits),
                probability=float(np.prod([d.probability for d in digits])),
                top_k=[] if several else first.top_k,
                pixels=first.pixels,
                inverted=reading.inverted,
                digits=digits,
                steps=[(step.name, step.pixels) for step in reading.steps],
            )
        )
    return results


def _digit_prediction(
    classifier: Classifier, digit: PreparedDigit, row: np.ndarray, top_k: int
) -> DigitPrediction:
    order = np.argsort(-row, kind="stable")[: min(top_k, len(row))]
    best = int(order[0])
    ranked = [(classifier.classes[int(i)], float(row[i])) for i in order]
    return DigitPrediction(
        index=best,
        label=classifier.classes[best],
        probability=float(row[best]),
        top_k=ranked,
        pixels=digit.pixels.tolist(),
        box=digit.box,
        unsure=is_unsure(ranked),
        touching=digit.touching,
    )


def probabilities(classifier: Classifier, digits: list[PreparedDigit]) -> np.ndarray:
    """Softmax over the classifier's logits for each digit: (N, classes) float64."""
    rows = []
    for start in range(0, len(digits), BATCH):
        chunk = digits[start : start + BATCH]
        batch = np.stack([d.normalized(classifier.mean, classifier.std) for d in chunk])
        logits = classifier.forward(torch.from_numpy(batch))
        logits = torch.as_tensor(logits).detach().to("cpu", torch.float64)
        if logits.ndim != 2 or logits.shape != (len(chunk), len(classifier.classes)):
            raise MnistError(
                f"{classifier.source} returned outputs of shape {tuple(logits.shape)}; "
                f"expected ({len(chunk)}, {len(classifier.classes)})."
            )
        rows.append(logits.softmax(1).numpy())
    return np.concatenate(rows) if rows else np.zeros((0, len(classifier.classes)))


def predict(
    classifier: Classifier, prepared: list[tuple[Path, PreparedDigit]], top_k: int
) -> list[Prediction]:
    """Predictions for prepared digits, in input order."""
    probs = probabilities(classifier, [digit for _, digit in prepared])
    results = []
    for (path, digit), row in zip(prepared, probs, strict=True):
        order = np.argsort(-row, kind="stable")[:top_k]
        best = int(order[0])
        results.append(
            Prediction(
                path=str(path),
                index=best,
                label=classifier.classes[best],
                probability=float(row[best]),
                top_k=[(classifier.classes[int(i)], float(row[i])) for i in order],
                pixels=digit.pixels.tolist(),
                inverted=digit.inverted,
            )
        )
    return results


def check_top_k(top_k: int, classes: int | None) -> int:
    """--top-k within 1..classes; `classes` None (model not loaded yet): at least 1."""
    if top_k < 1 or (classes is not None and top_k > classes):
        upper = f"from 1 to {classes}" if classes is not None else "of 1 or more"
        raise ConfigError(f"--top-k {top_k}: give a number {upper}.")
    return top_k
