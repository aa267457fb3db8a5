"""Shared fixtures: a synthetic dataset made once per session, isolated runs folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import write_synthetic_mnist

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("MNIST_DATA_DIR") or REPO / "data")


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    """Tests run on small CPU machines: one intra-op thread avoids oversubscription."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_synthetic_mnist(root)
    return root


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


#: `mnist` as a subprocess, importing this checkout's package (not another install's).
MNIST_CMD = [sys.executable, "-m", "mnist_tui"]


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for subprocesses: this checkout first on the path, one torch thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `mnist ARGS` in-process through the real entry point: (exit code, out, err)."""
    from mnist_tui.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """A short real training run on the synthetic data, shared by read-only tests."""
    from mnist_tui.config import TrainConfig
    from mnist_tui.train.run import train

    runs = tmp_path_factory.mktemp("runs")
    # Every setting that shapes the model is pinned, so default changes (issue 8: bf16 where
    # native) do not change the run read-only tests rely on. 5 epochs with cosine decay:
    # converged enough that predict tests on photographed digits do not hang on one
    # training trajectory (channels_last kernels round differently from contiguous ones).
    config = TrainConfig(
        epochs=5,
        val_size=500,
        batch_size=32,
        lr=0.05,
        scheduler="cosine",
        precision="fp32",
        device="cpu",
    )
    outcome = train(config, data_root=synthetic_root, runs_dir=runs, reporters=[])
    return outcome.run.path


def real_mnist_present() -> bool:
    from mnist_tui.data.files import is_installed
    from mnist_tui.data.specs import DATASETS

    return is_installed(REAL_DATA, DATASETS["mnist"])


requires_real_mnist = pytest.mark.skipif(
    not real_mnist_present(), reason="real MNIST not present (run `make data`)"
)
