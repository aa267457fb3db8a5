"""What the network reads in the drawing: preparation (imaging) + one forward pass.

`model_input` is the one place that calls mnist_tui.imaging, through the entry point
`mnist predict` uses (`prepare_digits`), so a drawing is prepared exactly as a file is
(and the saved PNG reads the same). The canvas holds one digit: `single=True`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_tui.draw.model import DrawModel
from mnist_tui.errors import ImageError
from mnist_tui.imaging.prepare import PreparedDigit, prepare_digits

#: Below this top probability the answer is marked unsure.
UNSURE_BELOW = 0.6


def model_input(grey: np.ndarray) -> PreparedDigit | None:
    """The 28x28 input `mnist predict` would make of this 8-bit light-on-dark drawing;
    None while nothing is drawn (or too little to call a digit)."""
    try:
        reading = prepare_digits(grey, invert=False, single=True, name="drawing")
        return reading.digits[0]
    except ImageError:
        return None


@dataclass(frozen=True)
class Reading:
    """The network's answer for one drawing, as plain data for the panels."""

    classes: list[str]
    pixels: np.ndarray | None = None  # 28x28 in 0..1, the model input; None: blank
    probabilities: np.ndarray | None = None  # (classes,)
    maps: np.ndarray | None = None  # first conv layer's output (C, H, W), when asked
    version: int = -1  # the sketch version this reading is of

    @property
    def blank(self) -> bool:
        return self.probabilities is None

    @property
    def best(self) -> int:
        return int(np.argmax(self.probabilities)) if self.probabilities is not None else -1

    @property
    def label(self) -> str:
        return self.classes[self.best] if not self.blank else ""

    @property
    def probability(self) -> float:
        return float(self.probabilities[self.best]) if self.probabilities is not None else 0.0

    @property
    def unsure(self) -> bool:
        return not self.blank and self.probability < UNSURE_BELOW


def read(model: DrawModel, grey: np.ndarray, maps: bool = False, version: int = -1) -> Reading:
    """Prepare the drawing and run the model once (with the first conv's maps if asked)."""
    digit = model_input(grey)
    if digit is None:
        return Reading(model.classes, version=version)
    if maps and model.has_maps:
        activations = model.feature_maps(digit)
        return Reading(
            model.classes, digit.pixels, activations.probabilities, activations.values, version
        )
    return Reading(model.classes, digit.pixels, model.probabilities(digit), version=version)
