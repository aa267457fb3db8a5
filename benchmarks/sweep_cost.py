"""What one `mnist sweep` trial costs over `mnist train` with the same settings (issue 21).

Alternates, REPEATS times: `mnist train SETTINGS` and `mnist sweep SETTINGS --param
lr=A,B --sampler grid --trials 1` (one trial: the search space cannot hold a single value,
and which of the two learning rates the trial gets changes no operation's cost), each a
fresh process in a fresh runs folder, timed from start to exit. Prints each pair, the
median ratio sweep/train and the median fixed cost (sweep - train, seconds): the goal is
a ratio of at most 1.05 once 1 s of fixed cost is taken off.

    python -m benchmarks.sweep_cost --root data [--epochs 1] [--repeats 3] [--marginal]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(command: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data", help="MNIST folder (default: data)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="fast_cnn")
    parser.add_argument("--val-size", default="5000")
    parser.add_argument(
        "--marginal",
        action="store_true",
        help="also time a 2-trial sweep: its second trial's cost is the per-trial figure",
    )
    args = parser.parse_args(argv)
    settings = [
        *["--root", args.root, "--model", args.model, "--epochs", str(args.epochs)],
        *["--val-size", args.val_size, "--batch-size", "64", "--device", "cpu"],
        *["--precision", "fp32", "--plain"],
    ]
    mnist = [sys.executable, "-m", "mnist_tui"]
    pairs: list[tuple[float, float]] = []
    extra: list[float] = []  # the second trial of a 2-trial sweep, seconds
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            runs = [Path(tmp) / f"train-{k}", Path(tmp) / f"sweep-{k}"]
            train = _timed([*mnist, "train", "--lr", "0.05", *settings, "--runs-dir", str(runs[0])])
            sweep = _timed(
                [
                    *[*mnist, "sweep", "--name", f"cost{k}", "--param", "lr=0.05,0.1"],
                    *["--sampler", "grid", "--trials", "1", "--pruner", "none"],
                    *[*settings, "--runs-dir", str(runs[1])],
                ]
            )
            pairs.append((train, sweep))
            line = f"pair {k + 1}: train {train:.1f} s, sweep (1 trial) {sweep:.1f} s"
            if args.marginal:
                two = _timed(
                    [
                        *[*mnist, "sweep", "--name", f"two{k}", "--param", "lr=0.05,0.1"],
                        *["--sampler", "grid", "--trials", "2", "--pruner", "none"],
                        *[*settings, "--runs-dir", str(Path(tmp) / f"two-{k}")],
                    ]
                )
                extra.append(two - sweep)
                line += f", sweep (2 trials) {two:.1f} s: the second trial {two - sweep:.1f} s"
            print(line, flush=True)
    ratio = statistics.median(s / t for t, s in pairs)
    fixed = statistics.median(s - t for t, s in pairs)
    print(f"median ratio sweep/train: {ratio:.3f}; median fixed cost: {fixed:+.2f} s")
    if extra:
        print(
            f"median second trial of a sweep: {statistics.median(extra):.1f} s "
            f"(a whole `mnist train`, process start included: "
            f"{statistics.median(t for t, _ in pairs):.1f} s)"
        )


if __name__ == "__main__":
    main()
