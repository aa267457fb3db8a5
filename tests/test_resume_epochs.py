"""Resuming with another --epochs: the schedule is re-planned, the whole run is shown.

Issue 20 (defects 1 and 3) and issue 24 (item 7): a cosine schedule past its end climbed
back up, a shorter run never annealed, a one-cycle run crashed ("Tried to step 431
times"), and a resumed run showed only its own epochs and its own time.
"""

from __future__ import annotations

import csv
import io
import itertools
import tomllib
from pathlib import Path

import pytest
from conftest import run_cli
from rich.console import Console
from training_events import StopAfter

from mnist_tui.config import TrainConfig
from mnist_tui.models import checkpoints
from mnist_tui.runs.folders import RunFolder, list_runs
from mnist_tui.train import run as training
from mnist_tui.train.events import EpochEnded
from mnist_tui.train.reporters.dashboard import LiveDashboard
from mnist_tui.ui.format import format_seconds

# 1,000 training images in batches of 100: ten steps an epoch, about a second each.
SMALL = {"val_size": 3000, "batch_size": 100, "device": "cpu", "precision": "fp32"}


def interrupted_run(root: Path, runs: Path, after: int, **settings) -> Path:
    """A run stopped (as by Ctrl-C) once epoch `after` ended; 0: in the first epoch."""
    stop = StopAfter(after)
    config = TrainConfig(**{**SMALL, **settings})
    outcome = training.train(
        config, data_root=root, runs_dir=runs, reporters=[stop], should_stop=stop
    )
    assert outcome.ended.status == "interrupted"
    return outcome.run.path


def resume(run: Path, root: Path, capsys, *options) -> str:
    code, out, err = run_cli(
        ["train", "--resume", run, "--root", root, "--plain", *options], capsys
    )
    assert code == 0, err
    return out


def lrs(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as f:
        return [float(row["lr"]) for row in csv.DictReader(f)]


def final_lr(run: Path) -> float:
    """The learning rate after the run's last step: where its schedule ended."""
    state = checkpoints.load(run / "last.pt", expected_format=checkpoints.STATE_FORMAT)
    return float(state["optimizer"]["param_groups"][0]["lr"])


def non_increasing(values: list[float]) -> bool:
    return all(b <= a + 1e-12 for a, b in itertools.pairwise(values))


@pytest.mark.slow
@pytest.mark.parametrize(("planned", "resumed"), [(3, 6), (5, 2)])
def test_cosine_resumed_with_other_epochs_is_replanned_to_its_end(
    synthetic_root, runs_dir, capsys, planned, resumed
):
    run = interrupted_run(synthetic_root, runs_dir, 1, epochs=planned, scheduler="cosine")
    lr_before = lrs(run)
    out = resume(run, synthetic_root, capsys, "--epochs", resumed)

    values = lrs(run)
    assert len(values) == resumed and values[0] == lr_before[0]
    # Continues from where it was, never climbs back, and anneals all the way.
    assert non_increasing(values), values
    assert final_lr(run) == pytest.approx(0.0, abs=1e-12)
    # The resume line says so, and config.toml records it (the new length included).
    assert f"--epochs {planned} -> {resumed}: cosine schedule re-planned" in out
    assert f"0 at the end of epoch {resumed}" in out
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["train"]["epochs"] == resumed
    (record,) = config["run"]["resumed"]
    assert record["epochs_before"] == planned and record["epochs"] == resumed
    assert record["after_epoch"] == 1 and record["end_lr"] == 0.0
    # The lr it resumed from is the one the optimizer had: no jump.
    assert record["lr"] == pytest.approx(values[1])


@pytest.mark.slow
@pytest.mark.parametrize("after", [0, 1])
def test_one_cycle_resumed_with_more_epochs_completes(synthetic_root, runs_dir, capsys, after):
    # The `fast` preset's recipe (Adam one-cycle), stopped in its first epoch or after it.
    run = interrupted_run(
        synthetic_root,
        runs_dir,
        after,
        epochs=2,
        optimizer="adam",
        lr=0.01,
        momentum=0.7,
        beta2=0.9,
        scheduler="onecycle",
        model="fast_cnn",
    )
    out = resume(run, synthetic_root, capsys, "--epochs", 4)
    assert "completed after 4 epoch(s)" in out
    assert "one-cycle schedule re-planned" in out
    values = lrs(run)
    assert len(values) == 4
    # Once past its peak, a one-cycle schedule only goes down, to near nothing at the end
    # (its last step is taken at lr / 25 / 1e4).
    peak = values.index(max(values))
    assert non_increasing(values[peak:]), values
    assert final_lr(run) < 0.01 / 100


@pytest.mark.slow
def test_a_replanned_run_interrupted_again_keeps_its_new_plan(synthetic_root, tmp_path, capsys):
    """The re-planned schedule survives last.pt: a second resume continues it exactly."""
    once = interrupted_run(synthetic_root, tmp_path / "a", 1, epochs=2, scheduler="cosine")
    resume(once, synthetic_root, capsys, "--epochs", 4)

    twice = interrupted_run(synthetic_root, tmp_path / "b", 1, epochs=2, scheduler="cosine")
    stop = StopAfter(3)
    config = training.resume_config(RunFolder(twice), {"epochs": 4})
    training.train(
        config,
        data_root=synthetic_root,
        runs_dir=tmp_path / "b",
        reporters=[stop],
        should_stop=stop,
        resume=RunFolder(twice),
    )
    out = resume(twice, synthetic_root, capsys)  # no --epochs: config.toml says 4 now
    assert "re-planned" not in out
    assert lrs(twice) == lrs(once)
    assert final_lr(twice) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_resumed_run_shows_its_whole_history_and_one_total_time(synthetic_root, runs_dir, capsys):
    run = interrupted_run(synthetic_root, runs_dir, 2, epochs=3, scheduler="cosine")
    first_session = tomllib.loads((run / "summary.toml").read_text())["seconds"]
    assert first_session > 0

    # Plain output: the two earlier epochs, then the third, and the total of both sessions.
    out = resume(run, synthetic_root, capsys)
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/3", "2/3", "3/3"]
    summary = tomllib.loads((run / "summary.toml").read_text())
    assert summary["seconds"] > first_session
    total = format_seconds(summary["seconds"])
    assert f"completed after 3 epoch(s) in {total} (" in out
    (record,) = [r for r in list_runs(runs_dir) if r["id"] == run.name]
    assert record["seconds"] == summary["seconds"]  # what `mnist runs` shows


def test_dashboard_of_a_resumed_run_shows_the_epochs_before_it():
    """The dashboard gets the run's history from RunStarted: table and sparklines."""
    from training_events import dispatch, epoch_events, final_events, run_started

    events = [e for e in epoch_events() if isinstance(e, EpochEnded)]
    start = run_started()
    start = type(start)(
        **{
            **start.__dict__,
            "start_epoch": 4,
            "resumed": True,
            "history": tuple(events[:3]),
            "previous_seconds": 40.0,
            "resume_note": "--epochs 3 -> 5: cosine schedule re-planned",
        }
    )
    out = io.StringIO()
    console = Console(file=out, width=100, height=40, color_system=None)
    dashboard = LiveDashboard(console=console)
    _, ended = final_events("completed")
    ended = type(ended)(**{**ended.__dict__, "seconds": 100.0, "session_seconds": 60.0})
    for event in [start, *epoch_events()[-12:], ended]:
        dispatch(dashboard, event)
    text = out.getvalue()
    for epoch in range(1, 6):
        assert f" {epoch}/5 " in text
    assert "cosine schedule re-planned" in text and "resumed at epoch 4" in text
    # Sparklines over all five epochs, not the two of this session.
    from mnist_tui.train.reporters.dashboard_view import sparkline

    assert sparkline([e.val_acc for e in events], 70) in text
    assert "1m40s" in text and "1m00s this session" in text


def _schedule_after_resume(
    planned: int, resumed: int, done: int, steps: int = 10, **settings
) -> tuple[list[float], list[float], object, object]:
    """lr per step of a schedule planned for `planned` epochs, saved after `done` and
    restored as a resume with --epochs `resumed` does: (lrs before, lrs after, change,
    optimizer)."""
    import dataclasses

    import torch

    from mnist_tui.train.loop import build_optimizer
    from mnist_tui.train.schedules import build_scheduler, replan, restore

    config = TrainConfig(**{"epochs": planned, "lr": 0.05, **settings})
    optimizer = build_optimizer(config, torch.nn.Linear(2, 2))
    scheduler = build_scheduler(config, optimizer, steps)
    before = []
    for _ in range(done * steps):
        before.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    saved = (optimizer.state_dict(), scheduler.state_dict())
    config = dataclasses.replace(config, epochs=resumed)
    optimizer = build_optimizer(config, torch.nn.Linear(2, 2))
    scheduler = build_scheduler(config, optimizer, steps)
    optimizer.load_state_dict(saved[0])
    scheduler = restore(scheduler, optimizer, saved[1])
    scheduler, change = replan(scheduler, optimizer, config, steps, done)
    after = []
    for _ in range((resumed - done) * steps):
        after.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return before, after, change, optimizer


@pytest.mark.parametrize(("planned", "resumed", "done"), [(3, 6, 1), (5, 2, 1), (20, 3, 2)])
def test_cosine_replan_continues_without_a_jump_and_ends_at_zero(planned, resumed, done):
    before, after, change, optimizer = _schedule_after_resume(planned, resumed, done)
    lrs = before + after
    assert non_increasing(lrs) and lrs[0] == 0.05
    # The first step after the resume is taken at the lr the run had: no jump.
    assert after[0] == change.lr and change.lr < before[-1]
    assert optimizer.param_groups[0]["lr"] == 0.0
    assert change.end_lr == 0.0 and f"end of epoch {resumed}" in change.sentence()


def test_one_cycle_sgd_replan_keeps_cycling_momentum_down_to_its_end():
    before, after, change, optimizer = _schedule_after_resume(
        4, 8, 2, scheduler="onecycle", optimizer="sgd"
    )
    peak = before.index(max(before))
    assert non_increasing((before + after)[peak:])
    assert change.peak_lr is None  # past its peak: it only comes down
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05 / 25 / 1e4)
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.95)


def test_one_cycle_still_warming_up_goes_on_to_its_peak():
    # 20 epochs planned, resumed after 2 (warm-up ends at 5) with 10: warm-up until 2.5.
    _, after, change, _ = _schedule_after_resume(
        20, 10, 2, scheduler="onecycle", optimizer="adam", lr=0.01
    )
    assert change.peak_lr == 0.01 and "up to 0.01" in change.sentence()
    assert after[0] == change.lr and max(after) == pytest.approx(0.01, rel=1e-3)
    top = after.index(max(after))
    assert after[: top + 1] == sorted(after[: top + 1])  # rises to the peak...
    assert non_increasing(after[top:])  # ...then only falls


@pytest.mark.parametrize("scheduler", ["step", "none"])
def test_schedules_that_do_not_span_the_run_are_left_alone(scheduler):
    import torch

    from mnist_tui.train.loop import build_optimizer
    from mnist_tui.train.schedules import ScheduleChange, build_scheduler, planned_epochs

    config = TrainConfig(scheduler=scheduler)
    optimizer = build_optimizer(config, torch.nn.Linear(2, 2))
    assert planned_epochs(build_scheduler(config, optimizer, 10), 10) is None
    sentence = ScheduleChange(scheduler, 1, 3, 6, 0.035).sentence()
    assert sentence.startswith("--epochs 3 -> 6: ")
    assert ("x0.7 every epoch" if scheduler == "step" else "stays 0.035") in sentence
