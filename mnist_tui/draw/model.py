"""The model `mnist draw` reads with: a run's checkpoint, an exported model or an
untrained one, behind predict's `Classifier`; the first conv layer's maps on request.

Uses mnist_tui.predict (Classifier, classifier_from_run, classifier_from_export,
probabilities) and mnist_tui.inspect.probe (feature maps through a forward hook), so a
drawing is read exactly as `mnist predict` reads a file and shown as `mnist inspect`
shows an image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnist_tui.errors import MnistError
from mnist_tui.imaging.prepare import MNIST_MEAN, MNIST_STD, PreparedDigit
from mnist_tui.inspect import probe
from mnist_tui.models import checkpoints
from mnist_tui.models.architectures import build_model
from mnist_tui.predict.core import Classifier, classifier_from_run, probabilities
from mnist_tui.runs.folders import RunFolder, list_runs, resolve_run

UNTRAINED_MODEL = "simple_cnn"


@dataclass
class DrawModel:
    """A Classifier plus, where the weights are at hand, the module for feature maps."""

    classifier: Classifier
    description: str  # the header line: where the model came from
    untrained: bool = False
    checkpoint: Path | None = None  # loaded again, lazily, the first time maps are asked
    _module: nn.Module | None = field(default=None, repr=False)
    _layer: str | None = field(default=None, repr=False)

    @property
    def classes(self) -> list[str]:
        return self.classifier.classes

    @property
    def mean(self) -> float:
        return self.classifier.mean

    @property
    def std(self) -> float:
        return self.classifier.std

    @property
    def has_maps(self) -> bool:
        return self._module is not None or self.checkpoint is not None

    def probabilities(self, digit: PreparedDigit) -> np.ndarray:
        """Softmax over the classes for one prepared digit (predict's own code path)."""
        return probabilities(self.classifier, [digit])[0]

    def module(self) -> tuple[nn.Module, str]:
        """The nn.Module and the name of its first conv layer (loaded on first use)."""
        if self._module is None:
            if self.checkpoint is None:
                raise MnistError("This model's layers are not available (an exported model).")
            self._module, _ = checkpoints.load_model(self.checkpoint)
        if self._layer is None:
            self._layer = first_conv(self._module)
        return self._module, self._layer

    def feature_maps(self, digit: PreparedDigit) -> probe.Activations:
        """The first conv layer's output and the probabilities, in one forward pass."""
        module, layer = self.module()
        return probe.feature_maps(module, layer, digit.normalized(self.mean, self.std))

    @property
    def layer(self) -> str:
        return self.module()[1] if self.has_maps else ""


def first_conv(module: nn.Module) -> str:
    """The dotted name of the first Conv2d (conv1, features.0.0, ...)."""
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            return name
    raise MnistError("This model has no conv layer whose feature maps could be shown.")


def from_run(run: RunFolder) -> DrawModel:
    if run.lacks_checkpoint():
        raise MnistError(
            f"Run {run.id} has no checkpoint.pt yet (it saves one after its first epoch): "
            "pick another run with --run."
        )
    classifier = classifier_from_run(run)
    return DrawModel(classifier, f"run {run.id}", checkpoint=run.checkpoint)


def from_export(path: Path) -> DrawModel:
    from mnist_tui.predict.exported import classifier_from_export

    classifier = classifier_from_export(path)
    return DrawModel(classifier, f"exported model {path}")


def untrained(name: str = UNTRAINED_MODEL, seed: int = 0) -> DrawModel:
    """A freshly initialised model: its answers are noise, and the header says so."""
    torch.manual_seed(seed)
    module = build_model(name).eval()

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(inputs)

    classes = [str(d) for d in range(10)]
    classifier = Classifier(forward, classes, MNIST_MEAN, MNIST_STD, f"untrained {name}")
    description = f"UNTRAINED {name} (random weights): train one with `mnist train`"
    return DrawModel(classifier, description, untrained=True, _module=module)


def newest_with_weights(runs_dir: Path) -> RunFolder:
    """The newest run that has a checkpoint: a run still in its first epoch is skipped."""
    records = list_runs(runs_dir)
    if not records:
        raise MnistError(
            f"No runs in {runs_dir} yet: train one first (`mnist train`), or draw with an "
            "untrained model: `mnist draw --untrained`."
        )
    for record in records:
        run = RunFolder(Path(record["path"]))
        if not run.lacks_checkpoint():
            return run
    raise MnistError(
        f"No run in {runs_dir} has a checkpoint yet (one is saved after the first epoch): "
        "wait for it, or draw with an untrained model: `mnist draw --untrained`."
    )


def load(
    run: str | None, export: Path | None, runs_dir: Path, allow_untrained: bool = False
) -> DrawModel:
    """The model the options ask for; with no run yet, say to train one first."""
    if export is not None and run is not None:
        raise MnistError("Give --run or --export, not both.")
    if allow_untrained:
        if export is not None or run is not None:
            raise MnistError("--untrained draws with random weights: drop --run and --export.")
        return untrained()
    if export is not None:
        return from_export(export)
    if run is None or run == "latest":
        return from_run(newest_with_weights(runs_dir))
    return from_run(resolve_run(run, runs_dir))
