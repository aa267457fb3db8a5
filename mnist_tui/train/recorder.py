"""RunRecorder: a Callback keeping a run folder's metrics.csv and summary.toml current."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime
from typing import Any

from mnist_tui.runs.folders import RunFolder, iso, utc_now
from mnist_tui.train.events import Callback, EpochEnded, RunEnded, RunStarted


class RunRecorder(Callback):
    """Keeps metrics.csv and summary.toml of a run folder in step with the loop's events."""

    def __init__(
        self,
        run: RunFolder,
        started: datetime | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        self.run = run
        self.tags = dict(tags or {})
        self.rows: list[dict[str, float | int]] = []
        self.summary: dict[str, Any] = {}
        self.started = started or utc_now()
        self.previous_seconds = 0.0  # the earlier sessions' time of a resumed run
        self.session_start = time.perf_counter()

    def on_run_start(self, event: RunStarted) -> None:
        # On resume, keep the epochs before the one we restart from: no duplicates.
        previous = self.run.read_metrics() if event.start_epoch > 1 else []
        self.rows = [
            {k: int(v) if k == "epoch" else v for k, v in row.items()}
            for row in previous
            if row["epoch"] < event.start_epoch
        ]
        if event.resumed:
            self.summary = self.run.read_summary()
            self.summary.pop("error", None)  # from an earlier failed attempt
            self.summary.pop("warning", None)
        self.previous_seconds = event.previous_seconds
        self.session_start = time.perf_counter()
        self.summary.update(
            status="running",
            run_id=event.run_id,
            model=event.model,
            started=self.summary.get("started", iso(self.started)),
            pid=os.getpid(),
            host=socket.gethostname(),
            **self.tags,
        )
        self.run.write_metrics(self.rows)
        self._write_summary()

    def on_epoch_end(self, event: EpochEnded) -> None:
        self.rows.append(event.csv_row())
        self.run.write_metrics(self.rows)
        self.summary.update(
            epochs_run=event.epoch,
            best_epoch=event.best_epoch,
            best_val_acc=event.best_val_acc,
            # Kept current, so a run killed outright still records the time it trained.
            seconds=round(self.previous_seconds + time.perf_counter() - self.session_start, 3),
            updated=iso(utc_now()),
        )
        self._write_summary()

    def on_run_end(self, event: RunEnded) -> None:
        self.summary.update(
            status=event.status,
            epochs_run=event.epochs_run,
            best_epoch=event.best_epoch,
            best_val_acc=event.best_val_acc,
            test_loss=event.test_loss,
            test_acc=event.test_acc,
            seconds=round(event.seconds, 3),  # the whole run's, as the reporters show it
            warning=event.warning or None,
            ended=iso(utc_now()),
        )
        self.summary.pop("pid", None)
        self._write_summary()

    def _write_summary(self) -> None:
        self.run.write_toml(self.run.summary, self.summary)
