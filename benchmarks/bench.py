"""`make bench`: the notebook loop against the tool, on this machine, in one invocation.

    python -m benchmarks.bench [--quick] [--root data] [--device cpu|cuda|all] [--out FILE]

Prints markdown tables. Every figure is the median of the number of runs shown beside
it; ratios compare figures measured by this same invocation. The CUDA table is produced
only where torch sees a GPU.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.measure import REPO, ProcessRun, median, mnist_command, repeat, run_process

TARGET = 0.99
FAST_PRESET = "fast"
IMPORT_TORCH = [sys.executable, "-c", "import torch"]
#: Options added to every training this script starts (set by --val-size: small datasets).
TRAIN_EXTRA: list[str] = []
SETTINGS_EXTRA: dict[str, int] = {}


@dataclass
class Repeats:
    """How many runs each median uses."""

    baseline: int = 3
    train: int = 3
    target_seeds: int = 3  # the goal is stated as a median over three seeds
    startup: int = 5
    predict: int = 5
    evaluate: int = 3
    levers: int = 3

    @classmethod
    def quick(cls) -> Repeats:
        return cls(1, 1, 1, 3, 3, 1, 1)


@dataclass
class Table:
    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # figure, value, runs

    def add(self, figure: str, value: str, runs: int | str = "") -> None:
        self.rows.append((figure, value, str(runs)))
        print(f"  {figure}: {value}", file=sys.stderr, flush=True)

    def markdown(self) -> str:
        lines = [
            f"### {self.title}",
            "",
            "| figure | value | runs (median of) |",
            "| --- | ---: | ---: |",
        ]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows]
        return "\n".join(lines)


def seconds(x: float) -> str:
    return f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.0f} ms"


# --- figures ---------------------------------------------------------------------------------


def bench_training(table: Table, root: Path, device: str, n: Repeats, runs_dir: Path) -> None:
    """Baseline epoch, default-recipe epoch (subprocess: what a user runs), peak memory.

    The two alternate (baseline, tool, baseline, ...) so that a burst of load from other
    tenants of a shared machine hits both alike; the paired ratio row is the steadier one.
    """
    from benchmarks.notebook_loop import run_one_epoch

    base: list = []
    tool: list[ToolEpoch] = []
    for i in range(max(n.baseline, n.train)):
        if i < n.baseline:
            base.append(run_one_epoch(root, device))
        if i < n.train:
            tool.append(train_one_default_epoch(root, device, runs_dir))
    base_s = median([b.seconds for b in base])
    base_rate = median([b.images / b.seconds for b in base])
    table.add("baseline (notebook loop): seconds per epoch", seconds(base_s), n.baseline)
    table.add(
        "baseline: test accuracy after 1 epoch",
        f"{median([b.test_acc for b in base]):.2%}",
        n.baseline,
    )

    tool_s = median([t.seconds for t in tool])
    tool_rate = median([t.images / t.seconds for t in tool])
    table.add("`mnist train` defaults: seconds per epoch", seconds(tool_s), n.train)
    table.add(
        "`mnist train` defaults: test accuracy after 1 epoch",
        f"{median([t.test_acc for t in tool]):.2%}",
        n.train,
    )
    table.add("speed-up, baseline/tool seconds per epoch", f"{base_s / tool_s:.1f}x", "")
    paired = [b.seconds / t.seconds for b, t in zip(base, tool, strict=False)]
    table.add(
        "speed-up, median of the paired (back-to-back) epoch ratios",
        f"{median(paired):.1f}x",
        len(paired),
    )
    table.add(
        f"speed-up, images/s (baseline trains on {base[0].images:,}, tool on "
        f"{tool[0].images:,} + validates)",
        f"{tool_rate / base_rate:.1f}x",
        "",
    )
    table.add(
        "`mnist train --epochs 1` peak resident memory",
        f"{median([t.peak_rss_mib for t in tool]):.0f} MiB",
        n.train,
    )


@dataclass
class ToolEpoch:
    seconds: float
    images: int
    test_acc: float
    peak_rss_mib: float


def train_one_default_epoch(root: Path, device: str, runs_dir: Path) -> ToolEpoch:
    run = run_process(
        mnist_command(
            "train",
            "--epochs",
            "1",
            "--device",
            device,
            "--plain",
            "--root",
            str(root),
            "--runs-dir",
            str(runs_dir),
            *TRAIN_EXTRA,
        )
    )
    if run.returncode != 0:
        raise SystemExit(f"mnist train failed:\n{run.stderr}")
    folder = newest_run(runs_dir)
    row = next(csv.DictReader((folder / "metrics.csv").open()))
    summary = tomllib.loads((folder / "summary.toml").read_text())
    config = tomllib.loads((folder / "config.toml").read_text())
    return ToolEpoch(
        float(row["seconds"]), config["data"]["train_size"], summary["test_acc"], run.peak_rss_mib
    )


def newest_run(runs_dir: Path) -> Path:
    return max(runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)


def bench_target(table: Table, root: Path, device: str, n: Repeats) -> None:
    from benchmarks.target import time_to_accuracy

    results = [
        time_to_accuracy(
            root, {"preset": FAST_PRESET, "seed": seed, "device": device, **SETTINGS_EXTRA}, TARGET
        )
        for seed in range(n.target_seeds)
    ]
    reached = [r.seconds for r in results if r.seconds is not None]
    label = f"time to {TARGET:.1%} test accuracy, `--preset {FAST_PRESET}`"
    if len(reached) * 2 > len(results):  # a median exists only if most seeds got there
        missing = [float("inf")] * (len(results) - len(reached))
        value = seconds(median(reached + missing))
    else:
        value = "not reached"
    accs = ", ".join(f"{r.test_acc:.2%} after {r.epochs} ep" for r in results)
    table.add(f"{label} (seeds 0..{n.target_seeds - 1}: {accs})", value, n.target_seeds)


def bench_levers(table: Table, device: str, n: Repeats) -> None:
    import torch

    from benchmarks.levers import levers_for, throughput

    dev = torch.device(device)
    images = 12_800 if dev.type == "cpu" else 200_000
    reference = None
    for lever in levers_for(dev):
        rate = median(repeat(n.levers, lambda lever=lever: throughput(lever, dev, images)))
        reference = reference or rate
        table.add(f"lever: {lever.name}", f"{rate:,.0f} img/s ({rate / reference:.2f}x)", n.levers)


def bench_imaging(table: Table, n: Repeats) -> None:
    """Preparing a 12 MP phone photo (benchmarks/imaging_cost.py)."""
    from benchmarks.imaging_cost import rows

    for figure, value, runs in rows(n.predict):
        table.add(figure, value, runs)


def bench_startup(table: Table, n: Repeats) -> None:
    helps = repeat(n.startup, lambda: run_process(mnist_command("--help")).seconds)
    torch_import = repeat(n.startup, lambda: run_process(IMPORT_TORCH).seconds)
    table.add("`mnist --help` wall time", seconds(median(helps)), n.startup)
    table.add('`python -c "import torch"` wall time', seconds(median(torch_import)), n.startup)


def bench_inference(table: Table, root: Path, device: str, n: Repeats, runs_dir: Path) -> None:
    """predict/eval on the run the training figures left behind (needs those commands)."""
    help_text = run_process(mnist_command("--help")).stdout
    run = newest_run(runs_dir)
    if " predict " in help_text:
        digit = write_digit_png(root, runs_dir.parent / "digit.png")
        walls, extra = [], []
        for _ in range(n.predict):
            # Each predict is followed by a bare `import torch`, so that the difference
            # (the goal is stated against importing torch) sees the same machine load.
            walls.append(checked(mnist_command("predict", str(digit), "--run", str(run))).seconds)
            extra.append(walls[-1] - run_process(IMPORT_TORCH).seconds)
        table.add(
            "`mnist predict digit.png` wall time (one image)", seconds(median(walls)), n.predict
        )
        table.add(
            "`mnist predict` minus a back-to-back `import torch`", seconds(median(extra)), n.predict
        )
    else:
        table.add("`mnist predict`", "not in this checkout", "")
    if " eval " in help_text:
        command = mnist_command(
            "eval", str(run), "--root", str(root), "--device", device, "--plain"
        )
        wall = median([checked(command).seconds for _ in range(n.evaluate)])
        table.add(
            "`mnist eval` wall time (10,000 test images, startup included)",
            seconds(wall),
            n.evaluate,
        )
        table.add(
            "`mnist eval` end to end: test images per wall second",
            f"{10_000 / wall:,.0f} img/s",
            n.evaluate,
        )
    else:
        table.add("`mnist eval`", "not in this checkout", "")
    rates = repeat(n.evaluate, lambda: eval_throughput(root, run, device))
    table.add(
        "evaluation pass alone (engine.evaluate, test set in memory)",
        f"{median(rates):,.0f} img/s",
        n.evaluate,
    )


def checked(command: list[str]) -> ProcessRun:
    """Run a command the benchmark depends on; stop with its stderr if it fails."""
    result = run_process(command)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed:\n{result.stderr}")
    return result


def eval_throughput(root: Path, run: Path, device: str) -> float:
    """Test images per second through the tool's evaluate(), data already in memory."""
    import time

    import torch

    from mnist_tui.data.tensors import load_data
    from mnist_tui.models import checkpoints
    from mnist_tui.train.devices import fast_layout, resolve_device, resolve_precision
    from mnist_tui.train.loop import evaluate

    dev = resolve_device(device)
    checkpoint = checkpoints.load(run / "checkpoint.pt")
    model = fast_layout(checkpoints.model_from_checkpoint(checkpoint).to(dev), dev)
    val_size = SETTINGS_EXTRA.get("val_size", 5000)
    data = load_data(root, "mnist", val_size, 42, dev)
    precision = resolve_precision("auto", dev)
    evaluate(model, data.test, precision=precision)  # warm-up
    started = time.perf_counter()
    evaluate(model, data.test, precision=precision)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return len(data.test) / (time.perf_counter() - started)


def write_digit_png(root: Path, path: Path) -> Path:
    """The first test image as a PNG, the kind of file a user hands to `mnist predict`."""
    from PIL import Image

    from mnist_tui.data.files import parse_idx, raw_dir
    from mnist_tui.data.specs import DATASETS

    spec = DATASETS["mnist"]
    images = parse_idx((raw_dir(root, spec) / spec.filenames["test-images"]).read_bytes(), "test")
    Image.fromarray(images[0]).save(path)
    return path


# --- main ------------------------------------------------------------------------------------


def devices_to_run(choice: str) -> list[str]:
    import torch

    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise SystemExit("--device cuda: torch sees no CUDA device here.")
    if choice == "all":
        return ["cpu", "cuda"] if cuda else ["cpu"]
    return [choice]


def environment_line() -> str:
    import platform

    import torch

    from mnist_tui.train.devices import cpu_supports_bf16

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (
        f"torch {torch.__version__}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}, native bf16: {cpu_supports_bf16()}), "
        f"{torch.get_num_threads()} torch threads, GPU: {gpu}"
    )


def bench_device(device: str, args: argparse.Namespace, n: Repeats, runs_dir: Path) -> Table:
    """Every figure for one device, in an order where later steps reuse earlier runs."""
    table = Table(device.upper())
    print(f"## {device}", file=sys.stderr)
    skip = set(args.skip)
    if "train" in skip:
        skip.add("inference")  # inference measures the run that the training figures leave
    if "train" not in skip:
        bench_training(table, args.root, device, n, runs_dir)
    if "target" not in skip:
        bench_target(table, args.root, device, n)
    if "levers" not in skip:
        bench_levers(table, device, n)
    if "inference" not in skip:
        bench_inference(table, args.root, device, n, runs_dir)
    if device == "cpu" and "startup" not in skip:
        bench_startup(table, n)
    if device == "cpu" and "imaging" not in skip:
        bench_imaging(table, n)
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per figure (smoke test)")
    parser.add_argument("--root", type=Path, default=REPO / "data", help="MNIST data folder")
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=("train", "target", "levers", "startup", "inference", "imaging"),
    )
    parser.add_argument("--val-size", type=int, help="for datasets smaller than MNIST (tests)")
    parser.add_argument("--out", type=Path, help="also write the tables (markdown) here")
    args = parser.parse_args(argv)
    n = Repeats.quick() if args.quick else Repeats()
    if args.val_size:
        TRAIN_EXTRA.extend(["--val-size", str(args.val_size)])
        SETTINGS_EXTRA["val_size"] = args.val_size
    sections: list[str] = [f"Environment: {environment_line()}"]
    print(sections[0], file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="mnist-bench-") as scratch:
        for device in devices_to_run(args.device):
            runs_dir = Path(scratch) / device / "runs"
            runs_dir.mkdir(parents=True)
            sections.append(bench_device(device, args, n, runs_dir).markdown())
    text = "\n\n".join(sections) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
