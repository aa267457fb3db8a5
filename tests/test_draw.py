"""`mnist draw`: the sketch, the reading, the app driven by Textual's pilot, the CLI."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import MNIST_CMD, REAL_DATA, cli_env, real_mnist_present, run_cli
from PIL import Image
from test_train_terminal import needs_tmux, pane_factory  # noqa: F401 (a fixture)

from mnist_tui.draw.sketch import Sketch
from mnist_tui.errors import MnistError
from mnist_tui.imaging.prepare import prepare_digit

SIZE = (80, 24)


# --- helpers ------------------------------------------------------------------------------


def one_points() -> list[tuple[float, float]]:
    """A "1": a straight downstroke, as fractions (x, y) of the canvas."""
    return [(0.5, 0.12 + 0.76 * i / 8) for i in range(9)]


def zero_points() -> list[tuple[float, float]]:
    """A "0": an upright ellipse, drawn once round and closed."""
    steps = 16
    return [
        (
            0.5 + 0.28 * math.sin(2 * math.pi * i / steps),
            0.5 - 0.38 * math.cos(2 * math.pi * i / steps),
        )
        for i in range(steps + 1)
    ]


def cell(canvas, fx: float, fy: float) -> tuple[int, int]:
    """Fractions of the canvas's drawing area -> an offset from the widget's corner."""
    width, height = canvas.content_size
    left, top = canvas.gutter.left, canvas.gutter.top
    return (left + round(fx * (width - 1)), top + round(fy * (height - 1)))


async def stroke(pilot, points: list[tuple[float, float]], button: int = 1) -> None:
    """Press at the first point, drag through the rest, release at the last."""
    canvas = pilot.app.canvas
    await pilot.mouse_down(canvas, cell(canvas, *points[0]), button=button)
    for point in points[1:]:
        await pilot.hover(canvas, cell(canvas, *point))
    await pilot.mouse_up(canvas, cell(canvas, *points[-1]))
    await pilot.pause()


def draw_app(model, out_dir: Path):
    from mnist_tui.draw.app import DrawApp

    return DrawApp(model, out_dir=out_dir)


@pytest.fixture(scope="module")
def untrained_model():
    from mnist_tui.draw.model import untrained

    return untrained()


@pytest.fixture(scope="module")
def reading_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that reads handwriting: one `fast` epoch on real MNIST where present
    (about 30 s, 99%), else the shared synthetic run."""
    if not real_mnist_present():
        return request.getfixturevalue("trained_run")
    from mnist_tui.config import resolve_config
    from mnist_tui.train.run import train

    config = resolve_config(None, {"preset": "fast", "device": "cpu", "precision": "fp32"})
    runs = tmp_path_factory.mktemp("draw-runs")
    return train(config, data_root=REAL_DATA, runs_dir=runs, reporters=[]).run.path


# --- the sketch ---------------------------------------------------------------------------


def test_a_stroke_has_a_solid_core_and_soft_edges():
    sketch = Sketch(40, 40)
    sketch.begin((10.0, 20.0))
    sketch.extend((30.0, 20.0))
    column = sketch.ink[20]
    assert sketch.ink[20, 20] == 1.0  # on the stroke
    edge = sketch.ink[20, 15:26]
    assert ((edge > 0.05) & (edge < 0.95)).any(), edge  # anti-aliased, not a hard edge
    assert sketch.ink[20, 0] == 0.0 and sketch.ink[0, 20] == 0.0  # nothing far away
    assert column.max() == 1.0


def test_the_eraser_removes_ink_and_undo_brings_it_back():
    sketch = Sketch(40, 40)
    sketch.begin((20.0, 5.0))
    sketch.extend((20.0, 35.0))
    inked = sketch.ink.copy()
    sketch.begin((20.0, 20.0), erase=True)
    assert sketch.ink[20, 20] == 0.0 and sketch.ink[20, 5] == 1.0
    assert sketch.undo()
    np.testing.assert_array_equal(sketch.ink, inked)
    assert sketch.undo() and sketch.empty
    assert not sketch.undo()


def test_a_resized_sketch_redraws_its_strokes_at_the_new_size():
    sketch = Sketch(20, 20)
    sketch.begin((10.0, 2.0))
    sketch.extend((10.0, 18.0))
    sketch.resize(40, 40)
    assert sketch.ink.shape == (40, 40)
    assert sketch.ink[20, 20] == 1.0 and sketch.ink[20, 36] > 0.5
    assert sketch.ink[5].max() == 0.0


def test_a_canvas_that_changes_shape_keeps_the_digit_s_shape():
    sketch = Sketch(40, 40)
    sketch.begin((4.0, 20.0))  # a "1": tall and thin
    sketch.extend((36.0, 20.0))
    before = sketch.ink.copy()
    sketch.resize(20, 40)  # a panel opens below the canvas
    rows = np.flatnonzero(sketch.ink.max(axis=1) > 0.5)
    cols = np.flatnonzero(sketch.ink.max(axis=0) > 0.5)
    assert np.ptp(rows) > 3 * np.ptp(cols)  # still tall and thin, half the size
    assert abs(cols.mean() - 19.5) < 1.5  # centred
    sketch.resize(40, 40)  # and closes
    np.testing.assert_allclose(sketch.ink, before, atol=1e-5)


# --- the reading: imaging's preparation, saved PNG ----------------------------------------


def test_a_blank_drawing_has_no_model_input():
    from mnist_tui.draw.reading import model_input

    assert model_input(np.zeros((36, 31), np.uint8)) is None


def test_the_saved_png_prepares_to_the_same_input_as_the_live_reading(tmp_path):
    from mnist_tui.draw.reading import model_input
    from mnist_tui.draw.saving import save_png

    sketch = Sketch(36, 31)
    sketch.begin((5.0, 16.0))
    sketch.extend((30.0, 16.0))
    live = model_input(sketch.image_bytes())
    path = save_png(sketch.image_bytes(), tmp_path)
    assert path.parent == tmp_path and path.suffix == ".png"
    from_file = prepare_digit(path)  # what `mnist predict` does with the file
    assert not from_file.inverted
    np.testing.assert_array_equal(from_file.pixels, live.pixels)
    assert save_png(sketch.image_bytes(), tmp_path) != path  # never overwrites


def test_an_unsure_reading_is_marked_and_the_bars_show_every_class():
    from mnist_tui.draw.reading import Reading
    from mnist_tui.draw.view import probability_bars, verdict_text

    classes = [str(d) for d in range(10)]
    unsure = Reading(classes, np.zeros((28, 28)), np.array([0.45, 0.4] + [0.15 / 8] * 8))
    sure = Reading(classes, np.zeros((28, 28)), np.array([0.02] * 7 + [0.82] + [0.02] * 2))
    assert unsure.unsure and unsure.label == "0"
    assert not sure.unsure and sure.label == "7"
    assert "unsure" in verdict_text("0", 0.45, True, False).plain
    assert "unsure" not in verdict_text("7", 0.82, False, False).plain
    lines = probability_bars(classes, sure.probabilities).plain.splitlines()
    assert len(lines) == 10 and lines[7].startswith("7 ████████") and lines[7].endswith("82%")


def test_feature_maps_are_averaged_down_to_fit_the_panel():
    from mnist_tui.draw.view import pool, pool_factor

    assert pool_factor(16, 28, 28, (200, 60), color=True) == 1
    assert pool_factor(16, 28, 28, (80, 10), color=True) > 1
    maps = np.arange(2 * 4 * 4, dtype=float).reshape(2, 4, 4)
    assert pool(maps, 2).shape == (2, 2, 2) and pool(maps, 2)[0, 0, 0] == maps[0, :2, :2].mean()


# --- the model: which one, and what it says without a run ----------------------------------


def test_without_runs_it_says_to_train_one_first(tmp_path):
    from mnist_tui.draw.model import load

    with pytest.raises(MnistError, match=r"mnist train.*--untrained"):
        load(None, None, tmp_path / "runs")


def untrained_run(folder: Path) -> Path:
    """A run folder whose checkpoint holds random weights (loading is all that is tested)."""
    from mnist_tui.models import checkpoints
    from mnist_tui.models.architectures import build_model

    folder.mkdir(parents=True)
    checkpoint = checkpoints.make_checkpoint(
        model_name="simple_cnn",
        model_args={},
        classes=[str(d) for d in range(10)],
        mean=0.1307,
        std=0.3081,
        state_dict=build_model("simple_cnn").state_dict(),
        epoch=1,
        val_acc=0.1,
        dataset="mnist",
        config={},
    )
    checkpoints.save(checkpoint, folder / "checkpoint.pt")
    (folder / "summary.toml").write_text('status = "completed"\n')
    return folder


def test_a_newer_run_without_weights_is_skipped(tmp_path):
    from mnist_tui.draw.model import load

    runs = tmp_path / "runs"
    untrained_run(runs / "20200101-000000-old")
    (runs / "20991231-000000-starting").mkdir()
    (runs / "20991231-000000-starting" / "summary.toml").write_text('status = "running"\n')
    model = load(None, None, runs)
    assert model.description == "run 20200101-000000-old" and not model.untrained
    with pytest.raises(MnistError, match="no checkpoint"):
        load("20991231", None, runs)


def test_an_exported_model_reads_but_hides_its_layers(tmp_path):
    import warnings

    import torch

    from mnist_tui.draw.model import load
    from mnist_tui.draw.reading import read
    from mnist_tui.models.architectures import build_model

    path = tmp_path / "model.pt"
    with warnings.catch_warnings():  # torch.jit: deprecated, still what `mnist export` writes
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(build_model("simple_cnn").eval(), torch.zeros(1, 1, 28, 28))
    traced.save(str(path))
    model = load(None, path, tmp_path / "runs")
    assert not model.has_maps and str(path) in model.description
    sketch = Sketch(36, 31)
    sketch.begin((5.0, 15.0))
    sketch.extend((30.0, 15.0))
    reading = read(model, sketch.image_bytes(), maps=True)  # maps asked, none to give
    assert reading.maps is None and reading.probabilities.shape == (10,)
    with pytest.raises(MnistError, match="--run or --export"):
        load("latest", path, tmp_path / "runs")


def test_untrained_says_so_and_excludes_a_run(tmp_path):
    from mnist_tui.draw.model import load

    model = load(None, None, tmp_path, allow_untrained=True)
    assert model.untrained and "UNTRAINED" in model.description
    with pytest.raises(MnistError, match="--untrained"):
        load("latest", None, tmp_path, allow_untrained=True)


# --- the app, driven by the pilot ----------------------------------------------------------


def test_probabilities_update_while_the_stroke_is_drawn(untrained_model, tmp_path):
    async def scenario():
        app = draw_app(untrained_model, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            canvas = app.canvas
            assert app.reading.blank
            points = one_points()
            await pilot.mouse_down(canvas, cell(canvas, *points[0]))
            for point in points[1:8]:
                await pilot.hover(canvas, cell(canvas, *point))
            await pilot.pause()
            # The button is still down: the reading is of the drawing so far.
            assert not app.reading.blank
            assert app.reading.version == canvas.sketch.version
            assert app.reading.pixels.shape == (28, 28)
            assert app.reading.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
            halfway = app.reading.version
            for point in points[8:]:
                await pilot.hover(canvas, cell(canvas, *point))
            await pilot.mouse_up(canvas, cell(canvas, *points[-1]))
            await pilot.pause()
            assert app.reading.version > halfway
            assert len(canvas.sketch.strokes) == 1

    asyncio.run(scenario())


def test_right_button_erases(untrained_model, tmp_path):
    async def scenario():
        app = draw_app(untrained_model, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await stroke(pilot, one_points())
            ink = app.canvas.sketch.ink
            middle = ink.shape[0] // 2
            assert ink[middle].max() == 1.0
            await stroke(pilot, [(0.3, 0.5), (0.7, 0.5)], button=3)
            assert app.canvas.sketch.ink[middle].max() < 0.05
            assert app.canvas.sketch.strokes[-1].erase

    asyncio.run(scenario())


def test_keyboard_only_drawing(untrained_model, tmp_path):
    async def scenario():
        app = draw_app(untrained_model, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("up", "up", "up", "space")
            await pilot.press(*["down"] * 6, "space", "right", "right")
            await pilot.pause()
            sketch = app.canvas.sketch
            assert len(sketch.strokes) == 1 and len(sketch.strokes[0].points) == 7
            assert not app.reading.blank
            assert "keyboard pen up" in str(app.query_one("#status").render())

    asyncio.run(scenario())


@pytest.mark.slow
def test_feature_maps_panel_shows_conv1(untrained_model, tmp_path):
    async def scenario():
        app = draw_app(untrained_model, tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await stroke(pilot, one_points())
            assert app.reading.maps is None  # no extra work while the panel is closed
            await pilot.press("f")
            await pilot.pause()
            assert app.query_one("#maps-panel").display
            assert app.reading.maps.shape == (16, 28, 28)  # simple_cnn's conv1
            await pilot.press("f")
            await pilot.pause()
            assert not app.query_one("#maps-panel").display

    asyncio.run(scenario())


def test_no_color_draws_without_colours(untrained_model, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")

    async def scenario():
        app = draw_app(untrained_model, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await stroke(pilot, one_points())
            canvas = app.canvas
            middle = canvas.content_size.height // 2
            line = canvas.render_line(middle)
            assert "█" in line.text
            assert all(s.style is None or s.style.color is None for s in line)
            await pilot.press("f")  # the maps in the ASCII ramp
            await pilot.pause()
            assert app.reading.maps is not None

    asyncio.run(scenario())


@pytest.mark.slow
def test_drawn_one_and_zero_are_read_undo_clear_and_save(reading_run, tmp_path, capsys):
    from mnist_tui.draw.model import from_run
    from mnist_tui.runs.folders import RunFolder

    model = from_run(RunFolder(reading_run))
    saved: dict[str, Path] = {}

    async def scenario():
        app = draw_app(model, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await stroke(pilot, one_points())
            assert app.reading.label == "1", app.reading.probabilities
            await pilot.press("s")
            saved["1"] = app.saved[-1]
            one_ink = app.canvas.sketch.ink.copy()
            await stroke(pilot, [(0.2, 0.5), (0.8, 0.5)])  # a crossbar: no longer a 1
            assert not np.array_equal(app.canvas.sketch.ink, one_ink)
            await pilot.press("u")
            await pilot.pause()
            np.testing.assert_array_equal(app.canvas.sketch.ink, one_ink)
            assert app.reading.label == "1"
            await pilot.press("c")
            await pilot.pause()
            assert app.canvas.sketch.empty and app.reading.blank
            assert "draw a digit" in str(app.query_one("#verdict-text").render())
            await stroke(pilot, zero_points())
            assert app.reading.label == "0", app.reading.probabilities
            await pilot.press("s")
            saved["0"] = app.saved[-1]
            await pilot.press("q")

    asyncio.run(scenario())
    for digit, path in saved.items():
        assert Image.open(path).mode == "L"
        code, out, err = run_cli(["predict", path, "--run", reading_run, "--json"], capsys)
        assert code == 0, err
        assert json.loads(out)[0]["digit"] == int(digit), out


@pytest.mark.slow
@needs_tmux
def test_in_a_real_terminal_mouse_drags_are_read(reading_run, pane_factory, tmp_path):  # noqa: F811
    pane = pane_factory(80, 24)
    argv = [*MNIST_CMD, "draw", "--run", str(reading_run), "--out", str(tmp_path)]
    pane.start(argv, cli_env())
    screen = pane.wait_for(lambda s: "draw a digit" in s and "q quit" in s, "the app")
    lines = screen.splitlines()
    top = next(i for i, line in enumerate(lines) if "╭" in line and "draw a digit" in line)
    bottom = next(i for i, line in enumerate(lines) if i > top and line.startswith("╰"))
    middle = lines[top].index("╮") // 2 + 1  # SGR columns count from 1
    rows = range(top + 3, bottom - 1)  # SGR rows count from 1: top + 1 is the border
    # Press, drag down (button 0 + 32: motion with the left button held), release.
    sequences = [f"\x1b[<0;{middle};{rows[0]}M"]
    sequences += [f"\x1b[<32;{middle};{row}M" for row in rows[1:]]
    sequences += [f"\x1b[<0;{middle};{rows[-1]}m"]
    for sequence in sequences:
        pane.tmux("send-keys", "-t", "test", "-l", sequence)
    screen = pane.wait_for(lambda s: "reads 1" in s, "the drawn 1 to be read")
    assert "what the model sees" in screen
    pane.tmux("send-keys", "-t", "test", "q")
    assert pane.wait_exit() == 0


# --- the command line ----------------------------------------------------------------------


def test_refuses_without_a_terminal(capsys, tmp_path):
    code, out, err = run_cli(["draw", "--runs-dir", tmp_path], capsys)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "terminal" in err and "Traceback" not in err


def test_help_lists_draw_without_importing_textual_or_torch():
    import subprocess
    import sys

    code = (
        "import sys; from mnist_tui.cli import main\n"
        "for argv in (['--help'], ['draw', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('HEAVY', [m for m in ('torch', 'textual') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=cli_env()
    ).stdout
    assert "HEAVY []" in out and " draw " in out and "--untrained" in out


@pytest.mark.slow
def test_latency_benchmark_prints_its_figures():
    import re
    import subprocess
    import sys

    from conftest import REPO

    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.draw_latency", "--repeats", "3", "--events", "8"],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = re.findall(
        r"^\| \S+ \(untrained\) \| (80x24|200x60) .*median [\d.]+ ms", result.stdout, re.M
    )
    assert len(rows) == 6, result.stdout
    for figure in ("reading in (wall)", "reading in (CPU)", "screen repainted (wall)"):
        line = rf"^- mouse move -> {re.escape(figure)}: median [\d.]+ ms, p95 [\d.]+ ms$"
        assert re.search(line, result.stdout, re.M), result.stdout
