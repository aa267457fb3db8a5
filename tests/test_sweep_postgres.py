"""`mnist sweep --join` against a real PostgreSQL server, with password authentication.

The server is Debian's `postgresql` package, started in a temporary folder on a free port
of 127.0.0.1 (as the `postgres` user when the tests run as root: postgres refuses root).
The test is skipped only when the binaries are absent; .ci/run installs them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MNIST_CMD, cli_env

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
PASSWORD = "Sw33p-s3cret-9f2c"  # grep-able: must appear in no output, log or file
USER = "mnist"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BINARIES, reason="PostgreSQL binaries absent (.ci/run installs them)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_server_user(args: list[str]) -> list[str]:
    """`args` run as `postgres` when we are root (postgres will not run as root)."""
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *args]
    return ["su", "postgres", "-c", " ".join(args)]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway server; yields the URL (no password in it) of its `sweeps` database."""
    bin_dir = Path(BINARIES[-1]).parent
    # Not under pytest's tmp_path: its parents are private to root, postgres cannot enter.
    base = Path(tempfile.mkdtemp(prefix="mnist-pg-"))
    base.chmod(0o755)
    data, pwfile = base / "data", base / "pwfile"
    data.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        server = pwd.getpwnam("postgres")
        for path in (base, data, pwfile):
            os.chown(path, server.pw_uid, server.pw_gid)
    data.chmod(0o700)
    pwfile.chmod(0o600)
    port = free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
            ]
        ),
        **run,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    subprocess.run(
        as_server_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(base / "server.log"),
                "-w",
                "start",
            ]
        ),
        **run,
    )
    try:
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, "sweeps"],
            env=env,
            **run,
        )
        yield f"postgresql://{USER}@127.0.0.1:{port}/sweeps"
    finally:
        subprocess.run(
            as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def make_study(
    url: str,
    name: str,
    params: list[str],
    trials: int,
    data_root,
    epochs: int = 1,
    val_size: int = 500,
):
    """A study as `mnist sweep` on a first machine makes it (fast_cnn on the CPU); the
    password only in this process's environment, and only while it connects."""
    from mnist_tui.config import TrainConfig
    from mnist_tui.sweep.space import build_space
    from mnist_tui.sweep.storage import open_storage
    from mnist_tui.sweep.study import SweepPlan, base_settings, create_study

    os.environ["PGPASSWORD"] = PASSWORD
    try:
        space = build_space(params, None)
        config = TrainConfig(
            model="fast_cnn", epochs=epochs, val_size=val_size, device="cpu", precision="fp32"
        )
        plan = SweepPlan(
            name,
            space,
            base_settings(config, space),
            trials=trials,
            sampler="random",
            pruner="none",
            data_root=str(data_root),
        )
        return create_study(plan, open_storage(url))
    finally:
        del os.environ["PGPASSWORD"]


def test_two_join_workers_share_one_study(postgres, synthetic_root, tmp_path):
    # The study is made by a first machine; the two workers only --join it.
    study = make_study(
        postgres, "pg", ["lr=0.03,0.05,0.08,0.1", "batch_size=64,128"], 6, synthetic_root
    )

    # Two "machines": separate folders, each its own runs folder, the password only in env.
    machines = [tmp_path / "a", tmp_path / "b"]
    workers = []
    for folder in machines:
        folder.mkdir()
        log = open(folder / "out.log", "wb")  # noqa: SIM115  # closed below
        command = [
            *MNIST_CMD,
            "sweep",
            "--join",
            "pg",
            "--storage",
            postgres,
            "--runs-dir",
            "runs",
            "--root",
            str(synthetic_root),
        ]
        workers.append(
            (
                subprocess.Popen(
                    command, cwd=folder, stdout=log, stderr=log, env=cli_env(PGPASSWORD=PASSWORD)
                ),
                log,
            )
        )
        time.sleep(1.0)
    for process, log in workers:
        process.wait(timeout=900)
        log.close()
    outputs = [(folder / "out.log").read_text() for folder in machines]
    assert all(p.returncode == 0 for p, _ in workers), outputs

    trials = study.get_trials()
    assert sum(t.state.name == "COMPLETE" for t in trials) == 6, [t.state for t in trials]
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == 2  # both workers contributed
    folders = {folder: sorted((folder / "runs").glob("*-pg-t*")) for folder in machines}
    assert all(folders.values()), folders  # each machine has trial runs of its own
    ran = {p.name for runs in folders.values() for p in runs}
    assert ran == {t.user_attrs["run_id"] for t in trials}  # no trial lost or run twice

    # The password is nowhere: not in the outputs, not in any file under either folder.
    assert all(PASSWORD not in out for out in outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_join_without_password_fails_in_one_line(postgres, tmp_path):
    env = cli_env()
    env.pop("PGPASSWORD", None)
    env["PGPASSFILE"] = str(tmp_path / "none")  # and no ~/.pgpass either
    result = subprocess.run(
        [*MNIST_CMD, "sweep", "show", "pg", "--storage", postgres],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("mnist: error: Cannot use the study storage")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
