"""The export check: load an export back in a fresh process and compare it with PyTorch.

The far side is `roundtrip_child.py`, run by `python -I` (no PYTHONPATH, no current
folder on the path), so it sees only installed packages and never imports mnist_tui.
Inputs and outputs travel as .npy files; the child reports one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnist_tui.errors import ExportError
from mnist_tui.export.roundtrip_child import latency_ms

CHILD_SCRIPT = Path(__file__).with_name("roundtrip_child.py")
# Float32 kernels differ between runtimes (fused ops, summation order): logits agree to
# about 1e-6 in practice; anything beyond this is a real difference, not rounding.
ABS_TOLERANCE = 1e-4
REL_TOLERANCE = 1e-4
LATENCY_REPEATS = 200
CHILD_TIMEOUT_S = 600


@dataclass(frozen=True)
class CheckResult:
    """One export loaded back by its own runtime and compared on the same images."""

    kind: str  # bundle | pt2 | torchscript | onnx
    path: Path
    runtime: str
    images: int
    same_argmax: int
    max_abs_diff: float
    within_tolerance: bool
    latency_ms: float  # median single-image forward pass, one thread
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def reference_logits(model: nn.Module, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    """The PyTorch model's own logits for `inputs` (N, 1, 28, 28), eval mode, CPU."""
    model = model.eval().cpu()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch):
            outputs.append(model(torch.from_numpy(inputs[start : start + batch])).numpy())
    return np.concatenate(outputs).astype(np.float32)


def eager_latency_ms(model: nn.Module, image: np.ndarray, repeats: int = LATENCY_REPEATS) -> float:
    """Median single-image latency of the PyTorch model itself, one thread, like the child."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x = torch.from_numpy(image)
    try:
        with torch.inference_mode():
            # The child's own timer, so both sides are measured the same way.
            return latency_ms(lambda _image: model(x), image, repeats)
    finally:
        torch.set_num_threads(threads)


def run_child(kind: str, path: Path, inputs_file: Path, outputs_file: Path) -> dict:
    """Run the loader in a fresh isolated interpreter; its JSON report, or ExportError."""
    command = [
        sys.executable,
        "-I",
        str(CHILD_SCRIPT),
        "--kind",
        kind,
        "--model",
        str(path),
        "--inputs",
        str(inputs_file),
        "--outputs",
        str(outputs_file),
        "--repeats",
        str(LATENCY_REPEATS),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ExportError(f"Loading {path} back took over {CHILD_TIMEOUT_S} s.") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        last = lines[-1][:200] if lines else f"exit code {done.returncode}"
        raise ExportError(f"{path} could not be loaded back by its runtime: {last}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise ExportError(f"The check of {path} gave no report: {done.stdout[-200:]!r}") from None


def compare(reference: np.ndarray, exported: np.ndarray) -> tuple[int, float, bool]:
    """(images with the same argmax, max |difference|, all within tolerance)."""
    if exported.shape != reference.shape:
        return 0, float("inf"), False
    same = int((exported.argmax(axis=1) == reference.argmax(axis=1)).sum())
    difference = np.abs(exported.astype(np.float64) - reference)
    within = bool(np.all(difference <= ABS_TOLERANCE + REL_TOLERANCE * np.abs(reference)))
    return same, float(difference.max(initial=0.0)), within


def check_export(
    kind: str, path: Path, inputs_file: Path, reference: np.ndarray, workdir: Path
) -> CheckResult:
    """Load `path` in a fresh process, run it on the saved inputs, compare with `reference`."""
    outputs_file = workdir / f"outputs-{kind}.npy"
    report = run_child(kind, path, inputs_file, outputs_file)
    exported = np.load(outputs_file)
    same, max_diff, within = compare(reference, exported)
    problems, notes = [], []
    images = len(reference)
    if exported.shape != reference.shape:
        problems.append(f"output shape {exported.shape}, expected {reference.shape}")
    elif same != images:
        problems.append(f"{images - same} of {images} images get a different digit")
    elif not within:
        problems.append(f"outputs differ by up to {max_diff:.2g} (tolerance {ABS_TOLERANCE:g})")
    if report.get("imported_mnist_tui"):
        problems.append("the loader needed mnist_tui")
    if kind == "onnx":
        (notes if report.get("dynamic_batch") else problems).append(
            "dynamic batch dimension" if report.get("dynamic_batch") else "fixed batch dimension"
        )
    if kind == "bundle":
        if report.get("weights_match"):
            notes.append("weights.pt = model.pt2's weights")
        else:
            problems.append("weights.pt differs from model.pt2")
        if not report.get("labels_match"):
            problems.append("labels.json does not have one label per output")
    return CheckResult(
        kind=kind,
        path=path,
        runtime=str(report.get("runtime", "?")),
        images=images,
        same_argmax=same,
        max_abs_diff=max_diff,
        within_tolerance=within,
        latency_ms=float(report.get("latency_ms", float("nan"))),
        notes=notes,
        problems=problems,
    )
