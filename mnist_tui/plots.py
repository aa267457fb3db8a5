"""Matplotlib PNGs (Agg backend, imported lazily): training curves and friends."""

from __future__ import annotations

from pathlib import Path

from mnist_tui.fsutil import atomic_open


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_curves(rows: list[dict[str, float]], path: Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, train vs val, from metrics.csv rows."""
    plt = _pyplot()
    epochs = [int(r["epoch"]) for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], "o-", label="val")
    ax_loss.set(xlabel="epoch", ylabel="loss (per sample)", title="loss")
    ax_acc.plot(epochs, [100 * r["train_acc"] for r in rows], "o-", label="train")
    ax_acc.plot(epochs, [100 * r["val_acc"] for r in rows], "o-", label="val")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(Path(path), "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return Path(path)
