"""`mnist runs rm`: which run folders to delete, and deleting them. Standard library only.

Runs are named (id, prefix, path, `latest`) or picked by a pruning rule: by status
(`interrupted,failed`) and/or all but the newest N. A run still training is never
deleted: named, it is refused; picked by a rule, it is left out and said so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mnist_tui.errors import RunError
from mnist_tui.runs.folders import STATUSES, RunFolder, effective_status, list_runs, resolve_run

#: What --status accepts: every recorded status, and `damaged` for unreadable folders.
PRUNABLE = (*STATUSES, "damaged")


@dataclass(frozen=True)
class Doomed:
    """A run folder to delete, with what `mnist runs rm` says about it."""

    run: RunFolder
    status: str
    bytes: int


@dataclass
class Selection:
    """The runs a `mnist runs rm` would delete, and the running ones it leaves alone."""

    doomed: list[Doomed] = field(default_factory=list)
    running: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.doomed)


def folder_bytes(path: Path) -> int:
    """What deleting `path` frees: the sizes of the files in it (links not followed)."""
    if path.is_symlink():
        return 0  # deleting the link frees nothing of what it points to
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # vanished meanwhile: frees nothing
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def run_status(run: RunFolder) -> str:
    try:
        return effective_status(run.read_summary())
    except RunError:
        return "damaged"


def parse_statuses(text: str) -> set[str]:
    """`interrupted,failed` -> {"interrupted", "failed"}; an unknown name is refused."""
    wanted = {s.strip() for s in text.split(",") if s.strip()}
    unknown = sorted(wanted - set(PRUNABLE))
    if not wanted or unknown:
        raise RunError(f"--status {text!r}: choose among {', '.join(PRUNABLE)} (comma-separated).")
    return wanted


def select_runs(
    runs_dir: Path, names: list[str], statuses: str | None, keep: int | None
) -> Selection:
    """The runs named, or those the pruning rule picks (not both)."""
    rule = statuses is not None or keep is not None
    if names and rule:
        raise RunError("Name runs to delete, or prune with --status/--keep: not both at once.")
    if not names and not rule:
        raise RunError(
            "Name the runs to delete (`mnist runs` lists them), or prune with "
            "--status interrupted,failed and/or --keep N."
        )
    if keep is not None and keep < 0:
        raise RunError(f"--keep {keep}: the number of newest runs to keep is 0 or more.")
    selection = Selection()
    if names:
        seen: set[Path] = set()
        for name in names:
            run = resolve_run(name, runs_dir)
            if run.path.resolve() in seen:
                continue
            seen.add(run.path.resolve())
            status = run_status(run)
            if status == "running":
                raise RunError(
                    f"{run.id} is still training: stop it first (Ctrl-C in its terminal); "
                    "nothing was deleted."
                )
            selection.doomed.append(Doomed(run, status, folder_bytes(run.path)))
        return selection
    wanted = parse_statuses(statuses) if statuses is not None else None
    records = list_runs(runs_dir)  # newest first
    if wanted is not None:
        records = [r for r in records if r["status"] in wanted]
    if keep is not None:
        records = records[keep:]
    for record in records:
        run = RunFolder(Path(record["path"]))
        if record["status"] == "running":
            selection.running.append(run.id)
            continue
        selection.doomed.append(Doomed(run, record["status"], folder_bytes(run.path)))
    return selection


def delete_runs(selection: Selection) -> tuple[int, list[str]]:
    """Delete the selected folders; (bytes freed, one line per run that could not go).

    Each run's status is read again first: one that started training meanwhile stays.
    """
    freed, problems = 0, []
    for doomed in selection.doomed:
        if run_status(doomed.run) == "running":
            problems.append(f"{doomed.run.id} started training meanwhile: kept.")
            continue
        try:
            if doomed.run.path.is_symlink():
                doomed.run.path.unlink()  # the link, never what it points to
            else:
                shutil.rmtree(doomed.run.path)
        except OSError as e:
            problems.append(f"{doomed.run.id}: could not delete ({e.strerror or e}).")
            continue
        freed += doomed.bytes
    return freed, problems


def human_bytes(size: float) -> str:
    """1234567 -> '1.2 MB'."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
