"""The Typer app: one module per command, each a thin layer over the packages below.

Importing this package registers every command on `app`; `main` is the console script.
"""

from mnist_tui.cli import download, draw, eval, export, inspect, predict, runs, train  # noqa: F401
from mnist_tui.cli.app import app, main

__all__ = ["app", "main"]
