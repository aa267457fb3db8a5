"""One `mnist inspect` end to end: pick the model, probe it, build the view, save the PNG.

The CLI parses options; this module composes model loading, probe.py (torch),
inspect_view.py (terminal) and inspect_png.py (matplotlib).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import RenderableType
from rich.text import Text
from torch import nn

from mnist_tui.errors import ConfigError
from mnist_tui.imaging.prepare import MNIST_MEAN, MNIST_STD, Reading, prepare_digits
from mnist_tui.inspect import probe
from mnist_tui.inspect import view as inspect_view
from mnist_tui.models import checkpoints
from mnist_tui.models.architectures import MODELS, build_model
from mnist_tui.runs.folders import list_runs, resolve_run_with_weights
from mnist_tui.ui.heatmap import Mode


@dataclass(frozen=True)
class InspectedModel:
    """The model under inspection and what the user is told about where it came from."""

    model: nn.Module
    source: str
    random: bool  # untrained: `notice` says why it was chosen
    classes: list[str]
    mean: float
    std: float
    notice: str = ""


@dataclass(frozen=True)
class InspectRequest:
    """What `mnist inspect` was asked for, as plain values."""

    layer: str | None = None
    run: str | None = None
    runs_dir: Path = Path("runs")
    image: Path | None = None
    invert: bool | None = None
    steps: bool = False  # with image: also show each stage of the preparation
    png: Path | None = None
    show: bool = True  # False: only the PNG (--png-only)
    in_channel: int | None = None
    all_inputs: bool = False
    random: bool = False
    model_name: str | None = None
    seed: int = 42
    width: int = 80
    mode: Mode = "auto"


def _same_file(a: Path, b: Path) -> bool:
    """True when two paths name one file (links and relative spellings included)."""
    try:
        return Path(a).resolve() == Path(b).resolve() or Path(a).samefile(b)
    except OSError:
        return False


def random_model(name: str, seed: int, reason: str) -> InspectedModel:
    """A freshly initialised model (seeded: the same picture every time)."""
    if name not in MODELS:
        raise ConfigError(f"--model {name!r} is not a model; choose one of {', '.join(MODELS)}.")
    torch.manual_seed(seed)
    model = build_model(name).eval()
    source = f"{name} with RANDOM initialisation (seed {seed}), untrained"
    classes = [str(i) for i in range(10)]
    return InspectedModel(model, source, True, classes, MNIST_MEAN, MNIST_STD, reason)


def load_model(request: InspectRequest) -> InspectedModel:
    """A run's best checkpoint, or a random model when asked or when there is no run yet."""
    if request.random:
        if request.run is not None:
            raise ConfigError("--random builds an untrained model: drop --run, or drop --random.")
        reason = "Untrained model (--random): compare it with a trained run."
        return random_model(request.model_name or "simple_cnn", request.seed, reason)
    if request.model_name is not None:
        raise ConfigError("--model picks the architecture of a --random model; a run has its own.")
    if request.run is None and not list_runs(request.runs_dir):
        reason = (
            f"No run in {request.runs_dir} yet: this model is UNTRAINED (`mnist train` makes one)."
        )
        return random_model("simple_cnn", request.seed, reason)
    # `latest` is the newest run with a checkpoint; the note says so when newer ones lack it.
    run, note = resolve_run_with_weights(
        request.run, request.runs_dir, hint=", or --random for an untrained model"
    )
    model, checkpoint = checkpoints.load_model(run.checkpoint)
    source = (
        f"run {run.id} ({checkpoint['model']}, epoch {checkpoint.get('epoch', '?')}, "
        f"val acc {float(checkpoint.get('val_acc', 0.0)):.2%})"
    )
    return InspectedModel(
        model,
        source,
        False,
        [str(c) for c in checkpoint["classes"]],
        float(checkpoint["mean"]),
        float(checkpoint["std"]),
        note,
    )


def inspect(request: InspectRequest) -> list[RenderableType]:
    """Do what the request asks; return what to print (the PNG, if any, is written)."""
    if request.layer is None and (request.image or request.in_channel is not None):
        raise ConfigError("--image and --in-channel need a layer, e.g. `mnist inspect conv1`.")
    if request.layer is None and (request.all_inputs or request.png):
        raise ConfigError("--all and --png need a layer, e.g. `mnist inspect conv2 --all`.")
    if request.steps and request.image is None:
        raise ConfigError("--steps shows how --image is prepared: give --image FILE too.")
    if request.image is not None and (request.in_channel is not None or request.all_inputs):
        raise ConfigError("--in-channel and --all choose kernels; they do not apply to --image.")
    if request.png is not None:
        from mnist_tui.inspect.png import check_png_path

        check_png_path(request.png)
        if request.image is not None and _same_file(request.png, request.image):
            raise ConfigError(
                f"--png {request.png} is the --image file: writing the maps there would "
                "destroy the image. Give another file name."
            )
    # The image is read before the model is loaded: a bad file is named as itself. The
    # whole image is one digit here: a layer's maps are for one input.
    reading = (
        prepare_digits(request.image, invert=request.invert, single=True, steps=request.steps)
        if request.image
        else None
    )
    inspected = load_model(request)
    notice = _random_notice(inspected)
    if request.layer is None:
        summary = probe.summarize(inspected.model)
        return [*notice, inspect_view.summary_view(summary, inspected.source)]
    if request.image is not None and reading is not None:
        parts = _feature_maps(request, inspected, request.layer, request.image, reading)
    else:
        parts = _kernels(request, inspected, request.layer)
    return [*notice, *parts]


def _random_notice(inspected: InspectedModel) -> list[RenderableType]:
    if not inspected.notice:
        return []
    return [Text(inspected.notice, style="bold yellow" if inspected.random else "dim")]


def _kernels(
    request: InspectRequest, inspected: InspectedModel, layer: str
) -> list[RenderableType]:
    kernels = probe.kernels(inspected.model, layer, request.in_channel, request.all_inputs)
    if request.png is not None:
        _kernels_png(request.png, kernels, inspected.source)
    parts: list[RenderableType] = []
    if request.show:
        parts.append(inspect_view.kernel_view(kernels, inspected.source, request.mode))
    if request.png is not None:
        parts.append(Text(f"saved {request.png}"))
    return parts


def _kernels_png(path: Path, kernels: probe.Kernels, source: str) -> None:
    from mnist_tui.inspect.png import draw_mosaic, draw_tiles

    title = f"{kernels.layer} {kernels.kind} kernels"
    if kernels.note:
        title += f", {kernels.note}"
    if kernels.every_input:  # rows are output channels, columns input channels
        draw_mosaic(
            path,
            kernels.tiles,
            kernels.out_channels,
            kernels.in_channels,
            f"{kernels.layer} {kernels.kind}: every kernel\n{source}",
            row_label="output channel",
            column_label="input channel",
            colorbar_label="weight",
        )
        return
    labels = [f"ch {label}" for label in kernels.labels]
    draw_tiles(path, kernels.tiles, labels, f"{title}\n{source}", colorbar_label="weight")


def _feature_maps(
    request: InspectRequest,
    inspected: InspectedModel,
    layer: str,
    image: Path,
    reading: Reading,
) -> list[RenderableType]:
    probe.find_layer(inspected.model, layer)
    digit = reading.digits[0]
    # Exactly what `mnist predict` feeds the model: the checkpoint's mean/std.
    activations = probe.feature_maps(
        inspected.model, layer, digit.normalized(inspected.mean, inspected.std)
    )
    if request.png is not None:
        from mnist_tui.inspect.png import draw_tiles, draw_values

        title = f"{activations.layer} {activations.kind} output for {image.name}"
        title += f"\n{inspected.source}"
        if activations.values.ndim == 3:
            labels = [f"ch {i}" for i in range(len(activations.values))]
            draw_tiles(
                request.png,
                list(activations.values),
                labels,
                title,
                colorbar_label="activation",
            )
        else:
            draw_values(request.png, activations.values, title)
    parts: list[RenderableType] = []
    if request.show and reading.steps:
        parts.append(inspect_view.steps_view([(step.name, step.pixels) for step in reading.steps]))
    if request.show:
        parts.append(
            inspect_view.activation_view(
                activations,
                inspected.source,
                image_name=str(image),
                pixels=digit.pixels,
                classes=inspected.classes,
                width=request.width,
                mode=request.mode,
            )
        )
    if request.png is not None:
        parts.append(Text(f"saved {request.png}"))
    return parts
