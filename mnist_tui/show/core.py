"""What `mnist show` tells about a run, read from its folder: settings, every epoch, the
test result and the files. Standard library only (no torch): it reads the TOML and CSV
records the run wrote, never a checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mnist_tui.errors import RunError
from mnist_tui.runs.folders import RunFolder, effective_status

#: The settings shown first, in this order; the rest of [train] follows in the JSON.
MAIN_SETTINGS = (
    "model",
    "dataset",
    "optimizer",
    "lr",
    "momentum",
    "beta2",
    "weight_decay",
    "scheduler",
    "preset",
    "epochs",
    "batch_size",
    "patience",
    "augment",
    "label_smoothing",
    "ema",
    "seed",
)
AUGMENT_SETTINGS = (
    "augment_rotate",
    "augment_scale",
    "augment_shift",
    "augment_elastic",
    "augment_elastic_sigma",
)


@dataclass(frozen=True)
class RunStory:
    """A run as plain data, for the terminal view and for --json."""

    id: str
    path: str
    status: str
    settings: dict[str, Any]  # config.toml's [train] table, as resolved at the start
    environment: dict[str, Any]  # torch, device, precision, ... ([environment])
    data: dict[str, Any]  # dataset sizes and split seed ([data], without checksums)
    epochs: list[dict[str, float]]  # metrics.csv, one dict per epoch
    summary: dict[str, Any]  # summary.toml: best epoch, best val acc, test result, times
    files: list[dict[str, Any]] = field(default_factory=list)  # name, bytes
    problems: list[str] = field(default_factory=list)  # unreadable records, said once each

    @property
    def best_epoch(self) -> int | None:
        best = self.summary.get("best_epoch")
        return best if isinstance(best, int) and not isinstance(best, bool) else None

    def main_settings(self) -> list[tuple[str, Any]]:
        """(name, value) of the settings a reader looks for, augmentation's only if used."""
        names = list(MAIN_SETTINGS)
        if self.settings.get("augment") is True:
            names += AUGMENT_SETTINGS
        return [(name, self.settings[name]) for name in names if name in self.settings]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _files(path: Path) -> list[dict[str, Any]]:
    """Each entry of the run folder with its size (a folder's: everything in it)."""
    entries = []
    for entry in sorted(path.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):  # temporaries of an atomic write in progress
            continue
        size = (
            sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            if entry.is_dir()
            else entry.stat().st_size
        )
        entries.append({"name": entry.name + ("/" if entry.is_dir() else ""), "bytes": size})
    return entries


def read_story(run: RunFolder) -> RunStory:
    """Everything the folder records; a damaged record is named in `problems`, not fatal."""
    problems: list[str] = []
    try:
        config = run.read_config()
    except RunError as e:
        config, problems = {}, [*problems, str(e)]
    try:
        summary = run.read_summary()
    except RunError as e:
        summary, problems = {}, [*problems, str(e)]
    try:
        epochs = run.read_metrics()
    except RunError as e:
        epochs, problems = [], [*problems, str(e)]

    def table(name: str) -> dict[str, Any]:
        value = config.get(name)
        return dict(value) if isinstance(value, dict) else {}

    data = table("data")
    data.pop("md5", None)  # checksums: in config.toml for whoever needs them
    return RunStory(
        id=run.id,
        path=str(run.path),
        status=effective_status(summary) if summary else "damaged",
        settings=table("train"),
        environment=table("environment"),
        data=data,
        epochs=epochs,
        summary={k: v for k, v in summary.items() if k not in ("pid", "host")},
        files=_files(run.path),
        problems=problems,
    )
