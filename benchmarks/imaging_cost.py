"""Seconds to prepare a 12-megapixel phone photo (issue 19 goal: under 0.5 s on the CPU).

    PYTHONPATH=$PWD python -m benchmarks.imaging_cost [--repeats 5]

A 4000x3000 photo of a four-digit number on ruled paper under uneven light (the
tests' handwriting generator) is saved as a JPEG (quality 90) and as a PNG; each is
prepared by imaging.prepare_digits (decode, working size, paper, lines, ink, digits,
28x28 inputs) `repeats` times. Prints medians and their ratio to the goal; nothing is
asserted (timing never is).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import REPO, median

GOAL_SECONDS = 0.5


def photo(folder: Path) -> dict[str, Path]:
    """The 12 MP photo as JPEG and PNG files."""
    import numpy as np

    sys.path.insert(0, str(REPO / "tests"))
    from handwriting import BLUE_INK, LINE_BLUE, WHITE, Page, pen_coverage
    from synthetic import render_digit

    rng = np.random.default_rng(0)
    page = Page.blank(4000, 3000, WHITE)
    page.lines(260, LINE_BLUE, 5, rng)
    left = 1200
    for digit in (2, 0, 2, 6):
        coverage = pen_coverage(render_digit(digit, rng), 360, 14)
        page.write(coverage, 1300, left, BLUE_INK)
        left += 400
    page.light(rng)
    image = page.photo(rng, quality=95)
    files = {"JPEG": folder / "photo-12mp.jpg", "PNG": folder / "photo-12mp.png"}
    image.save(files["JPEG"], quality=90)
    image.save(files["PNG"])
    return files


def seconds_to_prepare(path: Path, repeats: int) -> tuple[float, str]:
    """(median seconds, the number read as digit count) for one file."""
    from mnist_tui.imaging.prepare import prepare_digits

    found = prepare_digits(path)  # warm-up: imports, first-call caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        prepare_digits(path)
        times.append(time.perf_counter() - started)
    return median(times), f"{len(found.digits)} digits found"


def rows(repeats: int) -> list[tuple[str, str, str]]:
    """(figure, value, runs) rows for `make bench`'s table."""
    out = []
    with tempfile.TemporaryDirectory(prefix="mnist-imaging-") as tmp:
        for kind, path in photo(Path(tmp)).items():
            seconds, found = seconds_to_prepare(path, repeats)
            out.append(
                (
                    f"prepare a 12 MP {kind} photo (4000x3000, {found})",
                    f"{seconds:.3f} s ({seconds / GOAL_SECONDS:.2f}x the 0.5 s goal)",
                    str(repeats),
                )
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for figure, value, runs in rows(args.repeats):
        print(f"| {figure} | {value} | {runs} |")


if __name__ == "__main__":
    main()
