"""The bundle's README.md: a model card, with a snippet that runs as written.

Plain data in, Markdown out; standard library only. The snippet loads model.pt2 with
plain PyTorch (torch.export, no mnist_tui, no warnings) and predicts example.png, a test
image shipped alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

SNIPPET = """\
import json

import numpy as np
import torch
from PIL import Image

# torch.export's program: the graph and the weights, no Python class needed.
model = torch.export.load("model.pt2").module()
preprocess = json.load(open("preprocess.json"))
labels = json.load(open("labels.json"))

# A 28x28 greyscale digit, light ink on dark and centred like MNIST. For any other
# picture, follow preprocess.json's "from_any_image" steps first.
pixels = np.asarray(Image.open("example.png").convert("L"), dtype=np.float32) / 255.0
x = (pixels - preprocess["normalize"]["mean"]) / preprocess["normalize"]["std"]
x = torch.from_numpy(x).reshape(1, 1, 28, 28)
with torch.no_grad():
    probabilities = model(x).softmax(dim=1)[0]
best = int(probabilities.argmax())
print(labels[str(best)], f"{float(probabilities[best]):.3f}")
"""

ONNX_SNIPPET = """\
import json

import numpy as np
import onnxruntime
from PIL import Image

session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
preprocess = json.load(open("preprocess.json"))
labels = json.load(open("labels.json"))

pixels = np.asarray(Image.open("example.png").convert("L"), dtype=np.float32) / 255.0
x = (pixels - preprocess["normalize"]["mean"]) / preprocess["normalize"]["std"]
(logits,) = session.run(None, {"input": x.reshape(1, 1, 28, 28).astype(np.float32)})
print(labels[str(int(logits[0].argmax()))])
"""


@dataclass(frozen=True)
class CardFacts:
    """What the model card states; every value already formatted or plain."""

    run_id: str
    model: str
    parameters: int
    dataset: str
    classes: list[str]
    mean: float
    std: float
    test_acc: float | None
    best_val_acc: float | None
    best_epoch: int | None
    epochs_run: int | None
    trained: str | None  # when the run ended (or started), ISO UTC
    exported: str  # ISO UTC
    torch_version: str
    files: list[str]
    example_index: int
    example_label: str  # the test set's label for example.png
    example_prediction: str  # what the model says (the snippet prints this)
    check_lines: list[str]


def _percent(value: float | None) -> str:
    return "not recorded" if value is None else f"{value:.2%}"


def render(facts: CardFacts) -> str:
    """The README.md text for a bundle folder."""
    file_notes = {
        "weights.pt": "state_dict; `torch.load(..., weights_only=True)`",
        "model.pt2": "torch.export program: `torch.export.load(...).module()`",
        "model.pt": "TorchScript module (torch.jit, deprecated upstream; for older tools)",
        "model.onnx": "ONNX graph with a dynamic batch dimension",
        "labels.json": "class index -> label",
        "preprocess.json": "input size, mean/std, polarity and centring rules",
        "config.toml": "the run's training configuration (`mnist train --config` repeats it)",
        "example.png": f"test image #{facts.example_index}, labelled {facts.example_label}",
        "README.md": "this card",
    }
    files = "\n".join(f"| `{name}` | {file_notes.get(name, '')} |" for name in facts.files)
    checks = "\n".join(f"- {line}" for line in facts.check_lines)
    labels = ", ".join(facts.classes)
    onnx_section = ""
    if "model.onnx" in facts.files:
        onnx_section = (
            "The same with onnxruntime and model.onnx (the batch dimension is dynamic):\n\n"
            f"```python\n{ONNX_SNIPPET}```\n\n"
        )
    return f"""# {facts.model} trained on {facts.dataset}

Exported by `mnist export` from run `{facts.run_id}`.

| | |
| --- | --- |
| model | `{facts.model}` |
| parameters | {facts.parameters:,} |
| dataset | {facts.dataset} ({len(facts.classes)} classes: {labels}) |
| test accuracy | {_percent(facts.test_acc)} |
| best validation accuracy | {_percent(facts.best_val_acc)} (epoch {facts.best_epoch}) |
| epochs run | {facts.epochs_run} |
| trained | {facts.trained or "not recorded"} |
| exported | {facts.exported} |
| torch | {facts.torch_version} |

## Input

One greyscale 28x28 image per row of a float32 tensor shaped (N, 1, 28, 28): pixel
values scaled to 0..1, light ink on a dark background, then `(x - {facts.mean}) / {facts.std}`.
The output is N x {len(facts.classes)} logits; `labels.json` names each index. How MNIST
centred its digits (and how to do the same to any photo) is in `preprocess.json`.

## Files

| file | what it holds |
| --- | --- |
{files}

## Use it with plain PyTorch

Run in this folder; it prints `{facts.example_prediction}` and the model's probability:

```python
{SNIPPET}```

{onnx_section}`mnist predict --export <this folder> IMAGE` does the full preprocessing for any
image.

## Checked at export

Each file was loaded back by its own runtime in a fresh Python process and compared
with the PyTorch model on real test images:

{checks}
"""
