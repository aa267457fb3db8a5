"""Looking inside a model: layer lookup, summary, kernels, feature maps (forward hooks).

Everything here takes an `nn.Module` and returns plain data (numpy arrays, dataclasses)
for the views in `inspect_view.py` and `inspect_png.py`, which never see a tensor.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mnist_tui.errors import MnistError

#: One MNIST image, as the summary's example input.
INPUT_SHAPE = (1, 1, 28, 28)


class LayerError(MnistError):
    """A layer name that does not exist, or a layer that cannot show what was asked."""


# --- layers -------------------------------------------------------------------------------


def layer_names(model: nn.Module) -> list[str]:
    """Every submodule's dotted path, in registration order (the root excluded)."""
    return [name for name, _ in model.named_modules() if name]


def closest_first(name: str, candidates: list[str]) -> list[str]:
    """Candidates sorted by similarity to `name`, most similar first (stable on ties)."""

    def similarity(candidate: str) -> float:
        return difflib.SequenceMatcher(None, name.lower(), candidate.lower()).ratio()

    return sorted(candidates, key=similarity, reverse=True)


#: Words in a layer name that say what kind of layer was meant: `conv1` asked of a model
#: whose convolutions are `features.0.0` should still be answered with its convolutions.
KIND_HINTS: dict[str, tuple[type[nn.Module], ...]] = {
    "conv": (nn.Conv2d,),
    "fc": (nn.Linear,),
    "linear": (nn.Linear,),
    "bn": (nn.BatchNorm1d, nn.BatchNorm2d),
    "norm": (nn.BatchNorm1d, nn.BatchNorm2d),
    "pool": (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d),
}

#: Names an unknown-layer message lists at most; the summary lists them all.
MAX_LISTED = 10


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule at a dotted path, or a LayerError listing the layers, closest first.

    "Closest" puts layers of the kind the name hints at (conv, fc, bn, pool) first, then
    orders by spelling.
    """
    modules = dict(model.named_modules())
    names = layer_names(model)
    if name in names:
        return model.get_submodule(name)
    wanted = tuple(t for hint, types in KIND_HINTS.items() if hint in name.lower() for t in types)
    ordered = sorted(
        closest_first(name, names),
        key=lambda n: bool(wanted) and not isinstance(modules[n], wanted),  # stable sort
    )
    listed = ", ".join(ordered[:MAX_LISTED])
    if len(ordered) > MAX_LISTED:
        listed += f" and {len(ordered) - MAX_LISTED} more"
    raise LayerError(
        f"No layer {name!r} in this model. Layers (closest first): {listed}. "
        "`mnist inspect` without a layer lists them all."
    )


def describe(module: nn.Module) -> str:
    """A short type description: Conv2d(1->16, 3x3), Linear(1568->128), MaxPool2d."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return f"Conv2d({module.in_channels}->{module.out_channels}, {kh}x{kw})"
    if isinstance(module, nn.Linear):
        return f"Linear({module.in_features}->{module.out_features})"
    return type(module).__name__


# --- summary ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    """One row of the summary: a leaf module call (a module called twice gets two rows)."""

    name: str
    kind: str
    output_shape: tuple[int, ...] | None  # None: not called by forward()
    parameters: int | None  # None: already counted on an earlier row


@dataclass(frozen=True)
class ModelSummary:
    rows: list[LayerRow]
    total_parameters: int
    trainable_parameters: int
    input_shape: tuple[int, ...]


def _first_tensor(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


def summarize(model: nn.Module, input_shape: tuple[int, ...] = INPUT_SHAPE) -> ModelSummary:
    """Each leaf layer's output shape for one input (in call order) and parameter counts."""
    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
    calls: list[tuple[str, nn.Module, tuple[int, ...] | None]] = []

    def record(name: str):
        def hook(module: nn.Module, _inputs: object, output: object) -> None:
            tensor = _first_tensor(output)
            shape = tuple(tensor.shape[1:]) if tensor is not None else None
            calls.append((name, module, shape))

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in leaves]
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device=_device_of(model)))
    finally:
        for handle in handles:
            handle.remove()

    rows: list[LayerRow] = []
    counted: set[str] = set()
    for name, module, shape in calls:
        own = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LayerRow(name, describe(module), shape, None if name in counted else own))
        counted.add(name)
    for name, module in leaves:  # layers forward() never called still hold parameters
        if name not in counted:
            own = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerRow(name, describe(module), None, own))
    params = list(model.parameters())
    return ModelSummary(
        rows=rows,
        total_parameters=sum(p.numel() for p in params),
        trainable_parameters=sum(p.numel() for p in params if p.requires_grad),
        input_shape=tuple(input_shape[1:]),
    )


def _device_of(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


# --- kernels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kernels:
    """Kernels ready to draw: tiles[i] is a 2-D array labelled labels[i]."""

    layer: str
    kind: str
    tiles: list[np.ndarray]
    labels: list[str]
    note: str  # how the input channels were reduced, for the title
    out_channels: int
    in_channels: int
    every_input: bool = False  # --all: one tile per (output, input) pair


def conv_weight(module: nn.Module, name: str) -> np.ndarray:
    """A conv layer's weight as (out, in, kh, kw) numpy, or a LayerError saying why not."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        kind = describe(module)
        raise LayerError(
            f"{name} is {kind}: it has no 2-D kernels to show. Inspect a conv layer, or add "
            f"--image IMG to see what {name} outputs."
        )
    return weight.detach().to("cpu", torch.float32).numpy()


def select_kernels(
    weight: np.ndarray, in_channel: int | None = None, all_inputs: bool = False
) -> tuple[list[np.ndarray], list[str], str]:
    """Tiles from a (out, in, kh, kw) weight: averaged over input channels (default), one
    input channel, or every (out, in) pair. Returns (tiles, labels, note)."""
    out_channels, in_channels = weight.shape[:2]
    if in_channel is not None and all_inputs:
        raise LayerError("--in-channel and --all both choose input channels: give one.")
    if in_channel is not None:
        if not 0 <= in_channel < in_channels:
            raise LayerError(
                f"--in-channel {in_channel} is out of range: this layer has {in_channels} "
                f"input channel(s), 0 to {in_channels - 1}."
            )
        tiles = [weight[o, in_channel] for o in range(out_channels)]
        return tiles, [str(o) for o in range(out_channels)], f"input channel {in_channel}"
    if all_inputs:
        tiles = [weight[o, i] for o in range(out_channels) for i in range(in_channels)]
        labels = [f"{o}.{i}" for o in range(out_channels) for i in range(in_channels)]
        return tiles, labels, "every input channel, tiles named out.in"
    if in_channels == 1:
        return [weight[o, 0] for o in range(out_channels)], _indices(out_channels), ""
    tiles = list(weight.mean(axis=1))
    return tiles, _indices(out_channels), f"averaged over {in_channels} input channels"


def _indices(count: int) -> list[str]:
    return [str(i) for i in range(count)]


def kernels(
    model: nn.Module, name: str, in_channel: int | None = None, all_inputs: bool = False
) -> Kernels:
    module = find_layer(model, name)
    weight = conv_weight(module, name)
    tiles, labels, note = select_kernels(weight, in_channel, all_inputs)
    out_channels, in_channels = weight.shape[:2]
    return Kernels(
        name, describe(module), tiles, labels, note, out_channels, in_channels, all_inputs
    )


# --- feature maps -------------------------------------------------------------------------


@dataclass(frozen=True)
class Activations:
    """What a layer output for one image: `values` has the batch dimension removed."""

    layer: str
    kind: str
    values: np.ndarray  # (C, H, W) maps, or (N,) values of a linear layer
    probabilities: np.ndarray  # the model's softmax output for the same image


def capture(model: nn.Module, name: str, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `batch` through the model; return (the layer's output, the model's output).

    A forward hook copies the layer's output as it passes; it is removed afterwards even
    if the forward pass fails.
    """
    module = find_layer(model, name)
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        tensor = _first_tensor(output)
        if tensor is not None and not captured:  # a layer called twice: its first call
            captured.append(tensor.detach().clone())

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            logits = model(batch.to(_device_of(model)))
    finally:
        handle.remove()
    if not captured:
        raise LayerError(f"{name} ({describe(module)}) is not used by this model's forward pass.")
    return captured[0], logits


def feature_maps(model: nn.Module, name: str, image: np.ndarray) -> Activations:
    """The layer's output for one normalised 1x28x28 image, as plain numpy."""
    batch = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, *INPUT_SHAPE[1:])
    output, logits = capture(model, name, batch)
    values = output[0].to("cpu", torch.float32).numpy()
    if values.ndim != 3:  # linear layers and anything unusual: a vector of values
        values = values.reshape(-1)
    probabilities = torch.softmax(logits.float(), dim=1)[0].cpu().numpy()
    return Activations(name, describe(find_layer(model, name)), values, probabilities)
