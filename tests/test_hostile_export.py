"""Export under faults: a disk that fills up, exports killed halfway.

The full disk is real: a 300 KB tmpfs where the machine lets root mount one, and a file
size limit (RLIMIT_FSIZE, the same failed write() the kernel gives) in a child otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env

_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from mnist_tui.cli import main
main(sys.argv[1:])
"""


def _export(run: Path, out: Path, data: Path, tmp: Path, limit: int | None = None):
    # torchscript: its writer is the one that aborted in C++ (a bundle's weights.pt, written
    # first by Python, would fill a small disk before it).
    args = ["export", str(run), "--out", str(out), "--root", str(data), "--check-images", "20"]
    args += ["--format", "torchscript"]
    code = _LIMITED.format(limit=limit) if limit else "from mnist_tui.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args]
        if limit
        else [sys.executable, "-m", "mnist_tui", *args],
        capture_output=True,
        text=True,
        env=cli_env(TMPDIR=str(tmp)),
        timeout=300,
        check=False,
    )


def _assert_nothing_left(out: Path, tmp: Path) -> None:
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")] == []
    assert [p.name for p in tmp.iterdir() if p.name.startswith("mnist-export-check-")] == []


def _one_line(done: subprocess.CompletedProcess, needle: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-1500:])
    assert "Traceback" not in done.stderr and "terminate called" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist: error: "), done.stderr[-1500:]
    assert needle in lines[0], lines[0]


@pytest.mark.slow
def test_export_past_the_file_size_limit_is_one_line_and_leaves_nothing(
    trained_run, synthetic_root, tmp_path
):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "exports" / "bundle"
    done = _export(trained_run, out, synthetic_root, tmp, limit=100_000)
    _one_line(done, "Cannot write the export")
    _assert_nothing_left(out, tmp)


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode()[:100]}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.slow
def test_export_onto_a_full_tmpfs_is_one_line_and_leaves_nothing(
    trained_run, synthetic_root, tmp_path, small_tmpfs
):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = small_tmpfs / "bundle"
    done = _export(trained_run, out, synthetic_root, tmp)
    _one_line(done, "Cannot write the export")
    _assert_nothing_left(out, tmp)


@pytest.mark.slow
def test_folders_of_killed_exports_are_cleaned_by_the_next(trained_run, synthetic_root, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "exports" / "bundle"
    args = ["export", str(trained_run), "--out", str(out), "--root", str(synthetic_root)]
    if True:  # one killed export (the issue saw four of each after ten)
        child = subprocess.Popen(
            [sys.executable, "-m", "mnist_tui", *args, "--check-images", "10000"],
            env=cli_env(TMPDIR=str(tmp)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(tmp.glob("mnist-export-check-*")):
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert list(tmp.glob("mnist-export-check-*")), "the kills came too late to leave anything"
    assert list(out.parent.glob(".bundle.*"))
    done = _export(trained_run, out, synthetic_root, tmp)
    assert done.returncode == 0, done.stderr[-1500:]
    assert (out / "model.pt").is_file()
    assert [p.name for p in out.parent.iterdir() if p.name != "bundle"] == []
    assert list(tmp.glob("mnist-export-check-*")) == []
