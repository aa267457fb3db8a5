"""`mnist inspect`: summary, kernels, feature maps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import (
    Plain,
    RunsDir,
    app,
    output_console,
)
from mnist_tui.errors import MnistError


@app.command("inspect")
def inspect_command(
    layer: Annotated[
        str | None,
        typer.Argument(help="Layer to look at (conv1, fc1, a.nested.name). None: a summary."),
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="Run to inspect (id, prefix, path, latest).")
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(help="Show the layer's output (feature maps) for this image file."),
    ] = None,
    invert: Annotated[
        bool | None,
        typer.Option(
            "--invert/--no-invert",
            help="With --image: force the polarity, as in `mnist predict`. Default: judged.",
        ),
    ] = None,
    steps: Annotated[
        bool,
        typer.Option("--steps", help="With --image: show each stage of its preparation."),
    ] = False,
    in_channel: Annotated[
        int | None,
        typer.Option(help="Kernels of this input channel only (default: averaged over all)."),
    ] = None,
    all_inputs: Annotated[
        bool, typer.Option("--all", help="Kernels of every input channel, one tile each.")
    ] = False,
    png: Annotated[
        Path | None, typer.Option(help="Also save the picture as this PNG file (matplotlib).")
    ] = None,
    png_only: Annotated[
        bool, typer.Option("--png-only", help="Save the --png file without the terminal view.")
    ] = False,
    random: Annotated[
        bool,
        typer.Option("--random", help="Inspect an untrained, randomly initialised model."),
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Architecture of the --random model (default simple_cnn).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random initialisation.")] = 42,
    runs_dir: RunsDir = Path("runs"),
    plain: Plain = False,
) -> None:
    """Look inside a model: a summary, a layer's kernels, or its feature maps for an image."""
    if png_only and png is None:
        raise MnistError("--png-only needs --png FILE.")
    from mnist_tui.inspect.core import InspectRequest, inspect

    console = output_console(plain, fit_terminal=True)
    request = InspectRequest(
        layer=layer,
        run=run,
        runs_dir=runs_dir,
        image=image,
        invert=invert,
        steps=steps,
        png=png,
        show=not png_only,
        in_channel=in_channel,
        all_inputs=all_inputs,
        random=random,
        model_name=model,
        seed=seed,
        width=console.width,
    )
    for part in inspect(request):
        if plain:
            from mnist_tui.ui.tables import unboxed

            part = unboxed(part)
        console.print(part)
