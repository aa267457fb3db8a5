"""TensorBoardReporter: per-epoch scalars in runs/<id>/tensorboard/ for `--tensorboard`.

A Callback like the others; the tensorboard package is an optional extra
(`pip install 'mnist-tui[tensorboard]'`), so its absence is a clear error before training
starts, not a traceback after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnist_tui.errors import MnistError
from mnist_tui.train.events import Callback, EpochEnded, Evaluated, RunEnded, RunStarted

MISSING = (
    "--tensorboard needs the tensorboard package: install it with "
    "`pip install 'mnist-tui[tensorboard]'` (or `pip install tensorboard`), or drop --tensorboard."
)


def summary_writer_class() -> Any:
    """torch's SummaryWriter, or a MnistError saying how to install tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MnistError(MISSING) from None
    return SummaryWriter


class TensorBoardReporter(Callback):
    """Writes loss/{train,val}, accuracy/{train,val} and lr per epoch; test scalars at the end."""

    def __init__(self, writer_class: Any) -> None:
        self.writer_class = writer_class
        self.writer: Any = None
        self.last_epoch = 0

    @classmethod
    def checked(cls) -> TensorBoardReporter:
        """A reporter whose dependency is known to import."""
        return cls(summary_writer_class())

    def on_run_start(self, e: RunStarted) -> None:
        # A resumed run adds a new event file to the same folder; steps are epochs.
        self.writer = self.writer_class(log_dir=str(Path(e.run_dir) / "tensorboard"))
        self.last_epoch = e.start_epoch - 1

    def on_epoch_end(self, e: EpochEnded) -> None:
        if self.writer is None:
            return
        step = e.epoch
        self.writer.add_scalar("loss/train", e.train_loss, step)
        self.writer.add_scalar("loss/val", e.val_loss, step)
        self.writer.add_scalar("accuracy/train", e.train_acc, step)
        self.writer.add_scalar("accuracy/val", e.val_acc, step)
        self.writer.add_scalar("lr", e.lr, step)
        self.writer.add_scalar("samples_per_s", e.samples_per_s, step)
        self.writer.flush()  # readable while the run goes on
        self.last_epoch = e.epoch

    def on_evaluated(self, e: Evaluated) -> None:
        if self.writer is None:
            return
        self.writer.add_scalar(f"loss/{e.split}", e.loss, self.last_epoch)
        self.writer.add_scalar(f"accuracy/{e.split}", e.accuracy, self.last_epoch)

    def on_run_end(self, e: RunEnded) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
