"""`mnist predict`: which digit is this?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import (
    Plain,
    RunsDir,
    app,
    print_result,
    stderr_line,
    weights_run,
)
from mnist_tui.errors import MnistError


@app.command()
def predict(
    images: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE", help="Image files, folders or globs (PNG, JPEG, BMP, ...)."
        ),
    ],
    run: Annotated[
        str | None, typer.Option(help="Run whose checkpoint predicts (id, prefix, path, latest).")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="How many classes to show.")] = 3,
    invert: Annotated[
        bool | None,
        typer.Option(
            "--invert/--no-invert",
            help="Force the polarity: --invert for dark ink on light paper. Default: judged "
            "from each image.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    single: Annotated[
        bool,
        typer.Option(
            "--single",
            help="Read the whole image as one digit (default: every digit, left to right).",
        ),
    ] = False,
    steps: Annotated[
        bool,
        typer.Option("--steps", help="Show each stage of the preparation as a small heatmap."),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            metavar="PATH",
            help="An exported model instead of a run: an `mnist export` folder, a .pt2, "
            "a TorchScript .pt or an .onnx file.",
        ),
    ] = None,
    old_model: Annotated[
        str | None,
        # `--model` names an architecture in train and inspect; here it once meant --export.
        typer.Option("--model", hidden=True),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
    plain: Plain = False,
) -> None:
    """Which digits are these? Reads each image the MNIST way and shows what the model saw.

    Photos of paper work: uneven light, ruled or squared paper, thin pens, small digits
    on large pages. Several digits side by side are read left to right.
    """
    from mnist_tui.predict import core as predicting
    from mnist_tui.runs.folders import check_run_spec

    if old_model is not None:
        raise MnistError(
            f"predict takes an exported model as --export {old_model} (--model names an "
            "architecture, in train and inspect)."
        )
    if export is not None and run is not None:
        raise MnistError("Give --run or --export, not both.")
    # Options and images are checked before any model is loaded: a typo or a bad file is
    # named as itself, never hidden behind a checkpoint problem.
    predicting.check_top_k(top_k, None)
    check_run_spec(run)
    paths, failures = predicting.expand_inputs(images)
    readings, bad_images = predicting.read_all(paths, invert, single=single, steps=steps)
    failures += bad_images
    for failure in failures:
        stderr_line(failure.message)
    results: list[predicting.Prediction] = []
    if readings:  # nothing to predict needs no model: the failures above say why
        if export is not None:
            from mnist_tui.predict.exported import classifier_from_export

            classifier = classifier_from_export(export)
        else:
            classifier = predicting.classifier_from_run(weights_run(run, runs_dir))
        top_k = predicting.check_top_k(top_k, len(classifier.classes))
        results = predicting.predict_readings(classifier, readings, top_k)
    if as_json:
        import json

        print(json.dumps([r.to_json() for r in results], indent=2))
    elif results:
        from mnist_tui.predict.view import predictions_view

        print_result(predictions_view(results, ascii_bars=plain), plain)
    if failures:
        raise typer.Exit(1)
