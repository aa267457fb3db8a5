"""`mnist download`: fetch a dataset, or import it from a local copy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import (
    DataRoot,
    Plain,
    app,
    is_interactive,
)
from mnist_tui.config import DATASETS


@app.command()
def download(
    dataset: Annotated[str, typer.Option(help=f"One of: {', '.join(DATASETS)}.")] = "mnist",
    data_root: DataRoot = Path("data"),
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Import from a local folder or .tgz/.tar.gz/.zip of IDX files (raw or .gz).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Fetch again even if present.")] = False,
    plain: Plain = False,
) -> None:
    """Fetch a dataset through torchvision's mirrors (or import it --from a local copy)."""
    from mnist_tui.data import files as datasets
    from mnist_tui.data.specs import spec_for
    from mnist_tui.ui.progress import byte_progress

    spec = spec_for(dataset)
    if not force and datasets.is_installed(data_root, spec):
        print(f"{spec.name}: already present in {datasets.raw_dir(data_root, spec)}, verified.")
        return
    with byte_progress(live=is_interactive() and not plain) as progress:
        if source is not None:
            folder = datasets.import_from(source, data_root, spec, progress)
        else:
            folder = datasets.download(data_root, spec, progress)
    print(f"{spec.name}: 4 files verified (md5) and installed in {folder}.")
