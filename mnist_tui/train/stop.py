"""StopFlag: Ctrl-C and SIGTERM become a request the loop honours after the current step.

Standard library only. The loop polls the flag (`should_stop()`), so a signal never tears
a write in half: the step finishes, the files are saved, and the run is resumable.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any


class StopFlag:
    """Turns SIGINT/SIGTERM into a request the loop honours after the current step."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.repeated = False

    def __call__(self) -> bool:
        return self.signal is not None

    def handle(self, signum: int, _frame: Any) -> None:
        if self.signal is None:
            self.signal = signum
            self._say("\nStopping after the current step; saving... (the run can be resumed)")
        elif not self.repeated:
            # A second signal while saving is ignored: stopping halfway would gain nothing,
            # and every file is replaced atomically anyway. Said once, so it is not a hang.
            self.repeated = True
            self._say("Still saving; the run stops in a moment.")

    @staticmethod
    def _say(line: str) -> None:
        # The handler may interrupt a write to stderr; a message is not worth a crash.
        with contextlib.suppress(RuntimeError, OSError):
            print(line, file=sys.stderr, flush=True)

    def install(self) -> None:
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)
