"""Exported models back into the tool: `mnist predict --export DIR_OR_FILE`.

Accepts what `mnist export` writes: a bundle folder (model.pt2, model.pt, else
model.onnx), a torch.export .pt2 file, a TorchScript file or an ONNX file, and returns a
`predict.Classifier`. Labels and normalisation come from labels.json/preprocess.json
beside the model, else from the copies embedded in the file itself (extra files, ONNX
metadata), else MNIST's.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnist_tui.errors import ExportError, brief, printable
from mnist_tui.fsutil import check_regular, describe_os_error, read_regular
from mnist_tui.imaging.prepare import MNIST_MEAN, MNIST_STD
from mnist_tui.predict.core import Classifier

METADATA_FILES = ("labels.json", "preprocess.json")
METADATA_MAX_BYTES = 1 << 20  # labels.json / preprocess.json are a few hundred bytes
WHAT_TO_GIVE = "give an `mnist export` folder, a .pt2, a TorchScript .pt or an .onnx file"


def classifier_from_export(path: Path) -> Classifier:
    """A Classifier for a bundle folder, a TorchScript file or an ONNX file."""
    path = Path(path)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as e:
        raise ExportError(f"--export {path}: {describe_os_error(e)}.") from None
    if not exists:
        raise ExportError(f"--export {path}: no such file or folder; {WHAT_TO_GIVE}.")
    if is_dir:
        model_file = next(
            (path / n for n in ("model.pt2", "model.pt", "model.onnx") if (path / n).is_file()),
            None,
        )
        if model_file is None:
            raise ExportError(
                f"--export {path}: the folder has no model.pt2, model.pt or model.onnx; "
                f"{WHAT_TO_GIVE}."
            )
        path = model_file
    try:
        check_regular(path)  # a FIFO would block torch.jit.load / onnxruntime forever
    except OSError as e:
        raise ExportError(f"--export {path}: {describe_os_error(e)}; {WHAT_TO_GIVE}.") from None
    if path.suffix.lower() == ".onnx":
        forward, embedded = load_onnx(path)
    elif path.suffix.lower() == ".pt2":
        forward, embedded = load_program(path)
    else:
        forward, embedded = load_torchscript(path)
    documents = {**embedded, **beside(path)}  # files next to the model win: they are visible
    classes, mean, std = read_metadata(documents, source=str(path))
    check_input_shape(forward, len(classes), path)
    return Classifier(forward=forward, classes=classes, mean=mean, std=std, source=str(path))


def check_input_shape(
    forward: Callable[[torch.Tensor], torch.Tensor], num_classes: int, path: Path
) -> None:
    """Run two blank 1x28x28 images through the model on load: a model made for other
    inputs (or with other outputs, or NaN weights) is refused now, in one line, rather
    than failing on every image of the batch."""
    probe = torch.zeros(2, 1, 28, 28)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logits = forward(probe)
    except Exception as e:  # torch.jit and onnxruntime raise their own classes
        raise ExportError(
            f"--model {path} does not take 1x28x28 images ({brief(e)}); {WHAT_TO_GIVE}."
        ) from None
    shape = tuple(getattr(logits, "shape", ()))
    if shape != (2, num_classes):
        raise ExportError(
            f"--model {path} gives outputs of shape {shape} for 2 images, not (2, "
            f"{num_classes}) class scores; {WHAT_TO_GIVE}."
        )
    if not bool(torch.isfinite(torch.as_tensor(logits)).all()):
        raise ExportError(
            f"--model {path} gives NaN or infinite scores: its weights are damaged. "
            "Export the run again."
        )


def beside(model_file: Path) -> dict[str, str]:
    """labels.json / preprocess.json next to the model file (a bundle), when present."""
    found = {}
    for name in METADATA_FILES:
        candidate = model_file.parent / name
        if candidate.exists():
            try:
                found[name] = read_regular(candidate, METADATA_MAX_BYTES).decode("utf-8")
            except (OSError, UnicodeDecodeError) as e:
                reason = describe_os_error(e) if isinstance(e, OSError) else brief(e)
                raise ExportError(f"{candidate} cannot be read ({reason}).") from None
    return found


def read_metadata(documents: dict[str, str], source: str) -> tuple[list[str], float, float]:
    """(classes, mean, std) from labels.json / preprocess.json texts; MNIST's when absent."""
    classes = [str(d) for d in range(10)]
    mean, std = MNIST_MEAN, MNIST_STD
    try:
        if "labels.json" in documents:
            labels = json.loads(documents["labels.json"])
            classes = [printable(labels[str(i)]) for i in range(len(labels))]
        if "preprocess.json" in documents:
            normalize = json.loads(documents["preprocess.json"])["normalize"]
            mean, std = float(normalize["mean"]), float(normalize["std"])
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise ExportError(
            f"{source}: its labels.json or preprocess.json is damaged "
            f"({type(e).__name__}: {brief(e)}); export the run again."
        ) from None
    if not 0 < len(classes) <= 1000:
        raise ExportError(f"{source}: its labels.json holds no class names (or too many).")
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise ExportError(
            f"{source}: its preprocess.json has mean {mean}, std {std}: they must be finite "
            "with std > 0; export the run again."
        )
    return classes, mean, std


def load_torchscript(path: Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, str]]:
    extra = dict.fromkeys(METADATA_FILES, "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit: deprecated, supported
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra).eval()
    except (RuntimeError, ValueError, OSError) as e:
        raise ExportError(
            f"--export {path} is not a TorchScript model ({brief(e)}); {WHAT_TO_GIVE} "
            "(a run's checkpoint.pt goes with --run)."
        ) from None

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(inputs)

    embedded = {name: _text(value) for name, value in extra.items() if value}
    return forward, embedded


def load_program(path: Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, str]]:
    """A torch.export program (.pt2) and the labels/preprocessing saved in it."""
    extra = dict.fromkeys(METADATA_FILES, "")
    try:
        module = torch.export.load(str(path), extra_files=extra).module()
    except Exception as e:  # a damaged archive raises zipfile, pickle or torch errors
        raise ExportError(
            f"--export {path} is not a torch.export program ({brief(e)}); {WHAT_TO_GIVE}."
        ) from None

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(inputs)

    return forward, {name: _text(value) for name, value in extra.items() if value}


def load_onnx(path: Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, str]]:
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(
            "Running an ONNX model needs onnxruntime: pip install 'mnist-tui[onnx]'."
        ) from None
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
        raise ExportError(f"--export {path} is not a usable ONNX model ({brief(e)}).") from None
    model_input = session.get_inputs()[0]
    fixed_batch = model_input.shape[0] if isinstance(model_input.shape[0], int) else None

    def run(inputs: np.ndarray) -> np.ndarray:
        return session.run(None, {model_input.name: inputs})[0]

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        array = inputs.detach().cpu().numpy().astype(np.float32)
        if fixed_batch is None:
            return torch.from_numpy(run(array))
        # Models exported with a fixed batch (not ours) get exactly that many, zero-padded.
        chunks = []
        for start in range(0, len(array), fixed_batch):
            chunk = array[start : start + fixed_batch]
            padding = np.zeros((fixed_batch - len(chunk), *chunk.shape[1:]), np.float32)
            chunks.append(run(np.concatenate([chunk, padding]))[: len(chunk)])
        return torch.from_numpy(np.concatenate(chunks))

    metadata: dict[str, Any] = session.get_modelmeta().custom_metadata_map
    return forward, {name: metadata[name] for name in METADATA_FILES if name in metadata}


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
