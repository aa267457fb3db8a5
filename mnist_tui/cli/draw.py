"""`mnist draw`: draw a digit with the mouse and watch the network read it, live."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import RunsDir, app
from mnist_tui.errors import MnistError


@app.command()
def draw(
    run: Annotated[
        str | None,
        typer.Option(help="Run whose checkpoint reads (id, prefix, path, latest)."),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="An exported model instead of a run: an `mnist export` folder, a .pt2, a "
            "TorchScript .pt or an .onnx file.",
        ),
    ] = None,
    untrained: Annotated[
        bool,
        typer.Option("--untrained", help="Draw with an untrained model (random weights)."),
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", help="Folder where `s` saves the drawing as a PNG.")
    ] = Path("."),
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """A full-screen canvas: draw a digit with the mouse and watch the probabilities, live.

    Left button inks, right button erases; arrows and space draw from the keyboard; u undo,
    c clear, s save PNG, f conv1's feature maps, q quit.
    """
    for name, stream in (("stdout", sys.stdout), ("stdin", sys.stdin)):
        if not stream.isatty():
            raise MnistError(
                f"mnist draw is a full-screen app and {name} is not a terminal: run it in one "
                "(`mnist predict IMAGE` reads a digit from a file)."
            )
    import torch

    from mnist_tui.draw.app import DrawApp
    from mnist_tui.draw.model import load

    # One small image per forward pass: a second intra-op thread only adds hand-offs, and
    # on a busy CPU its waits cost more than the pass (benchmarks/draw_latency.py).
    torch.set_num_threads(1)
    DrawApp(load(run, export, runs_dir, untrained), out_dir=out).run()
