"""`mnist train --nproc 2`: real processes, gloo, torch.distributed's own launcher.

Every test here starts real process groups on the CPU, so they are slow and each runs
under a timeout: a hang is a failure, not a stuck CI job.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import torch
from conftest import MNIST_CMD, cli_env, run_cli
from PIL import Image

from mnist_tui.config import TrainConfig
from mnist_tui.train.run import train

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: Small and quick on the synthetic set: 3,500 training images, 110 steps an epoch.
COMMON = ["--val-size", "500", "--batch-size", "32", "--lr", "0.05", "--device", "cpu"]
COMMON += ["--precision", "fp32", "--plain"]
COMPARED = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]  # not timings


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*MNIST_CMD, *map(str, args)],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def mnist(args: list, cwd: Path, timeout: float = 600) -> tuple[int, str, str]:
    return finish(start(args, cwd), timeout)


def metrics(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))


def toml(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def weights(path: Path, key: str = "state_dict") -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)[key]


def wait_for_epochs(
    runs: Path, n: int, process: subprocess.Popen, limit: float = 400, pattern: str = "*"
) -> Path:
    """The run folder (matching `pattern`) once metrics.csv has `n` rows (the process must
    still be running)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for csv_path in runs.glob(f"{pattern}/metrics.csv"):
            if len(csv_path.read_text().splitlines()) > n:
                return csv_path.parent
        assert process.poll() is None, finish(process)
        time.sleep(0.2)
    raise AssertionError(f"no epoch {n} within {limit} s")


def rank_pid(launcher: int, rank: int) -> int:
    """The pid of a worker with RANK=rank among the launcher's children."""
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return int(child)
    raise AssertionError(f"no rank {rank} under pid {launcher}")


@pytest.fixture(scope="module")
def two_process_run(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("nproc2")
    runs = work / "runs"
    code, out, err = mnist(
        ["train", "--nproc", 2, "--epochs", 3, *COMMON, "--root", synthetic_root,
         "--runs-dir", runs],
        work,
    )  # fmt: skip
    assert code == 0, err
    (run,) = runs.iterdir()
    return {"run": run, "out": out, "err": err, "work": work}


def test_two_processes_learn_and_rank_0_alone_reports(two_process_run: dict) -> None:
    run, out, err = two_process_run["run"], two_process_run["out"], two_process_run["err"]
    summary = toml(run / "summary.toml")
    assert summary["status"] == "completed"
    assert summary["test_acc"] > 0.8  # chance is 0.1
    assert summary["world_size"] == 2
    # One process's output: one header, one line per epoch, no launcher chatter.
    assert out.count("training simple_cnn") == 1
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == 3
    assert err.strip() == ""
    # The files of a one-process run (and its .lock, held while it trains).
    files = [".lock", "config.toml", "metrics.csv", "summary.toml", "checkpoint.pt", "last.pt"]
    assert sorted(p.name for p in run.iterdir()) == sorted([*files, "curves.png"])
    config = toml(run / "config.toml")
    assert config["distributed"] == {
        "world_size": 2,
        "nodes": 1,
        "nproc_per_node": 2,
        "backend": "gloo",
        "launcher": "mnist train --nproc",
    }
    # metrics.csv counts the global batch: all 3,500 images each epoch, not one rank's half.
    rows = metrics(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    # (metrics.csv keeps 6 significant digits of each, hence the tolerance)
    product = [float(r["samples_per_s"]) * float(r["seconds"]) for r in rows]
    assert product == pytest.approx([3500] * 3, rel=1e-4)


def test_files_have_the_shape_of_a_single_process_run(
    two_process_run: dict, trained_run: Path
) -> None:
    run = two_process_run["run"]
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert header == (trained_run / "metrics.csv").read_text().splitlines()[0]
    single, double = toml(trained_run / "summary.toml"), toml(run / "summary.toml")
    assert set(double) - set(single) == {"world_size"}
    assert set(single) <= set(double)
    for key in single:
        assert type(double[key]) is type(single[key]), key
    # An ordinary checkpoint: plain keys (no DDP `module.` prefix), loadable as it is.
    state = weights(run / "checkpoint.pt")
    assert state.keys() == weights(trained_run / "checkpoint.pt").keys()
    assert not any(k.startswith("module.") for k in state)


def test_eval_predict_and_export_work_on_a_two_process_run(
    two_process_run: dict, synthetic_root: Path, tmp_path: Path, capsys
) -> None:
    run = two_process_run["run"]
    summary = toml(run / "summary.toml")
    code, out, err = run_cli(["eval", run, "--root", synthetic_root, "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    # The test set was evaluated in two shards and reduced: the same counts as one pass.
    assert result["accuracy"] == summary["test_acc"]
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-6)
    from mnist_tui.data.tensors import read_raw

    raw, _ = read_raw(synthetic_root, "mnist")
    image = raw["test-images"][0].numpy()
    digit = tmp_path / "digit.png"
    Image.fromarray(image).resize((112, 112)).save(digit)
    code, out, err = run_cli(["predict", digit, "--run", run, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)[0]["digit"] == int(raw["test-labels"][0])
    code, out, err = run_cli(
        ["export", run, "--format", "bundle", "--out", tmp_path / "bundle", "--root",
         synthetic_root], capsys,
    )  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "bundle").is_dir()


def test_resuming_with_another_number_of_processes_is_refused(
    two_process_run: dict, capsys
) -> None:
    run = two_process_run["run"]
    code, _, err = run_cli(["train", "--resume", run, "--nproc", "3"], capsys)
    assert code != 0
    assert err.count("\n") == 1 and "--nproc 2 --resume" in err


def test_two_steps_of_two_processes_equal_two_steps_of_one(
    synthetic_root: Path, tmp_path: Path
) -> None:
    """The global batch split over ranks, each share weighted: DDP gives one process's step.

    201 training images in batches of 128: two steps, the second uneven (37 + 36 images),
    so the per-rank weighting of the loss is what makes the gradients agree.
    """
    settings = ["--val-size", "3799", "--batch-size", "128", "--epochs", "1"]
    settings += ["--lr", "0.1", "--device", "cpu", "--precision", "fp32", "--plain"]
    code, _, err = mnist(
        ["train", "--nproc", 2, *settings, "--root", synthetic_root, "--runs-dir",
         tmp_path / "two"],
        tmp_path,
    )  # fmt: skip
    assert code == 0, err
    (two,) = (tmp_path / "two").iterdir()
    config = TrainConfig(val_size=3799, batch_size=128, epochs=1, lr=0.1, device="cpu")
    config.precision = "fp32"
    one = train(config, data_root=synthetic_root, runs_dir=tmp_path / "one", reporters=[])
    a, b = weights(one.run.path / "checkpoint.pt"), weights(two / "checkpoint.pt")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6, msg=key)
    # The metrics are global too: the same train loss/accuracy as one process.
    row_one, row_two = metrics(one.run.path)[0], metrics(two)[0]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert float(row_two[key]) == pytest.approx(float(row_one[key]), rel=1e-5), key


def test_interrupted_and_resumed_run_ends_bit_identical(synthetic_root: Path, tmp_path: Path):
    """Ctrl-C stops every rank (exit 130, `interrupted`); --resume finishes it as if never
    stopped: with --augment and --ema, so every rank's generator and the average resume."""
    recipe = ["--epochs", 3, *COMMON, "--deterministic", "--augment", "--ema", "0.99"]
    recipe += ["--root", synthetic_root, "--runs-dir", tmp_path / "runs"]
    reference = start(["train", "--nproc", 2, *recipe, "--name", "reference"], tmp_path)
    stopped = start(["train", "--nproc", 2, *recipe, "--name", "stopped"], tmp_path)
    # The run of `stopped`, whichever of the two jobs reaches its first epoch first.
    run = wait_for_epochs(tmp_path / "runs", 1, stopped, pattern="*-stopped")
    stopped.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends the launcher
    code, out, err = finish(stopped)
    assert code == 130, err
    (run,) = (tmp_path / "runs").glob("*-stopped")
    assert toml(run / "summary.toml")["status"] == "interrupted"
    assert "Resume with: mnist train --resume" in out
    assert "Traceback" not in err
    assert finish(reference)[0] == 0
    (ref,) = (tmp_path / "runs").glob("*-reference")
    # No --nproc: a resume starts as many processes as the run was trained with.
    code, out, err = mnist(["train", "--resume", run, "--plain"], tmp_path)
    assert code == 0, err
    assert toml(run / "summary.toml")["status"] == "completed"
    assert [[r[k] for k in COMPARED] for r in metrics(run)] == [
        [r[k] for k in COMPARED] for r in metrics(ref)
    ]
    a, b = weights(ref / "checkpoint.pt"), weights(run / "checkpoint.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    summary_a, summary_b = toml(ref / "summary.toml"), toml(run / "summary.toml")
    assert summary_a["test_acc"] == summary_b["test_acc"]
    assert summary_a["test_loss"] == summary_b["test_loss"]


def test_a_killed_rank_stops_the_job_with_one_line(synthetic_root: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    launcher = start(
        ["train", "--nproc", 2, "--epochs", 50, *COMMON, "--root", synthetic_root,
         "--runs-dir", runs],
        tmp_path,
    )  # fmt: skip
    run = wait_for_epochs(runs, 1, launcher)
    victim = rank_pid(launcher.pid, 1)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    code, _, err = finish(launcher, timeout=120)  # bounded: no hang
    assert time.monotonic() - killed_at < 90
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"Rank 1 (pid {victim}) was killed by SIGKILL" in lines[0]
    assert f"mnist train --resume {run.name}" in lines[0]  # ./runs: the id is enough
    summary = toml(run / "summary.toml")
    assert summary["status"] == "failed"
    assert (run / "last.pt").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_in_use_is_one_line(synthetic_root: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = mnist(
            ["train", "--nproc", 2, "--rdzv-endpoint", f"127.0.0.1:{port}", *COMMON,
             "--root", synthetic_root, "--runs-dir", tmp_path / "runs"],
            tmp_path,
            timeout=120,
        )  # fmt: skip
    assert code != 0
    assert err.strip().splitlines() == [
        f"mnist: error: The rendezvous port 127.0.0.1:{port} is already in use on this "
        "machine: pick another port in --rdzv-endpoint (the same on every node)."
    ]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("host", "says"),
    [
        # The second machine's view of a first machine it cannot reach.
        ("nowhere.invalid", "Could not reach the rendezvous at nowhere.invalid:"),
        # The first machine's view when the second never comes.
        ("127.0.0.1", "Not all 2 machines joined the rendezvous at 127.0.0.1:"),
    ],
)
def test_a_rendezvous_that_does_not_happen_is_one_line(
    synthetic_root: Path, tmp_path: Path, host: str, says: str
) -> None:
    start_time = time.monotonic()
    code, _, err = mnist(
        ["train", "--nproc", 1, "--nnodes", 2, "--rdzv-endpoint", f"{host}:{_free_port()}",
         "--rdzv-timeout", 5, *COMMON, "--root", synthetic_root, "--runs-dir",
         tmp_path / "runs"],
        tmp_path,
        timeout=180,
    )  # fmt: skip
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mnist: error: {says}"), err
    assert time.monotonic() - start_time < 150
    assert not (tmp_path / "runs").exists()


def test_torchrun_joins_a_two_machine_job(synthetic_root: Path, tmp_path: Path) -> None:
    """Two torchrun agents, as on two machines (here both on 127.0.0.1), one job."""
    endpoint = f"127.0.0.1:{_free_port()}"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2"]
    torchrun += ["--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-id", "test"]
    torchrun += ["--rdzv-endpoint", endpoint, "-m", "mnist_tui", "train", "--epochs", "1"]
    torchrun += [*COMMON, "--root", str(synthetic_root), "--runs-dir", str(tmp_path / "runs")]
    nodes = [
        subprocess.Popen(
            torchrun, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    results = [finish(node) for node in nodes]
    assert [code for code, _, _ in results] == [0, 0], results
    # One run folder, written by the one rank 0; the other machine printed nothing.
    (run,) = (tmp_path / "runs").iterdir()
    assert sorted(out.count("training simple_cnn") for _, out, _ in results) == [0, 1]
    assert toml(run / "config.toml")["distributed"] == {
        "world_size": 2,
        "nodes": 2,
        "nproc_per_node": 1,
        "backend": "gloo",
        "launcher": "torchrun",
    }
    assert toml(run / "summary.toml")["status"] == "completed"
