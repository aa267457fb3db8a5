"""`mnist draw`: from a mouse event to updated probabilities, on this machine (a figure).

Two measurements, each a median and 95th percentile in milliseconds:

- reading: what every change of the drawing costs, outside the app: imaging's
  preparation of the canvas grid plus one forward pass (`draw.reading.read`), for the
  canvas of an 80x24 terminal and of a 200x60 one, for each model given; wall time, and
  the process's CPU time (which other load on a shared machine does not inflate);
- app: inside the Textual app (headless, 80x24, a run's model), a mouse-move event posted
  to the screen until the app holds the reading of the drawing that event extended
  (event dispatch, the brush, the reading, the panels' update; wall and CPU time), and
  until the screen's next repaint has been composed with it (wall time; headless, so the
  bytes go nowhere).

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.draw_latency [--runs-dir runs] [--run RUN]
        [--repeats 200] [--events 100] [--threads 1]

Without a run, an untrained model of each architecture stands in: the time does not
depend on the weights.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
from pathlib import Path
from time import perf_counter, process_time

import numpy as np
import torch

from mnist_tui.draw.model import DrawModel, from_run, untrained
from mnist_tui.draw.reading import model_input, read
from mnist_tui.draw.sketch import Sketch
from mnist_tui.runs.folders import resolve_run

#: Canvas grids (pixel rows, columns) of two terminal sizes, as the app lays them out.
CANVASES = {"80x24": (36, 31), "200x60": (108, 151)}


def drawn_zero(height: int, width: int) -> Sketch:
    """A sketch holding a "0" (an ellipse), as a user would draw it."""
    sketch = Sketch(height, width)
    points = [
        (height * (0.5 - 0.38 * math.cos(t)), width * (0.5 + 0.28 * math.sin(t)))
        for t in np.linspace(0, 2 * math.pi, 40)
    ]
    sketch.begin(points[0])
    for point in points[1:]:
        sketch.extend(point)
    return sketch


def percentiles(seconds: list[float]) -> str:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms"


def time_calls(call, repeats: int, clock=perf_counter) -> list[float]:
    for _ in range(5):  # warm-up: first calls allocate, oneDNN picks kernels
        call()
    times = []
    for _ in range(repeats):
        started = clock()
        call()
        times.append(clock() - started)
    return times


def reading_rows(name: str, model: DrawModel, repeats: int) -> list[str]:
    rows = []
    for size, (height, width) in CANVASES.items():
        grey = drawn_zero(height, width).image_bytes()
        digit = model_input(grey)
        total = time_calls(lambda grey=grey: read(model, grey), repeats)
        # CPU seconds of this process: what the reading costs whatever else the machine runs.
        cpu = time_calls(lambda grey=grey: read(model, grey), repeats, process_time)
        prep = time_calls(lambda grey=grey: model_input(grey), repeats)
        forward = time_calls(lambda digit=digit: model.probabilities(digit), repeats)
        rows.append(
            f"| {name} | {size} ({height}x{width} px) | {percentiles(total)} | "
            f"{percentiles(cpu)} | {percentiles(prep)} | {percentiles(forward)} |"
        )
    return rows


async def app_latency(model: DrawModel, events: int) -> dict[str, list[float]]:
    """Mouse-move events through the headless app, each timed until the app holds its
    reading and until the screen has been repainted with it (wall seconds), and the
    process's CPU seconds until the reading."""
    from textual.events import MouseMove

    from mnist_tui.draw.app import DrawApp

    app = DrawApp(model, out_dir=Path("."))
    figures: dict[str, list[float]] = {
        "reading in (wall)": [],
        "reading in (CPU)": [],
        "screen repainted (wall)": [],
    }
    async with app.run_test(size=(80, 24)) as pilot:
        canvas, screen = app.canvas, app.screen
        read_in = asyncio.Event()
        painted = asyncio.Event()
        marks: dict[str, float] = {}
        update_reading, refresh = app.update_reading, screen._compositor_refresh

        def timed_update(force: bool = False) -> None:  # the app's own, noting when it lands
            update_reading(force)
            if app.reading.version == canvas.sketch.version and not read_in.is_set():
                marks["read"], marks["read cpu"] = perf_counter(), process_time()
                read_in.set()

        def timed_refresh() -> None:  # the screen's repaint, noting the first after the reading
            refresh()
            if read_in.is_set() and not painted.is_set():
                marks["painted"] = perf_counter()
                painted.set()

        app.update_reading = timed_update
        screen._compositor_refresh = timed_refresh
        width, height = canvas.content_size
        left, top = canvas.region.x + 1, canvas.region.y + 1
        await pilot.mouse_down(canvas, (1 + width // 2, 2))
        await pilot.pause()
        span = height - 4
        for i in range(events):
            # Up and down the middle, one cell per event, shifting a column each pass, so
            # that every event changes the drawing.
            sweep, step = divmod(i, span)
            row = 2 + (step if sweep % 2 == 0 else span - 1 - step)
            x, y = left + width // 2 + sweep % 5 - 2, top + row
            read_in.clear()
            painted.clear()
            started, started_cpu = perf_counter(), process_time()
            event = MouseMove(None, x, y, 0, 0, 1, False, False, False, x, y)
            screen._forward_event(event)  # as the driver does (and the pilot)
            await asyncio.wait_for(painted.wait(), timeout=10)
            figures["reading in (wall)"].append(marks["read"] - started)
            figures["reading in (CPU)"].append(marks["read cpu"] - started_cpu)
            figures["screen repainted (wall)"].append(marks["painted"] - started)
            await pilot.pause()  # the screen settles: events arrive apart, as from a hand
        await pilot.mouse_up(canvas, (1 + width // 2, 2))
    return {what: seconds[5:] for what, seconds in figures.items()}  # 5 warm-up events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--run", default=None, help="a run to time (default: untrained models)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1, as `mnist draw` sets)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    models: list[tuple[str, DrawModel]] = []
    if args.run:
        run = resolve_run(args.run, args.runs_dir)
        models.append((f"run {run.id}", from_run(run)))
    for name in ("simple_cnn", "fast_cnn", "bn_cnn"):
        models.append((f"{name} (untrained)", untrained(name)))

    python = sys.version.split()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), python {python}")
    print()
    print("| model | canvas | reading: prepare + forward | reading, CPU time | prepare | forward |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, model in models:
        for row in reading_rows(name, model, args.repeats):
            print(row, flush=True)
    print()
    name, model = models[0]
    figures = asyncio.run(app_latency(model, args.events))
    print(f"app, 80x24, {name}, {len(figures['reading in (wall)'])} mouse moves:")
    for what, seconds in figures.items():
        print(f"- mouse move -> {what}: {percentiles(seconds)}")


if __name__ == "__main__":
    main()
