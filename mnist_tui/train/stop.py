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

    def __init__(self, quiet: bool = False, quiet_on_term: bool = False) -> None:
        self.signal: int | None = None
        self.repeated = False
        self.quiet = quiet  # the ranks of a data-parallel job other than 0 print nothing
        # Under `mnist train --nproc`, SIGTERM is the agent stopping the survivors of a
        # failed rank: the launcher's line says what happened.
        self.quiet_on_term = quiet_on_term

    def __call__(self) -> bool:
        return self.signal is not None

    def handle(self, signum: int, _frame: Any) -> None:
        if self.signal is None:
            self.signal = signum
            if self.quiet_on_term and signum == signal.SIGTERM:
                self.quiet = True
            self._say("\nStopping after the current step; saving... (the run can be resumed)")
        elif not self.repeated:
            # A second signal while saving is ignored: stopping halfway would gain nothing,
            # and every file is replaced atomically anyway. Said once, so it is not a hang.
            self.repeated = True
            self._say("Still saving; the run stops in a moment.")

    def _say(self, line: str) -> None:
        if self.quiet:
            return
        # The handler may interrupt a write to stderr; a message is not worth a crash.
        with contextlib.suppress(RuntimeError, OSError):
            print(line, file=sys.stderr, flush=True)

    def install(self) -> None:
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)
