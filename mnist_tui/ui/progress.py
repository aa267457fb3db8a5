"""Progress for work that takes time outside training (downloads, imports, evaluation).

Callers get a plain function `(what, done, total)`; whether it draws a Rich bar or prints
lines is decided here, so data code never touches the terminal.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

ProgressFn = Callable[[str, int, int], None]


@contextlib.contextmanager
def byte_progress(live: bool) -> Iterator[ProgressFn]:
    """A progress function that draws one Rich bar per item, or prints when each ends."""
    if not live:
        finished: set[str] = set()

        def plain(what: str, done: int, total: int) -> None:
            if total and done >= total and what not in finished:
                finished.add(what)
                print(f"  {what}: {done:,}/{total:,}", file=sys.stderr, flush=True)

        yield plain
        return

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, int] = {}

        def draw(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total or None)
            bar.update(tasks[what], completed=done, total=total or None)

        yield draw


@contextlib.contextmanager
def count_progress(live: bool, what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A transient bar on stderr fed `(done, total)`, drawn only on a terminal; else None."""
    from rich.console import Console

    console = Console(stderr=True)
    if not (live and console.is_interactive):
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
