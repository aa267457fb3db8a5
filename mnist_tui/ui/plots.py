"""Matplotlib PNGs (Agg backend, imported lazily): training curves and friends."""

from __future__ import annotations

from pathlib import Path

from mnist_tui.errors import MnistError
from mnist_tui.fsutil import atomic_open


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path) -> Path:  # fig: a matplotlib Figure, imported lazily
    """Write `fig` atomically as a PNG at `path` and free it; a failed write is one line."""
    try:
        with atomic_open(Path(path), "wb") as f:
            fig.savefig(f, format="png")
    except OSError as e:
        raise MnistError(f"Cannot write {path}: {e.strerror or e}.") from None
    finally:
        pyplot().close(fig)
    return Path(path)


def best_epoch_of(rows: list[dict[str, float]]) -> int | None:
    """The first epoch with the highest validation accuracy (what early stopping keeps)."""
    if not rows:
        return None
    return int(max(rows, key=lambda r: (r["val_acc"], -r["epoch"]))["epoch"])


def draw_curves(
    rows: list[dict[str, float]], path: Path, title: str = "", best_epoch: int | None = None
) -> Path:
    """Loss, accuracy (train vs val) and the learning rate per epoch, from metrics.csv rows;
    the best epoch (the checkpoint's: `best_epoch`, else the highest val accuracy) marked."""
    plt = pyplot()
    epochs = [int(r["epoch"]) for r in rows]
    best = best_epoch if best_epoch in epochs else best_epoch_of(rows)
    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(15, 4), dpi=100)
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], "o-", label="val")
    ax_loss.set(xlabel="epoch", ylabel="loss (per sample)", title="loss")
    ax_acc.plot(epochs, [100 * r["train_acc"] for r in rows], "o-", label="train")
    ax_acc.plot(epochs, [100 * r["val_acc"] for r in rows], "o-", label="val")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    # The lr of each epoch as metrics.csv records it: the schedule as it ran.
    ax_lr.plot(epochs, [r["lr"] for r in rows], "o-", color="tab:green", label="lr")
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title="learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    if best is not None:
        row = rows[epochs.index(best)]
        for ax in (ax_loss, ax_acc, ax_lr):
            ax.axvline(best, color="tab:red", linestyle="--", alpha=0.6, label=f"best epoch {best}")
        ax_acc.plot([best], [100 * row["val_acc"]], "*", color="tab:red", markersize=14, zorder=5)
        ax_acc.annotate(
            f"{row['val_acc']:.2%}",
            (best, 100 * row["val_acc"]),
            textcoords="offset points",
            xytext=(6, -14),
            color="tab:red",
        )
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


# --- mnist eval -------------------------------------------------------------------------------


def draw_confusion(matrix: list[list[int]], classes: list[str], path: Path, title: str) -> Path:
    """The confusion matrix as an annotated image (rows: true, columns: predicted)."""
    plt = pyplot()
    size = len(classes)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    # Log scale so that the few confusions stay visible next to a full diagonal.
    shown = [[max(c, 0) + 1 for c in row] for row in matrix]
    from matplotlib.colors import LogNorm

    image = ax.imshow(shown, cmap="Blues", norm=LogNorm(vmin=1))
    fig.colorbar(image, ax=ax, label="count + 1 (log)")
    peak = max(max(row) for row in matrix) or 1
    for t in range(size):
        for p in range(size):
            count = matrix[t][p]
            if count:
                colour = "white" if count > peak**0.5 else "black"
                ax.text(p, t, str(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set(
        xticks=range(size),
        yticks=range(size),
        xticklabels=classes,
        yticklabels=classes,
        xlabel="predicted",
        ylabel="true",
        title=title,
    )
    plt.setp(ax.get_xticklabels(), rotation=45 if max(map(len, classes)) > 2 else 0)
    fig.tight_layout()
    return save_png(fig, path)


def draw_mistakes(
    images: list, captions: list[str], path: Path, title: str, columns: int = 6
) -> Path:
    """A grid of 28x28 images (0..1) with a caption each; an empty grid says so."""
    plt = pyplot()
    count = max(1, len(images))
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.9), dpi=100)
    flat = axes.ravel() if hasattr(axes, "ravel") else [axes]
    for ax in flat:
        ax.axis("off")
    for ax, image, caption in zip(flat, images, captions, strict=False):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(caption, fontsize=8)
    if not images:
        flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)
