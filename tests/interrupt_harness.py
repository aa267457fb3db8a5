"""`mnist ARGS` in a real process that sends itself a real signal at a chosen moment.

    python interrupt_harness.py WHEN SIGNAL [--again] -- ARGS...

WHEN is `batch:E:S` (after step S of epoch E), `validation:E` (as epoch E's validation
starts) or `after-save:E` (right after last.pt of epoch E is on disk). SIGNAL is INT or
TERM. `--again` sends a second signal while the run saves its files after the first,
which is what an impatient user pressing Ctrl-C twice does.

Signals are timed by the loop's own events instead of wall-clock sleeps, so a test can
name the point it interrupts without depending on how fast the machine is.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from mnist_tui import cli
from mnist_tui.models import checkpoints
from mnist_tui.runs import folders as runs
from mnist_tui.train import loop as engine
from mnist_tui.train import run as training
from mnist_tui.train.events import BatchEnded, Callback


def main() -> None:
    split = sys.argv.index("--")
    when, signame, *flags = sys.argv[1:split]
    argv = sys.argv[split + 1 :]
    signum = getattr(signal, f"SIG{signame}")
    point, *numbers = when.split(":")
    at = [int(n) for n in numbers]
    state = {"epoch": 0, "sent": 0}

    def send() -> None:
        state["sent"] += 1
        os.kill(os.getpid(), signum)

    class AtBatch(Callback):
        def on_batch_end(self, e: BatchEnded) -> None:
            state["epoch"] = e.epoch
            if point == "batch" and [e.epoch, e.batch] == at and not state["sent"]:
                send()

    real_evaluate = engine.evaluate

    def evaluate(*args: Any, **kwargs: Any) -> Any:
        if point == "validation" and state["epoch"] == at[0] and not state["sent"]:
            send()
        return real_evaluate(*args, **kwargs)

    real_save = checkpoints.save

    def save(obj: dict[str, Any], path: Any) -> None:
        if "--again" in flags and state["sent"] == 1:
            send()  # the second Ctrl-C lands in the middle of saving
        real_save(obj, path)
        progress = obj.get("progress") or {}
        if point == "after-save" and progress.get("epoch") == at[0] and not state["sent"]:
            send()

    real_write = runs.atomic_write_bytes

    def write_run_file(path: Any, data: bytes) -> None:
        if "--again" in flags and state["sent"] == 1:
            send()
        real_write(path, data)

    real_train = training.train

    def train(*args: Any, reporters: list, **kwargs: Any) -> Any:
        return real_train(*args, reporters=[*reporters, AtBatch()], **kwargs)

    engine.evaluate = evaluate
    checkpoints.save = save
    runs.atomic_write_bytes = write_run_file
    training.train = train
    cli.main(argv)


if __name__ == "__main__":
    main()
