"""`mnist compare --png`: the terminal's overlay drawn by matplotlib (via ui.plots)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnist_tui.ui.plots import pyplot, save_png

#: matplotlib marker shapes in the order of the terminal's characters (o x + * # @ ...).
_MPL_MARKERS = ("o", "x", "+", "*", "s", "D", "^", "v", "P", "h")


def draw_compare(report: dict[str, Any], path: Path) -> Path:
    """Validation accuracy and loss per epoch, one colour and marker per run."""
    plt = pyplot()
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100, layout="constrained")
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", [])
    for i, run in enumerate(report["runs"]):
        c = run["curves"]
        if not c["epoch"]:
            continue
        style = {
            "marker": _MPL_MARKERS[i % len(_MPL_MARKERS)],
            "color": cycle[i % len(cycle)] if cycle else None,
            "label": run["label"],
        }
        ax_acc.plot(c["epoch"], [100 * v for v in c["val_acc"]], "-", **style)
        ax_loss.plot(c["epoch"], c["val_loss"], "-", **style)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="validation accuracy")
    ax_loss.set(xlabel="epoch", ylabel="loss (per sample)", title="validation loss")
    epochs = sorted({e for run in report["runs"] for e in run["curves"]["epoch"]})
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        if len(epochs) <= 20:
            ax.set_xticks(epochs)  # whole epochs, also when there is only one
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = ax_acc.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    return save_png(fig, path)
