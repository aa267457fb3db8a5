"""Load an exported model with its own runtime and run it: the far side of the export check.

Run as a script in a fresh, isolated interpreter (`python -I roundtrip_child.py ...`) by
`roundtrip.py`. It must not import mnist_tui: it proves that the exported files are all
another program needs. Inputs come from a .npy file, logits go to another; one JSON line
on stdout reports the runtime, what was checked here and the single-image latency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

BATCH = 256  # large enough to be quick, small enough to need a dynamic batch dimension


def load_torchscript(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    import torch

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still works
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return run, {"runtime": f"torch.jit (torch {torch.__version__})", "module": module}


def load_program(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """model.pt2: a torch.export program, run as the module it unflattens to."""
    import torch

    torch.set_num_threads(1)
    module = torch.export.load(str(path)).module()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return run, {"runtime": f"torch.export (torch {torch.__version__})", "module": module}


def load_onnx(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    import onnx
    import onnxruntime

    onnx.checker.check_model(str(path))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (model_input,) = session.get_inputs()
    batch_dim = model_input.shape[0]

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {model_input.name: x})[0]

    info = {
        "runtime": f"onnxruntime {onnxruntime.__version__}",
        "dynamic_batch": not isinstance(batch_dim, int),
    }
    return run, info


def check_bundle(folder: Path, module: object, outputs: np.ndarray) -> dict:
    """The bundle's other files agree with model.pt2: same weights, one label per output."""
    import torch

    weights = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    exported = module.state_dict()  # type: ignore[attr-defined]
    same_weights = set(weights) == set(exported) and all(
        torch.equal(weights[k], exported[k]) for k in weights
    )
    labels = json.loads((folder / "labels.json").read_text())
    preprocess = json.loads((folder / "preprocess.json").read_text())
    return {
        "weights_match": bool(same_weights),
        "labels_match": len(labels) == outputs.shape[1],
        "preprocess_shape": preprocess["input"]["shape"],
    }


def latency_ms(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, repeats: int) -> float:
    """Median wall time of one single-image forward pass, after a warm-up."""
    for _ in range(max(5, repeats // 10)):
        run(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=("bundle", "pt2", "torchscript", "onnx"), required=True)
    parser.add_argument("--model", type=Path, required=True, help="file, or folder for bundle")
    parser.add_argument("--inputs", type=Path, required=True)
    parser.add_argument("--outputs", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    inputs = np.load(args.inputs)
    if args.kind == "onnx":
        run, info = load_onnx(args.model)
    elif args.kind in ("bundle", "pt2"):
        run, info = load_program(args.model / "model.pt2" if args.kind == "bundle" else args.model)
    else:
        run, info = load_torchscript(args.model)
    outputs = np.concatenate([run(inputs[i : i + BATCH]) for i in range(0, len(inputs), BATCH)])
    np.save(args.outputs, outputs.astype(np.float32))
    module = info.pop("module", None)
    if args.kind == "bundle":
        info.update(check_bundle(args.model, module, outputs))
    info["latency_ms"] = latency_ms(run, inputs[:1], args.repeats)
    info["imported_mnist_tui"] = any(name.split(".")[0] == "mnist_tui" for name in sys.modules)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
