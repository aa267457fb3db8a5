"""Accuracy of `mnist predict` on files made from real MNIST test digits, per case.

    PYTHONPATH=$PWD .venv/bin/python scripts/realworld_accuracy.py RUN [--n 2000]
        [--photos 200] [--skip plain realworld handwriting]

Three tables, each read through `mnist predict`'s own path (imaging.prepare_digits on
the file, every digit left to right, then the run's checkpoint on the CPU):

- plain: the first N test digits saved as 28x28 PNGs, against the same digits as the
  dataset gives them (what `mnist eval` scores). The goal: equal within 0.1%.
- realworld (tests/realworld.py): JPEG on paper, RGBA, low contrast.
- handwriting (tests/handwriting.py): phone photos of pen digits: thin pen on ruled and
  squared paper, shadows, small digits on big pages, blue ink on yellowish paper, heavy
  JPEG, and 3-5 digit numbers. A photo counts as right when every digit is read, in
  order, with nothing extra. Goals: 95% for every single-digit case, 85% for numbers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from handwriting import CASES as PHOTO_CASES
from handwriting import write_case as write_photos
from realworld import CASES, write_case

from mnist_tui.data.files import parse_idx, raw_dir
from mnist_tui.data.specs import DATASETS
from mnist_tui.imaging.prepare import PreparedDigit
from mnist_tui.predict.core import (
    Classifier,
    classifier_from_run,
    predict,
    predict_readings,
    read_all,
)
from mnist_tui.runs.folders import resolve_run_with_weights


def read_files(classifier: Classifier, written: list[tuple[Path, str]]) -> tuple[float, int, int]:
    """(share read exactly, files that failed, files marked unsure) for [(path, truth)]."""
    readings, failures = read_all([p for p, _ in written], invert=None)
    results = predict_readings(classifier, readings, 2)
    truth = {str(p): t for p, t in written}
    right = sum(r.label == truth[r.path] for r in results)
    unsure = sum(r.unsure for r in results)
    return right / len(written), len(failures), unsure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run id, prefix, path or latest")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--root", default="data")
    parser.add_argument("--n", type=int, default=2000, help="test digits for plain/realworld")
    parser.add_argument("--photos", type=int, default=200, help="photos per handwriting case")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=("plain", "realworld", "handwriting")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    run, note = resolve_run_with_weights(args.run, Path(args.runs_dir))
    if note:
        print(note, file=sys.stderr)
    classifier = classifier_from_run(run)
    folder = raw_dir(Path(args.root), DATASETS["mnist"])
    all_digits = parse_idx((folder / "t10k-images-idx3-ubyte").read_bytes())
    all_labels = parse_idx((folder / "t10k-labels-idx1-ubyte").read_bytes())
    digits, labels = all_digits[: args.n], all_labels[: args.n]

    as_mnist = [
        (Path(f"#{i}"), PreparedDigit(d.astype(np.float32) / 255.0, False))
        for i, d in enumerate(digits)
    ]
    baseline = _accuracy(predict(classifier, as_mnist, 1), labels)
    summary = run.read_summary()
    print(
        f"run {run.id}: test accuracy {summary.get('test_acc', float('nan')):.2%} (10,000 digits)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if "plain" not in args.skip:
            print(f"\nplain 28x28 PNGs of the first {args.n} test digits")
            written = []
            for i, (d, y) in enumerate(zip(digits, labels, strict=True)):
                path = Path(tmp) / "plain" / f"{i:05d}.png"
                path.parent.mkdir(exist_ok=True)
                Image.fromarray(d).save(path)
                written.append((path, str(int(y))))
            accuracy, failed, unsure = read_files(classifier, written)
            print(f"{'as the dataset gives them (eval)':<34}{baseline:>9.2%}")
            change = accuracy - baseline
            print(f"{'as PNG files through predict':<34}{accuracy:>9.2%}   ({change:+.2%})")
        if "realworld" not in args.skip:
            print(
                f"\n{'case':<18}{'accuracy':>10}{'failed':>8}   vs. same {args.n} digits as MNIST"
            )
            for case in CASES:
                written = [
                    (p, str(y)) for p, y in write_case(case, digits, labels, Path(tmp) / case)
                ]
                accuracy, failed, _ = read_files(classifier, written)
                print(f"{case:<18}{accuracy:>10.2%}{failed:>8}   ({accuracy - baseline:+.2%})")
        if "handwriting" not in args.skip:
            print(f"\n{'photo case':<18}{'exact':>8}{'failed':>8}{'unsure':>8}{'s/photo':>9}")
            for case in PHOTO_CASES:
                photos = write_photos(
                    case, all_digits, all_labels, Path(tmp) / f"photo-{case}", args.photos, seed=11
                )
                started = time.perf_counter()
                accuracy, failed, unsure = read_files(classifier, photos)
                per_photo = (time.perf_counter() - started) / len(photos)
                print(
                    f"{case:<18}{accuracy:>8.1%}{failed:>8}{unsure:>8}{per_photo:>9.2f}", flush=True
                )


def _accuracy(results: list, labels: np.ndarray) -> float:
    return float(np.mean([int(r.label) == int(y) for r, y in zip(results, labels, strict=True)]))


if __name__ == "__main__":
    main()
