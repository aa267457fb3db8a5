"""`mnist export`: files for other programs, each loaded back and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import (
    DataRoot,
    RunsDir,
    app,
    data_root_for,
    weights_run,
)
from mnist_tui.errors import MnistError

EXPORT_FORMATS = ("bundle", "pt2", "torchscript", "onnx", "all")


@app.command("export")
def export_command(
    run: Annotated[
        str | None, typer.Argument(help="Run id, unique prefix, folder or latest (default).")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="bundle (folder: weights, torch.export program, TorchScript, labels, "
            "preprocessing, config, model card), pt2 (model.pt2, torch.export), torchscript "
            "(model.pt), onnx (model.onnx) or all (bundle + model.onnx).",
        ),
    ] = "bundle",
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export into.")] = ...,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the export in a non-empty --out folder.")
    ] = False,
    check_images: Annotated[
        int | None,
        typer.Option(help="Test images the load-back check compares on (default: all)."),
    ] = None,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer fills it in
    runs_dir: RunsDir = Path("runs"),
    data_root: DataRoot = Path("data"),
) -> None:
    """Export a run's model for other programs; each file is loaded back and checked."""
    if fmt not in EXPORT_FORMATS:
        raise MnistError(f"--format {fmt!r} is not one of: {', '.join(EXPORT_FORMATS)}.")
    from mnist_tui.export.core import export_run, report_lines

    folder = weights_run(run, runs_dir)
    result = export_run(
        folder,
        fmt,
        out,
        data_root=data_root_for(ctx, data_root, folder),
        force=force,
        check_images=check_images,
    )
    print("\n".join(report_lines(result)))
