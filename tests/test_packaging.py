"""Packaging: a non-editable wheel ships every subpackage and runs on its own.

The wheel is built from this checkout and installed into a fresh virtual environment
(without dependencies: the fresh environment sees this one's site-packages for torch and
friends through a path file, which does not carry the editable install along). Then the
installed `mnist` answers --help and trains one epoch on the synthetic data, from a
folder outside the checkout, so nothing can come from the source tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PIP = [sys.executable, "-m", "pip"]
ONE_EPOCH = ["--epochs", "1", "--val-size", "200", "--plain"]


def _package_dirs() -> set[str]:
    return {
        str(p.parent.relative_to(REPO)).replace(os.sep, "/")
        for p in (REPO / "mnist_tui").rglob("__init__.py")
    }


@pytest.mark.slow
def test_wheel_installs_and_trains_from_a_fresh_venv(tmp_path: Path, synthetic_root: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("mnist_tui-*.whl")
    shipped = {name.rsplit("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert _package_dirs() <= shipped, _package_dirs() - shipped

    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=False)
    fresh_python = fresh / "bin" / "python"
    fresh_site = subprocess.run(
        [fresh_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies (torch, rich, ...) from this environment; not its editable mnist_tui.
    Path(fresh_site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            fresh_python,
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    mnist = fresh / "bin" / "mnist"

    where = subprocess.run(
        [fresh_python, "-c", "import mnist_tui, sys; print(mnist_tui.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert where.stdout.startswith(str(fresh)), where.stdout + where.stderr

    help_out = subprocess.run(
        [mnist, "--help"], capture_output=True, text=True, cwd=elsewhere, env=env
    )
    assert help_out.returncode == 0, help_out.stderr
    assert "train" in help_out.stdout and "predict" in help_out.stdout

    trained = subprocess.run(
        [
            mnist,
            "train",
            "--root",
            str(synthetic_root),
            "--runs-dir",
            "runs",
            "--epochs",
            "1",
            "--val-size",
            "200",
            "--plain",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    (run,) = (elsewhere / "runs").iterdir()
    assert (run / "checkpoint.pt").is_file()
    assert 'status = "completed"' in (run / "summary.toml").read_text()
