"""The Typer app: one module per command, each a thin layer over the packages below.

Importing this package registers every command on `app`; `main` is the console script.
"""

from mnist_tui.cli import (  # noqa: F401
    compare,
    download,
    draw,
    eval,
    export,
    inspect,
    predict,
    runs,
    show,
    sweep,
    train,
)
from mnist_tui.cli.app import app, main

__all__ = ["app", "main"]
