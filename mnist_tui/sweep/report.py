"""`mnist sweep show`: a study's trials, its best trial and parameter importances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from mnist_tui.sweep.study import SweepPlan
from mnist_tui.sweep.view import (
    best_line,
    best_record,
    progress_line,
    trial_records,
    trials_table,
)


def importances(study: Any) -> dict[str, float] | None:
    """Optuna's parameter importances (fANOVA), when enough trials have finished.

    A few dozen trials take well under a second; fewer than three complete ones, or a
    space with one parameter, say nothing worth a number.
    """
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 3:
        return None
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None


def sweep_report(study: Any, plan: SweepPlan, url: str) -> dict[str, Any]:
    """Everything `sweep show` prints, as plain data (also its --json)."""
    records = trial_records(study)
    best = best_record(records)
    command = None
    if best is not None and best.get("run_dir"):
        command = f"mnist train --config {Path(best['run_dir']) / 'config.toml'}"
    return {
        "name": plan.name,
        "storage": url,  # holds no password: storage.check_url refuses those
        "sampler": plan.sampler,
        "pruner": plan.pruner,
        "trials_target": plan.trials,
        "space": {p.name: p.describe() for p in plan.space},
        "fixed": plan.base,
        "trials": records,
        "best": best,
        "best_command": command,
        "importances": importances(study),
    }


def report_view(report: dict[str, Any]) -> Group:
    space = ", ".join(f"{k}={v}" for k, v in report["space"].items())
    epochs = int(report["fixed"].get("epochs", 0))
    parts: list[Any] = [
        Text(f"sweep {report['name']}", style="bold"),
        Text(
            f"space: {space}; sampler {report['sampler']}, pruner {report['pruner']}; "
            f"storage {report['storage']}",
            style="dim",
        ),
        Text(progress_line(report["trials"], report["trials_target"])),
        Text(""),
        trials_table(report["trials"], list(report["space"]), epochs),
        Text(""),
        Text(best_line(report["trials"]), style="bold"),
    ]
    if report["best_command"]:
        parts.append(Text(f"train it again: {report['best_command']}"))
    if report["importances"]:
        table = Table(title="parameter importance (fANOVA)", title_justify="left", box=None)
        table.add_column("parameter")
        table.add_column("importance", justify="right")
        table.add_column("")
        for name, value in report["importances"].items():
            table.add_row(name, f"{value:.2f}", "█" * round(value * 30))
        parts += [Text(""), table]
    return Group(*parts)
