"""The tool's own error type: every expected failure becomes one of these.

The CLI turns a `MnistError` into a single line on stderr and a non-zero exit code;
anything else is a bug. Standard library only, so every module may import it.
"""

from __future__ import annotations


class MnistError(Exception):
    """A failure the user can act on: the message says what is wrong and what to do."""

    exit_code: int = 2


class ConfigError(MnistError):
    """An option, config file or config value is invalid."""


class DataError(MnistError):
    """The dataset is missing, corrupt or cannot be fetched."""


class RunError(MnistError):
    """A run folder does not exist, is ambiguous or is damaged."""


class RunWriteError(RunError):
    """A file of a run folder could not be written (disk full, size limit, permissions)."""


class TrainingDiverged(MnistError):
    """The training loss stopped being a number (NaN or infinite): the run cannot go on."""


class CheckpointError(MnistError):
    """A checkpoint cannot be loaded safely."""


class ImageError(MnistError):
    """An input image cannot be read or holds no digit."""


class ExportError(MnistError):
    """An export cannot be written, or did not survive being loaded back."""
