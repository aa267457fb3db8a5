"""issue 21: a worker killed outright (SIGKILL) mid-trial; its trial is failed and retried.

Two `mnist sweep --join` workers share a study in a real PostgreSQL server (the fixture of
test_sweep_postgres.py); heartbeats every 2 s (MNIST_SWEEP_HEARTBEAT), so the lost trial
is failed after 8 s instead of 40 s.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from conftest import MNIST_CMD, cli_env
from test_sweep_postgres import PASSWORD, make_study, postgres  # noqa: F401  # the fixture

pytestmark = pytest.mark.slow


def test_sigkilled_worker_trial_is_failed_and_retried(postgres, synthetic_root, tmp_path):  # noqa: F811
    import optuna
    from optuna.trial import TrialState

    study = make_study(
        postgres, "kill", ["lr=0.03,0.05,0.08,0.1"], 3, synthetic_root, epochs=2, val_size=300
    )

    env = cli_env(PGPASSWORD=PASSWORD, MNIST_SWEEP_HEARTBEAT="2")
    workers = {}
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        log = open(folder / "out.log", "wb")  # noqa: SIM115  # closed below
        command = [*MNIST_CMD, "sweep", "--join", "kill", "--storage", postgres]
        command += ["--runs-dir", "runs", "--root", str(synthetic_root), "--plain"]
        workers[name] = (
            subprocess.Popen(command, cwd=folder, stdout=log, stderr=log, env=env),
            log,
        )
        time.sleep(1.0)

    # Kill worker a once its trial is half way: one epoch reported, one to go.
    victim, _ = workers["a"]
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline:
        for trial in study.get_trials(states=(TrialState.RUNNING,)):
            if trial.user_attrs.get("pid") == victim.pid and trial.intermediate_values:
                victim.send_signal(signal.SIGKILL)
                killed = trial.number
                break
        else:
            assert victim.poll() is None, (tmp_path / "a" / "out.log").read_text()
            time.sleep(0.5)
    assert killed is not None, "worker a never reached the middle of a trial"
    victim.wait(timeout=30)

    survivor, _ = workers["b"]
    survivor.wait(timeout=600)
    for _, log in workers.values():
        log.close()
    output = (tmp_path / "b" / "out.log").read_text()
    assert survivor.returncode == 0, output

    trials = {t.number: t for t in study.get_trials()}
    assert trials[killed].state == TrialState.FAIL  # failed by the heartbeat, not left running
    retries = [
        t
        for t in trials.values()
        if optuna.storages.RetryFailedTrialCallback.retried_trial_number(t) == killed
    ]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[killed].params
    assert retries[0].user_attrs["pid"] == survivor.pid
    complete = [t for t in trials.values() if t.state == TrialState.COMPLETE]
    assert len(complete) == 3, [(t.number, t.state) for t in trials.values()]
    assert not [t for t in trials.values() if t.state == TrialState.RUNNING]
