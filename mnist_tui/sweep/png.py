"""`sweep.png`: the optimisation history and one panel per searched parameter (matplotlib).

Drawn from `view.trial_records` (plain data) rather than with Optuna's
`optuna.visualization.matplotlib` functions: those are experimental and each makes its own
figure (no `ax=`), so one PNG of history + slices would mean pasting rasters together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnist_tui.sweep.space import Param
from mnist_tui.sweep.view import show_value
from mnist_tui.ui.plots import pyplot, save_png

#: Each panel's size in inches at 100 dpi: a sweep of P parameters is (1 + P) * 450 x 400 px.
PANEL = (4.5, 4.0)
DPI = 100


def default_png(runs_dir: Path, name: str) -> Path:
    """Where a sweep keeps its files (the workers' logs too): runs/.sweeps/NAME/sweep.png."""
    return Path(runs_dir) / ".sweeps" / name / "sweep.png"


def draw_sweep(records: list[dict[str, Any]], space: list[Param], path: Path, title: str) -> Path:
    """History (each trial's best val acc, the best so far) and val acc against each param."""
    plt = pyplot()
    scored = [r for r in records if r["best_val_acc"] is not None]
    done = [r for r in scored if r["state"] == "complete"]
    stopped = [r for r in scored if r["state"] != "complete"]  # pruned, failed, running
    fig, axes = plt.subplots(
        1, 1 + len(space), figsize=(PANEL[0] * (1 + len(space)), PANEL[1]), dpi=DPI, squeeze=False
    )
    history, *panels = axes[0]
    history.scatter(
        [r["number"] for r in done], [100 * r["best_val_acc"] for r in done], label="complete"
    )
    if stopped:
        history.scatter(
            [r["number"] for r in stopped],
            [100 * r["best_val_acc"] for r in stopped],
            marker="x",
            color="tab:gray",
            label="pruned / stopped",
        )
    best, xs, ys = None, [], []
    for r in sorted(done, key=lambda r: r["number"]):
        best = r["best_val_acc"] if best is None else max(best, r["best_val_acc"])
        xs.append(r["number"])
        ys.append(100 * best)
    if xs:
        history.step(xs, ys, where="post", color="tab:red", label="best so far")
    history.set(xlabel="trial", ylabel="best validation accuracy (%)", title="history")
    if scored:
        history.legend(loc="lower right", fontsize="small")
    for ax, param in zip(panels, space, strict=True):
        for group, style in ((done, {}), (stopped, {"marker": "x", "color": "tab:gray"})):
            points = [r for r in group if param.name in r["params"]]
            values = [r["params"][param.name] for r in points]
            if param.kind == "choice":  # categories in the order they were given
                order = [show_value(c) for c in param.choices]
                values = [order.index(show_value(v)) for v in values]
                ax.set_xticks(range(len(order)), order)
            ax.scatter(values, [100 * r["best_val_acc"] for r in points], **style)
        if param.log:
            ax.set_xscale("log")
        ax.set(xlabel=param.name, title=param.name)
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def write_sweep_png(study: Any, plan: Any, path: Path) -> Path:
    """sweep.png of `study` (its plan: sweep.study.SweepPlan) at `path`, folder made if needed."""
    from mnist_tui.errors import MnistError
    from mnist_tui.sweep.view import trial_records

    path = Path(path)
    if path.is_dir():
        path = path / "sweep.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MnistError(f"Cannot create {path.parent}: {e.strerror or e}.") from None
    return draw_sweep(trial_records(study), list(plan.space), path, f"sweep {plan.name}")
