"""Files that survive crashes: SIGKILL at random moments, two runs at once, a full disk."""

from __future__ import annotations

import csv
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import MNIST_CMD, cli_env, run_cli
from synthetic import write_synthetic_mnist

from mnist_tui.models import checkpoints
from mnist_tui.runs.folders import list_runs

# A 600-image training file split 300/300: an epoch takes a fraction of a second and
# writes checkpoint.pt, metrics.csv, summary.toml and last.pt, so random kills often land
# in the middle of a write.
TINY = [
    "--val-size",
    "300",
    "--batch-size",
    "50",
    "--lr",
    "0.05",
    "--patience",
    "0",
    "--device",
    "cpu",
    "--plain",
]
EPOCHS = 100  # far more than six kills of at most 1.2 s each can get through
KILLS = 6
# .lock: the file a training process flocks (issue 24); a killed process holds nothing.
RUN_FILES = ("config.toml", "metrics.csv", "summary.toml", "checkpoint.pt", "last.pt", ".lock")
KILL_BUDGET_S = 35  # stop killing early on a slow machine; each kill is still checked


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small-data")
    write_synthetic_mnist(root, n_train=600, n_test=100)
    return root


def _resume_to_the_end(run: Path) -> list[int]:
    """`mnist train --resume RUN` must succeed; returns the epochs metrics.csv then holds."""
    finished = subprocess.run(
        [*MNIST_CMD, "train", "--resume", str(run), "--plain"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr
    return [int(r["epoch"]) for r in csv.DictReader((run / "metrics.csv").open())]


def _check_folder(run: Path) -> int:
    """Every file a killed run left is whole and readable; returns last.pt's epoch (-1: none)."""
    names = {p.name for p in run.iterdir()}
    leftovers = {n for n in names if n.startswith(".") and n.endswith(".tmp")}  # never read
    assert names - leftovers <= set(RUN_FILES), names
    if "config.toml" in names:
        assert tomllib.loads((run / "config.toml").read_text())["train"]["epochs"] == EPOCHS
    if "summary.toml" in names:
        assert tomllib.loads((run / "summary.toml").read_text())["status"] == "running"
    rows = []
    if "metrics.csv" in names:
        rows = [int(r["epoch"]) for r in csv.DictReader((run / "metrics.csv").open())]
        assert rows == list(range(1, len(rows) + 1)), rows
    if "checkpoint.pt" in names:
        checkpoints.model_from_checkpoint(checkpoints.load(run / "checkpoint.pt"))
    if "last.pt" not in names:
        return -1
    epoch = checkpoints.load(run / "last.pt", checkpoints.STATE_FORMAT)["progress"]["epoch"]
    # metrics.csv is written before last.pt: at most one row ahead, never behind.
    assert epoch <= len(rows) <= epoch + 1, (epoch, rows)
    return epoch


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_broken_file(small_root, tmp_path):
    rng = random.Random(20261123)  # seeded: a failure names a reproducible schedule
    runs = tmp_path / "runs"
    base = [*TINY, "--epochs", str(EPOCHS), "--root", str(small_root), "--runs-dir", str(runs)]
    run: Path | None = None
    epochs_seen, kills, started = [], 0, time.monotonic()
    # At least three kills however loaded the machine is; more while the budget lasts.
    while kills < KILLS and (kills < 3 or time.monotonic() - started < KILL_BUDGET_S):
        resuming = run is not None and (run / "last.pt").exists()
        args = ["--resume", str(run)] if resuming else ["--name", f"kill{kills}"]
        process = subprocess.Popen(
            [*MNIST_CMD, "train", *base, *args],
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # Wait until this process is training (its summary says so), then a random delay.
        while process.poll() is None:
            folders = sorted(runs.glob("*")) if runs.exists() else []
            candidate = run if resuming else (folders[-1] if folders else None)
            summary = candidate / "summary.toml" if candidate else None
            if summary and summary.exists() and f"pid = {process.pid}" in summary.read_text():
                run = candidate
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.2))
        process.kill()
        _, err = process.communicate()
        assert process.returncode == -signal.SIGKILL, err.decode()  # alive until killed
        kills += 1
        assert run is not None
        epochs_seen.append(_check_folder(run))
        # The killed run is listed as interrupted (its process is gone), never as running.
        (record,) = [r for r in list_runs(runs) if r["id"] == run.name]
        assert record["status"] == "interrupted", record

    assert kills >= 3, f"only {kills} kills in {KILL_BUDGET_S}s"
    assert run is not None
    # Resumed to the end from its last good last.pt: whole history, no duplicates.
    assert _resume_to_the_end(run) == list(range(1, EPOCHS + 1))
    assert tomllib.loads((run / "summary.toml").read_text())["status"] == "completed"
    assert not list(run.glob(".*.tmp")), "resume removes what killed writers left behind"
    assert epochs_seen == sorted(epochs_seen), "a kill never loses a saved epoch"


def test_two_runs_created_in_the_same_second_get_different_folders(tmp_path):
    """Four processes race for the same `<time>-<label>` id at the same instant."""
    code = (
        "import sys, datetime; from mnist_tui.runs.folders import create_run; "
        "now = datetime.datetime(2026, 11, 23, 10, 0, 0, tzinfo=datetime.timezone.utc); "
        "print(create_run(sys.argv[1], 'twin', now).path)"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            env=cli_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    paths = [p.communicate(timeout=60)[0].strip() for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert len(set(paths)) == 4
    assert sorted(Path(p).name for p in paths) == [
        "20261123-100000-twin",
        "20261123-100000-twin-2",
        "20261123-100000-twin-3",
        "20261123-100000-twin-4",
    ]


@pytest.mark.slow
def test_two_trainings_started_together_do_not_share_a_folder(small_root, tmp_path):
    args = [*TINY, "--epochs", "1", "--name", "same", "--root", str(small_root)]
    processes = [
        subprocess.Popen(
            [*MNIST_CMD, "train", *args, "--runs-dir", str(tmp_path / "runs")],
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()  # type: ignore[union-attr]
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert len(list(csv.DictReader((folder / "metrics.csv").open()))) == 1


# --- a disk that fills up while saving ----------------------------------------------------


def _fsize_limit(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.fixture
def tiny_disk(tmp_path):
    """A 4 MB tmpfs: room for one last.pt (2.5 MB) but not for its replacement."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); the ulimit case still runs")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("disk", ["file size limit", "full filesystem"])
def test_disk_full_while_saving_loses_nothing_and_resumes(small_root, tmp_path, request, disk):
    if disk == "full filesystem":
        runs = request.getfixturevalue("tiny_disk") / "runs"
        limit, needle = None, "The disk filled up while saving"
    else:
        # The kernel refuses writes past 1.5 MB with EFBIG: last.pt at epoch 0 (weights
        # only, 0.8 MB) fits; at epoch 1 (plus momentum and best weights, 2.5 MB) not.
        runs = tmp_path / "runs"
        limit, needle = 1_500_000, "hit the file size limit"
    args = [*TINY, "--epochs", "2", "--root", str(small_root), "--runs-dir", str(runs)]
    failed = subprocess.run(
        [*MNIST_CMD, "train", *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_fsize_limit(limit) if limit else None,
    )
    assert failed.returncode != 0
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in failed.stderr, lines
    (run,) = runs.iterdir()
    assert "the files written before are intact" in lines[0] and "--resume" in lines[0]
    # What was written before is whole: last.pt of epoch 0, the best checkpoint of epoch 1,
    # epoch 1's metrics row; the summary says failed; no temporary file is left.
    assert _check_folder_after_failure(run) == 0
    assert not list(run.glob(".*.tmp"))

    # Space freed (the folder moved to a roomy disk): the run resumes and completes.
    roomy = tmp_path / "roomy" / run.name
    shutil.copytree(run, roomy)
    assert _resume_to_the_end(roomy) == [1, 2]
    summary = tomllib.loads((roomy / "summary.toml").read_text())
    assert summary["status"] == "completed" and "error" not in summary


def _check_folder_after_failure(run: Path) -> int:
    summary = tomllib.loads((run / "summary.toml").read_text())
    assert summary["status"] == "failed", summary
    rows = [int(r["epoch"]) for r in csv.DictReader((run / "metrics.csv").open())]
    assert rows == [1]
    checkpoints.model_from_checkpoint(checkpoints.load(run / "checkpoint.pt"))
    return checkpoints.load(run / "last.pt", checkpoints.STATE_FORMAT)["progress"]["epoch"]


# --- a runs folder that cannot be written -----------------------------------------------


def test_runs_folder_that_is_a_file_or_under_a_file(small_root, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("precious")
    for runs in (blocker, blocker / "runs"):
        code, _, err = run_cli(
            ["train", *TINY, "--epochs", "1", "--root", small_root, "--runs-dir", runs],
            capsys,
        )
        assert code != 0 and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 and "Cannot create the runs folder" in err
    assert blocker.read_text() == "precious"


@pytest.mark.skipif(
    hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
    reason="root writes into read-only folders; the folder-is-a-file case covers root",
)
def test_read_only_runs_folder(small_root, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o555)
    code, _, err = run_cli(
        ["train", *TINY, "--epochs", "1", "--root", small_root, "--runs-dir", runs], capsys
    )
    assert code != 0 and "is not writable" in err and len(err.strip().splitlines()) == 1


def test_run_names_cannot_escape_the_runs_folder(tmp_path):
    from mnist_tui.runs.folders import create_run

    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = create_run(tmp_path, "a/../b", now)
    assert first.path.parent == tmp_path and first.id == "20260101-000000-a-..-b"
