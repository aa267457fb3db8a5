"""1 process x T threads against N processes x T/N threads (`mnist train --nproc N`).

    python -m benchmarks.distributed --root data [--epochs 3] [--repeats 2] [--nproc 2]

Both train the same recipe with the same global batch (--batch-size stays global under
--nproc), fp32 on the CPU, and the runs alternate (A B A B) so a neighbour's load on a
shared machine falls on both. Reported per run: images/s as metrics.csv records it (the
training images of an epoch over the epoch's seconds, validation included), the wall time
of the whole command (process start-up and the test evaluation included) and the test
accuracy after the last epoch's best checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import tomllib
from pathlib import Path

from benchmarks.measure import cli_env, mnist_command, run_process


def one_run(args: argparse.Namespace, nproc: int, runs: Path) -> dict[str, float]:
    threads = max(1, args.threads // nproc)
    command = ["train", "--root", str(args.root), "--epochs", str(args.epochs)]
    command += ["--batch-size", str(args.batch_size), "--device", "cpu", "--precision", "fp32"]
    command += ["--plain", "--runs-dir", str(runs), "--name", f"p{nproc}"]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    result = run_process(mnist_command(*command), env=cli_env(OMP_NUM_THREADS=str(threads)))
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    (run,) = sorted(runs.glob(f"*-p{nproc}"), key=os.path.getmtime)[-1:]
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    summary = tomllib.loads((run / "summary.toml").read_text())
    return {
        "images_per_s": statistics.median(float(r["samples_per_s"]) for r in rows),
        "epoch_s": statistics.median(float(r["seconds"]) for r in rows),
        "wall_s": result.seconds,
        "test_acc": summary["test_acc"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    layouts = [1, args.nproc]
    results: dict[int, list[dict[str, float]]] = {n: [] for n in layouts}
    with tempfile.TemporaryDirectory(prefix="bench-dist-") as scratch:
        for repeat in range(args.repeats):
            for nproc in layouts:
                result = one_run(args, nproc, Path(scratch))
                results[nproc].append(result)
                print(
                    f"round {repeat + 1}: {nproc} process(es) x {max(1, args.threads // nproc)} "
                    f"thread(s): {result['images_per_s']:.0f} images/s, epoch "
                    f"{result['epoch_s']:.1f} s, wall {result['wall_s']:.1f} s, test acc "
                    f"{result['test_acc']:.4f}",
                    flush=True,
                )
    print(f"\n{args.epochs} epochs, global batch {args.batch_size}, fp32, {args.repeats} rounds:")
    print("| layout | images/s (median epoch, each round) | wall s | test acc |")
    print("| --- | --- | --- | --- |")
    for nproc, rows in results.items():
        threads = max(1, args.threads // nproc)
        print(
            f"| {nproc} process(es) x {threads} thread(s) | "
            + ", ".join(f"{r['images_per_s']:.0f}" for r in rows)
            + " | "
            + ", ".join(f"{r['wall_s']:.0f}" for r in rows)
            + " | "
            + ", ".join(f"{100 * r['test_acc']:.2f}%" for r in rows)
            + " |"
        )


if __name__ == "__main__":
    main()
