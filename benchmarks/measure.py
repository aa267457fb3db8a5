"""Small measuring helpers: medians, timed subprocesses with their peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


@dataclass
class ProcessRun:
    seconds: float  # wall time, process start to exit
    peak_rss_mib: float  # the child's own peak resident set size
    returncode: int
    stdout: str
    stderr: str


def cli_env(**extra: str) -> dict[str, str]:
    """This checkout first on the import path, whatever the venv's editable install says."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_process(args: Sequence[str], env: dict[str, str] | None = None) -> ProcessRun:
    """Run a command to completion; wall time and peak RSS come from wait4()."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(args), stdout=out, stderr=err, text=True, env=env or cli_env(), cwd=REPO
        )
        # wait4 rather than wait(): it also returns the child's resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    # ru_maxrss is KiB on Linux.
    return ProcessRun(seconds, usage.ru_maxrss / 1024, process.returncode, stdout, stderr)


def mnist_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mnist_tui", *args]


def seconds_per_call(call: Callable[[], object], calls: int) -> float:
    """Mean wall seconds of `calls` back-to-back calls (the caller warms up first)."""
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls


def repeat(times: int, measure: Callable[[], T]) -> list[T]:
    return [measure() for _ in range(times)]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
