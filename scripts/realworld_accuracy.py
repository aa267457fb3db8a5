"""Accuracy of `mnist predict` on "real-world" files made from real MNIST test digits.

    PYTHONPATH=$PWD .venv/bin/python scripts/realworld_accuracy.py RUN [--n 2000]

For each case of tests/realworld.py (JPEG on paper, RGBA, low contrast) it writes the
first N test digits as files, predicts them through the same path as `mnist predict`
(imaging.prepare_digit, then the run's checkpoint on the CPU) and prints the accuracy
next to the model's accuracy on the same N digits as MNIST gives them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from realworld import CASES, write_case

from mnist_tui.data.files import parse_idx, raw_dir
from mnist_tui.data.specs import DATASETS
from mnist_tui.imaging.prepare import PreparedDigit
from mnist_tui.predict.core import classifier_from_run, predict, prepare_all
from mnist_tui.runs.folders import resolve_run_with_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run id, prefix, path or latest")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--root", default="data")
    parser.add_argument("--n", type=int, default=2000, help="test digits per case")
    args = parser.parse_args()
    torch.set_num_threads(1)

    run, note = resolve_run_with_weights(args.run, Path(args.runs_dir))
    if note:
        print(note, file=sys.stderr)
    classifier = classifier_from_run(run)
    folder = raw_dir(Path(args.root), DATASETS["mnist"])
    digits = parse_idx((folder / "t10k-images-idx3-ubyte").read_bytes())[: args.n]
    labels = parse_idx((folder / "t10k-labels-idx1-ubyte").read_bytes())[: args.n]

    as_mnist = [
        (Path(f"#{i}"), PreparedDigit(d.astype(np.float32) / 255.0, False))
        for i, d in enumerate(digits)
    ]
    baseline = _accuracy(predict(classifier, as_mnist, 1), labels)
    summary = run.read_summary()
    print(
        f"run {run.id}: test accuracy {summary.get('test_acc', float('nan')):.2%} (10,000 digits)"
    )
    print(
        f"{'case':<14}{'accuracy':>10}{'failed':>8}   vs. same {args.n} digits as MNIST gives them"
    )
    print(f"{'mnist (raw)':<14}{baseline:>10.2%}{0:>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            written = write_case(case, digits, labels, Path(tmp) / case)
            prepared, failures = prepare_all([p for p, _ in written], invert=None)
            truth = dict((str(p), label) for p, label in written)
            results = predict(classifier, prepared, 1)
            correct = sum(int(r.label) == truth[r.path] for r in results)
            accuracy = correct / len(written)  # a failed file counts as wrong
            print(f"{case:<14}{accuracy:>10.2%}{len(failures):>8}   ({accuracy - baseline:+.2%})")


def _accuracy(results: list, labels: np.ndarray) -> float:
    return float(np.mean([int(r.label) == int(y) for r, y in zip(results, labels, strict=True)]))


if __name__ == "__main__":
    main()
