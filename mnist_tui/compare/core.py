"""`mnist compare`: runs side by side, as plain data read from their folders.

Standard library only (the runs layer): the settings that differ, each run's results and
its validation curves per epoch. The terminal view and the PNG take what this returns.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mnist_tui.errors import RunError
from mnist_tui.runs.folders import RunFolder, effective_status, list_runs, resolve_run

#: Settings that are not a difference worth a column: every run has its own name.
IGNORED_SETTINGS = frozenset({"name"})
_STAMP = re.compile(r"^\d{8}-\d{6}-")


def select_runs(specs: list[str], runs_dir: Path, sweep: str | None) -> list[RunFolder]:
    """The runs named on the command line, then the trials of `--sweep NAME`, each once."""
    runs = [resolve_run(spec, runs_dir) for spec in specs]
    if sweep is not None:
        trials = [r for r in list_runs(runs_dir) if r.get("sweep") == sweep]
        if not trials:
            raise RunError(
                f"No runs of sweep {sweep!r} in {runs_dir}: `mnist runs` lists the runs there."
            )
        trials.sort(key=lambda r: (r.get("trial") is None, r.get("trial") or 0, r["id"]))
        runs += [RunFolder(Path(r["path"])) for r in trials]
    unique: dict[Path, RunFolder] = {}
    for run in runs:
        unique.setdefault(run.path.resolve(), run)
    if len(unique) < 2:
        raise RunError(
            "compare needs at least two runs: give RUN RUN ... or --sweep NAME "
            "(`mnist runs` lists them)."
        )
    return list(unique.values())


def labels_for(ids: list[str]) -> list[str]:
    """Short legend labels: ids without their time stamp, where that keeps them unique."""
    short = [_STAMP.sub("", i) or i for i in ids]
    return short if len(set(short)) == len(short) else ids


def describe_run(run: RunFolder) -> dict[str, Any]:
    """One run's settings, results and per-epoch validation curves (plain data)."""
    config = run.read_config()
    summary = run.read_summary()
    settings = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    rows = run.read_metrics()
    return {
        "id": run.id,
        "path": str(run.path),
        "settings": settings,
        "status": effective_status(summary),
        "best_val_acc": _number(summary.get("best_val_acc")),
        "best_epoch": _number(summary.get("best_epoch")),
        "test_acc": _number(summary.get("test_acc")),
        "epochs_run": _number(summary.get("epochs_run")),
        "epochs": _number(settings.get("epochs")),
        "seconds": _number(summary.get("seconds")),
        "sweep": summary.get("sweep"),
        "trial": summary.get("trial"),
        "curves": {
            "epoch": [int(r["epoch"]) for r in rows],
            "val_acc": [r["val_acc"] for r in rows],
            "val_loss": [r["val_loss"] for r in rows],
        },
    }


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def differing_settings(runs: list[dict[str, Any]]) -> list[str]:
    """The settings whose values are not the same in every run, in config order."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run["settings"] if k not in keys and k not in IGNORED_SETTINGS]
    missing = object()
    return [k for k in keys if len({repr(r["settings"].get(k, missing)) for r in runs}) > 1]


def compare_runs(runs: list[RunFolder]) -> dict[str, Any]:
    """Everything `mnist compare` shows (also its --json)."""
    described = [describe_run(r) for r in runs]
    for run, label in zip(described, labels_for([r["id"] for r in described]), strict=True):
        run["label"] = label
    differing = differing_settings(described)
    for run in described:
        run["differs"] = {k: run["settings"].get(k) for k in differing}
    return {"differing": differing, "runs": described}
