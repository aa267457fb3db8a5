"""Run folders: ids, config.toml, metrics.csv, summary.toml, listing and `latest`.

Standard library only: `mnist runs` lists runs without importing torch. Checkpoint
files are handled by `checkpoints.py`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import math
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from mnist_tui.errors import ConfigError, RunError, RunWriteError, brief
from mnist_tui.fsutil import (
    TOML_ERRORS,
    atomic_write_bytes,
    describe_os_error,
    process_alive,
    read_regular,
    read_toml,
)

METRICS_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "seconds",
    "samples_per_s",
)
FINISHED = ("completed", "early_stopped")
#: The lock file a training process holds (flock) in its run folder.
LOCK_NAME = ".lock"
#: 100,000 epochs (training's --epochs limit) of ~100-byte rows, with room to spare.
METRICS_MAX_BYTES = 32 << 20


def default_runs_dir() -> Path:
    return Path(os.environ.get("MNIST_RUNS_DIR") or "runs")


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class RunFolder:
    """One run's folder and the names of the files in it."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def summary(self) -> Path:
        return self.path / "summary.toml"

    @property
    def curves(self) -> Path:
        return self.path / "curves.png"

    def write_toml(self, path: Path, document: dict[str, Any]) -> None:
        self.write_file(path, tomli_w.dumps(_drop_none(document)).encode())

    def write_file(self, path: Path, data: bytes) -> None:
        """Atomically write one file of this run; a failure is one RunWriteError line."""
        try:
            atomic_write_bytes(path, data)
        except OSError as e:
            raise write_error(e, self) from None

    def read_summary(self) -> dict[str, Any]:
        return _read_toml(self.summary)

    def read_config(self) -> dict[str, Any]:
        return _read_toml(self.config)

    def lacks_checkpoint(self) -> bool:
        """No checkpoint.pt entry at all: the run finished no epoch yet.

        A folder or a broken link there is damage, which loading the checkpoint reports.
        """
        return not os.path.lexists(self.checkpoint)

    def recorded_data_root(self) -> Path | None:
        """The data folder the run was trained from (config.toml), if recorded and present."""
        try:
            data = self.read_config().get("data")
        except RunError:  # no or a damaged config.toml: the caller's default stands
            return None
        root = data.get("root") if isinstance(data, dict) else None
        return Path(root) if isinstance(root, str) and Path(root).is_dir() else None

    @property
    def lock(self) -> Path:
        return self.path / LOCK_NAME

    @contextlib.contextmanager
    def claim(self) -> Iterator[None]:
        """Hold the run's lock for as long as it is trained: a second `train --resume` of
        it is refused at once. flock, so the kernel lets go when the process dies, even
        by SIGKILL: a stale lock file never blocks a later resume."""
        try:
            fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise RunError(f"Cannot lock {self.path}: {describe_os_error(e)}.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise RunError(
                f"Run {self.id} is already being trained by another `mnist train` "
                f"(pid {holder or '?'}): wait for it to end, or stop it first."
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def train_settings(self, used: tuple[str, ...]) -> dict[str, Any]:
        """config.toml's [train] table, the `used` settings checked by training's own rules.

        So a hand-edited `seed = 2**70` or `val_size = -5` is a damaged run folder, said in
        one line, not an overflow deep in torch or a silently wrong split. Only the used
        ones: a run made under older limits (epochs = 1000000) is still evaluated.
        """
        from mnist_tui.config import check_setting
        from mnist_tui.errors import ConfigError

        train = self.read_config().get("train")
        if not isinstance(train, dict):
            raise RunError(f"{self.config} has no [train] table: the run folder is damaged.")
        for key in used:
            if key not in train:
                continue  # the caller's default applies
            try:
                check_setting(key, train[key])
            except ConfigError as e:
                raise RunError(f"{self.config} is damaged: {e}") from None
        return train

    def read_metrics(self) -> list[dict[str, float]]:
        """metrics.csv as a list of rows with numeric values; [] when absent.

        Checked as it is read: the header must be training's, every value a number, and
        the file no larger than a run of the longest allowed training can write.
        """
        try:
            raw = read_regular(self.metrics, METRICS_MAX_BYTES)
        except FileNotFoundError:
            return []
        except OSError as e:
            raise RunError(f"{self.metrics} cannot be read ({describe_os_error(e)}).") from None
        try:
            reader = csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))
            if tuple(reader.fieldnames or ()) != METRICS_COLUMNS:
                raise RunError(
                    f"{self.metrics} is damaged: its header is not {','.join(METRICS_COLUMNS)}."
                )
            rows = []
            for row in reader:
                values = {k: float(v) for k, v in row.items()}
                if not math.isfinite(values["epoch"]) or values["epoch"] < 1:
                    raise ValueError(f"epoch {row['epoch']}")
                rows.append(values)
        except (UnicodeDecodeError, csv.Error, TypeError, ValueError, AttributeError) as e:
            raise RunError(f"{self.metrics} is damaged ({brief(e, 80)}).") from None
        return rows

    def write_metrics(self, rows: list[dict[str, float | int]]) -> None:
        """Rewrite metrics.csv whole, atomically: header once, one row per epoch."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRICS_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row[k]) for k in METRICS_COLUMNS})
        self.write_file(self.metrics, buffer.getvalue().encode())


def resume_command(run: RunFolder) -> str:
    """The command that resumes `run`: its id where the default runs folder finds it."""
    try:
        by_id = run.path.parent.resolve() == default_runs_dir().resolve()
    except OSError:
        by_id = False
    return f"mnist train --resume {run.id if by_id else run.path}"


def write_error(error: OSError, run: RunFolder) -> RunWriteError:
    """What a failed write into a run folder means for the user, and what to do."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        what, fix = f"The disk filled up while saving into {run.path}", "Free some space"
    elif error.errno == errno.EFBIG:
        what = f"A file in {run.path} hit the file size limit (ulimit -f) while saving"
        fix = "Raise the limit"
    else:
        what = f"Could not write into {run.path} ({error.strerror or error})"
        fix = "Fix that"
    if run.last.is_file():
        then = f"then resume with `{resume_command(run)}`"
    else:
        then = f"then start again with `mnist train --config {run.config}`"
    return RunWriteError(f"{what}; the files written before are intact. {fix}, {then}.")


def _csv_value(value: float | int) -> str:
    return str(int(value)) if isinstance(value, int) else f"{value:.6g}"


def _drop_none(document: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: leave out keys whose value is None, recursively."""
    return {
        k: _drop_none(v) if isinstance(v, dict) else v for k, v in document.items() if v is not None
    }


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return read_toml(path)
    except FileNotFoundError:
        raise RunError(f"{path} is missing: the run folder is incomplete.") from None
    except RecursionError:
        raise RunError(f"{path} is damaged (tables or arrays nested too deeply).") from None
    except TOML_ERRORS as e:
        raise RunError(f"{path} is damaged ({e}).") from None


_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def create_run(runs_dir: Path, label: str, now: datetime | None = None) -> RunFolder:
    """A new, empty run folder `<UTC time>-<label>`; a suffix keeps ids unique.

    `mkdir` without exist_ok is the lock: two runs started in the same second race for
    the name and the loser takes the next suffix, so a folder is never reused.
    """
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"Cannot create the runs folder {runs_dir}: {e.strerror or e}.") from None
    if not os.access(runs_dir, os.W_OK):
        raise RunError(f"The runs folder {runs_dir} is not writable: use --runs-dir.")
    stamp = (now or utc_now()).strftime("%Y%m%d-%H%M%S")
    label = _LABEL_UNSAFE.sub("-", label).strip("-") or "run"
    base = f"{stamp}-{label}"
    for attempt in range(1, 1000):
        path = runs_dir / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise RunError(f"Cannot create {path}: {e.strerror or e}.") from None
        return RunFolder(path)
    raise RunError(f"Too many runs named {base} in {runs_dir}.")


def _run_folders(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return sorted(
        (p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def runs_dir_named(runs_dir: Path) -> str:
    """The runs folder as a full path: "runs" alone does not say where it was looked for."""
    try:
        return str(Path(runs_dir).absolute())
    except OSError:  # the working folder itself is gone
        return str(runs_dir)


def no_runs_message(runs_dir: Path) -> str:
    """What to do when a runs folder holds no run: train one, or look elsewhere."""
    return (
        f"No runs in {runs_dir_named(runs_dir)}: train one with `mnist train`, or point to "
        "another runs folder with --runs-dir DIR (or MNIST_RUNS_DIR=DIR)."
    )


def check_run_spec(spec: str | None) -> None:
    """Refuse a run name that can name no run, before anything else is done."""
    if spec is not None and not spec.strip():  # `--run ""` from a script's empty variable
        raise RunError("The run is an empty name: give a run id, a prefix, a folder or `latest`.")


def resolve_run(spec: str | None, runs_dir: Path) -> RunFolder:
    """A run from an id, a unique id prefix, a folder path or `latest` (the default)."""
    runs_dir = Path(runs_dir)
    if spec is None:
        spec = "latest"
    check_run_spec(spec)
    candidate = Path(spec)
    if (candidate / "config.toml").is_file() or (candidate / "checkpoint.pt").is_file():
        return RunFolder(candidate)
    folders = _run_folders(runs_dir)
    if spec == "latest":
        if not folders:
            raise RunError(no_runs_message(runs_dir))
        return RunFolder(folders[-1])
    exact = [p for p in folders if p.name == spec]
    matches = exact or [p for p in folders if p.name.startswith(spec)]
    if len(matches) == 1:
        return RunFolder(matches[0])
    if not matches:
        raise RunError(
            f"No run {spec!r} in {runs_dir_named(runs_dir)}: `mnist runs` lists them "
            "(--runs-dir DIR or MNIST_RUNS_DIR=DIR looks in another runs folder)."
        )
    names = ", ".join(p.name for p in matches[:4])
    raise RunError(f"{spec!r} matches {len(matches)} runs ({names}...): give more of the id.")


def resolve_run_with_weights(
    spec: str | None, runs_dir: Path, hint: str = ""
) -> tuple[RunFolder, str]:
    """A run for a command that needs its weights (predict, inspect, eval, export).

    `latest` (or no run given) is the newest run WITH a checkpoint, so a run stopped in
    its first epoch does not hide the ones before it. Returns the run and a note naming
    it when newer runs have no checkpoint ("" otherwise); `hint` ends the errors (say,
    another way to get a model).
    """
    runs_dir = Path(runs_dir)
    if spec not in (None, "latest"):
        run = resolve_run(spec, runs_dir)
        if run.lacks_checkpoint():
            raise RunError(
                f"Run {run.id} has no checkpoint.pt yet (it finished no epoch): resume it "
                f"with `{resume_command(run)}` or pick another run (`mnist runs` lists them)"
                f"{hint}."
            )
        return run, ""
    folders = _run_folders(runs_dir)
    if not folders:
        raise RunError(no_runs_message(runs_dir))
    with_weights = [p for p in folders if not RunFolder(p).lacks_checkpoint()]
    if not with_weights:
        raise RunError(
            f"The {len(folders)} run(s) in {runs_dir_named(runs_dir)} have no checkpoint.pt "
            "yet (none finished an epoch): resume one with `mnist train --resume RUN` or "
            f"train one with `mnist train`{hint}."
        )
    run = RunFolder(with_weights[-1])
    newer = [p.name for p in folders if p.name > run.id]
    if not newer:
        return run, ""
    others = f" (and {len(newer) - 1} more)" if len(newer) > 1 else ""
    note = (
        f"Using run {run.id}, the newest with a checkpoint: the newer run {newer[-1]}"
        f"{others} finished no epoch."
    )
    return run, note


def effective_status(summary: dict[str, Any]) -> str:
    """The recorded status, except a `running` run whose process is gone: `interrupted`."""
    status = str(summary.get("status", "damaged"))
    if status == "running" and summary.get("host") == socket.gethostname():
        pid = summary.get("pid")
        if isinstance(pid, int) and not process_alive(pid):
            return "interrupted"
    return status


STATUSES = ("running", "completed", "early_stopped", "interrupted", "failed", "pruned")


#: summary.toml's fields `mnist runs` shows: (type, lowest, highest). A value outside
#: makes the record damaged, never a crash (int(nan)) nor invalid JSON (Infinity).
SUMMARY_FIELDS: dict[str, tuple[type, float, float]] = {
    "epochs_run": (int, 0, 100_000),
    "best_epoch": (int, 0, 100_000),
    "best_val_acc": (float, 0.0, 1.0),
    "test_acc": (float, 0.0, 1.0),
    "test_loss": (float, 0.0, math.inf),
    "seconds": (float, 0.0, 1e9),
}


def summary_problems(summary: dict[str, Any], path: Path) -> list[str]:
    """What is wrong with a summary's fields, by the rules above (empty when nothing)."""
    problems = []
    for key, (kind, low, high) in SUMMARY_FIELDS.items():
        value = summary.get(key)
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is int and number and isinstance(value, float) and value.is_integer():
            number = True  # 3.0 from a hand edit is still 3 epochs
        elif kind is int and isinstance(value, float):
            number = False
        if not number or not math.isfinite(value) or not low <= value <= high:
            problems.append(f"{key} = {value!r}")
    for key in ("started", "status", "model"):
        if key in summary and not isinstance(summary[key], str):
            problems.append(f"{key} is not text")
    if problems:
        return [f"{path} holds impossible values ({', '.join(problems[:3])})."]
    return []


def _number(value: Any) -> float | int | None:
    """A checked summary value (see summary_problems) as a number, or None when absent."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """One plain record per run folder, newest first; unreadable folders are `damaged`.

    A damaged or half-written folder (missing or unparsable TOML, values of the wrong
    type, an unknown status) is listed with a `problem`, never a crash.
    """
    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise RunError(f"{runs_dir} is a file, not a runs folder: use --runs-dir.")
    try:
        folders = _run_folders(runs_dir)
    except OSError as e:
        raise RunError(f"Cannot read the runs folder {runs_dir}: {e.strerror or e}.") from None
    records = []
    for path in reversed(folders):
        run = RunFolder(path)
        record: dict[str, Any] = {"id": run.id, "path": str(path), "status": "damaged"}
        try:
            config = run.read_config()
            summary = run.read_summary()
        except RunError as e:
            record["problem"] = str(e)
            records.append(record)
            continue
        train = config.get("train") if isinstance(config.get("train"), dict) else {}
        problems = summary_problems(summary, run.summary)
        if problems:
            record["problem"] = problems[0]
            records.append(record)
            continue
        status = effective_status(summary)
        if status not in STATUSES:
            record["problem"] = (
                f"{run.summary} has an unknown status {status!r}."
                if "status" in summary
                else f"{run.summary} records no status (empty or cut short)."
            )
            status = "damaged"
        epochs_run = _number(summary.get("epochs_run", 0))
        best_epoch = _number(summary.get("best_epoch"))
        # Earlier versions wrote best_val_acc = 0.0 for a run stopped before its first
        # validation: no validated epoch is "-", never 0.00%.
        validated = bool(epochs_run) and best_epoch != 0
        record.update(
            status=status,
            model=_text(train.get("model")),
            optimizer=_text(train.get("optimizer")),
            lr=_number(train.get("lr")),
            scheduler=_text(train.get("scheduler")),
            preset=_text(train.get("preset")),
            dataset=_text(train.get("dataset")),
            epochs_run=int(epochs_run) if epochs_run is not None else None,
            best_epoch=best_epoch if validated else None,
            best_val_acc=_number(summary.get("best_val_acc")) if validated else None,
            test_acc=_number(summary.get("test_acc")),
            seconds=_number(summary.get("seconds")),
            started=_text(summary.get("started")),
            sweep=_text(summary.get("sweep")),
            trial=_number(summary.get("trial")),
        )
        records.append(record)
    return records


#: Statuses of a trial that ran its course: its checkpoint is the best of a whole run.
FINISHED = ("completed", "early_stopped")


def sweep_best_runs(runs_dir: Path, sweep: str, top: int) -> list[RunFolder]:
    """The `top` finished trials of sweep `sweep` with the best validation accuracy.

    Chosen on validation accuracy only (never test: the ensemble is then scored on test).
    Read from the run folders, so `mnist eval` needs neither Optuna nor the study's storage.
    """
    if top < 2:
        raise ConfigError(f"--top {top}: an ensemble needs at least 2 runs.")
    trials = [r for r in list_runs(runs_dir) if r.get("sweep") == sweep]
    if not trials:
        raise RunError(
            f"No runs of sweep {sweep!r} in {runs_dir}: `mnist runs` lists the runs there."
        )
    finished = [r for r in trials if r["status"] in FINISHED and r.get("best_val_acc") is not None]
    if len(finished) < top:
        raise RunError(
            f"Sweep {sweep!r} has {len(finished)} finished run(s) of {len(trials)} "
            f"(completed or early-stopped), fewer than --top {top}."
        )
    finished.sort(key=lambda r: (-r["best_val_acc"], r.get("trial") or 0, r["id"]))
    return [RunFolder(Path(r["path"])) for r in finished[:top]]
