"""What a sweep looks like: trial records (plain data) and their Rich table and lines.

`trial_records` turns Optuna's trials into plain dicts; everything else here takes those
dicts, so the live view, `mnist sweep show` and `--json` show the same facts.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from mnist_tui.ui.format import format_seconds, percent

STATE_STYLES = {
    "complete": "green",
    "running": "cyan",
    "waiting": "dim",
    "pruned": "magenta",
    "failed": "red",
    "interrupted": "yellow",
    "lost": "yellow",
}


def trial_state(trial: Any) -> str:
    """complete | running | waiting | pruned | failed | interrupted | lost (worker gone)."""
    state = trial.state.name.lower()
    if state == "fail":
        if trial.user_attrs.get("interrupted"):
            return "interrupted"
        return "failed" if trial.user_attrs.get("error") else "lost"
    return state


def trial_records(study: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """One plain record per trial: number, params, state, best val acc, epoch, time, host."""
    now = now or datetime.now()  # Optuna stores naive local times
    records = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):  # asked for in a race and never run: not a trial
            continue
        values = t.intermediate_values
        best = t.value if t.value is not None else (max(values.values()) if values else None)
        end = t.datetime_complete or (now if t.state.name == "RUNNING" else None)
        seconds = (end - t.datetime_start).total_seconds() if end and t.datetime_start else None
        records.append(
            {
                "number": t.number,
                "state": trial_state(t),
                "params": dict(t.params),
                "best_val_acc": best,
                "epoch": max(values) if values else 0,
                "seconds": seconds,
                "host": t.user_attrs.get("host"),
                "run_id": t.user_attrs.get("run_id"),
                "run_dir": t.user_attrs.get("run_dir"),
                "error": t.user_attrs.get("error") or None,
            }
        )
    return records


def best_record(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    complete = [r for r in records if r["state"] == "complete" and r["best_val_acc"] is not None]
    return max(complete, key=lambda r: r["best_val_acc"]) if complete else None


def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={show_value(v)}" for k, v in params.items())


def progress_line(records: list[dict[str, Any]], target: int) -> str:
    """`7/20 trials: 5 complete, 1 pruned, 1 running`."""
    counted = [r for r in records if r["state"] in ("complete", "pruned", "failed", "running")]
    parts = []
    for state in ("complete", "pruned", "failed", "running", "waiting", "interrupted", "lost"):
        n = sum(r["state"] == state for r in records)
        if n:
            parts.append(f"{n} {state}")
    return f"{min(len(counted), target)}/{target} trials: {', '.join(parts) or 'none yet'}"


def best_line(records: list[dict[str, Any]]) -> str:
    best = best_record(records)
    if best is None:
        return "best: no trial has finished yet"
    return (
        f"best: trial {best['number']}, val {percent(best['best_val_acc'])} "
        f"({params_text(best['params'])})"
    )


def trials_table(records: list[dict[str, Any]], param_names: list[str], epochs: int) -> Table:
    """The trials of a sweep, one row each, best validation accuracy in bold."""
    best = best_record(records)
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    table.add_column("#", justify="right", no_wrap=True)
    for name in param_names:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("best val", justify="right", no_wrap=True)
    table.add_column("epoch", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("host", overflow="fold")
    for r in records:
        style = STATE_STYLES.get(r["state"], "")
        val = percent(r["best_val_acc"])
        if best is not None and r["number"] == best["number"]:
            val = f"[bold]{val}[/]"
        table.add_row(
            str(r["number"]),
            *[show_value(r["params"].get(n, "-")) for n in param_names],
            f"[{style}]{r['state']}[/]" if style else r["state"],
            val,
            f"{r['epoch']}/{epochs}",
            format_seconds(r["seconds"]) if r["seconds"] is not None else "-",
            r["host"] or "-",
        )
    return table


def live_view(
    name: str, records: list[dict[str, Any]], param_names: list[str], epochs: int, target: int
) -> Group:
    return Group(
        Text(f"sweep {name}: {progress_line(records, target)}", style="bold"),
        trials_table(records, param_names, epochs),
        Text(best_line(records)),
    )


def trial_line(record: dict[str, Any], epochs: int) -> str:
    """One plain line for a trial that just ended."""
    time_text = format_seconds(record["seconds"]) if record["seconds"] is not None else "-"
    line = (
        f"trial {record['number']} {record['state']}: val {percent(record['best_val_acc'])} "
        f"after {record['epoch']}/{epochs} epochs, {time_text}  {params_text(record['params'])}"
    )
    if record.get("error"):
        line += f"  ({record['error']})"
    return line


ENDED = ("complete", "pruned", "failed", "interrupted", "lost")


class SweepMonitor:
    """The live view of a sweep (Rich Live on a terminal) or a plain line per ended trial."""

    def __init__(
        self, study: Any, name: str, param_names: list[str], epochs: int, target: int, live: bool
    ) -> None:
        self.study = study
        self.name = name
        self.param_names = param_names
        self.epochs = epochs
        self.target = target
        self.live = None
        self.use_live = live
        self.reported: set[int] = set()
        self.records: list[dict[str, Any]] = []

    def __enter__(self) -> SweepMonitor:
        # Trials that ended before this worker started are not news.
        self.reported = {r["number"] for r in trial_records(self.study) if r["state"] in ENDED}
        if self.use_live:
            from rich.live import Live

            self.live = Live(self._render(), refresh_per_second=2, transient=False)
            self.live.__enter__()
        self.refresh()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.refresh()
            self.live.__exit__(*exc)

    def _render(self) -> Group:
        return live_view(self.name, self.records, self.param_names, self.epochs, self.target)

    def refresh(self) -> None:
        """Read the study again; redraw, or print the trials that ended since last time."""
        try:
            self.records = trial_records(self.study)
        except Exception:  # a storage hiccup must not stop the training it watches
            return
        if self.live is not None:
            self.live.update(self._render())
            return
        for r in self.records:
            if r["state"] in ENDED and r["number"] not in self.reported:
                self.reported.add(r["number"])
                print(trial_line(r, self.epochs), flush=True)
        sys.stdout.flush()
