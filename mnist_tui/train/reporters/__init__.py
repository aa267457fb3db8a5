"""Subscribers that show a run: plain lines, the live dashboard, TensorBoard."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def choose_reporters(live: bool, tensorboard: bool) -> Iterator[list[Any]]:
    """The live dashboard when `live`, plain lines otherwise; TensorBoard too if asked.

    Imports each reporter only when chosen: Rich's Live and TensorBoard cost time.
    """
    from mnist_tui.train.reporters.plain import PlainReporter

    reporters: list[Any] = []
    if tensorboard:
        from mnist_tui.train.reporters.tensorboard import TensorBoardReporter

        reporters.append(TensorBoardReporter.checked())  # fails before any work starts
    if not live:
        yield [*reporters, PlainReporter()]
        return
    from mnist_tui.train.reporters.dashboard import LiveDashboard

    with LiveDashboard() as dashboard:
        yield [*reporters, dashboard]
