"""The tool's own error type: every expected failure becomes one of these.

The CLI turns a `MnistError` into a single line on stderr and a non-zero exit code;
anything else is a bug. Standard library only, so every module may import it.
"""

from __future__ import annotations

import re


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


def brief(error: BaseException, limit: int = 120) -> str:
    """A library's error message cut to fit inside one of ours: one line, one sentence.

    Library messages run on over lines and sentences ("... This is an internal miniz
    error. If you are seeing this..."); a first line that only introduces a list (torch's
    "Error(s) in loading state_dict for X:") gives way to the list's first item.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    # A list item's bullet ("- method gz: ...", tarfile's) is not part of the message.
    line = lines[1].lstrip("-* ") if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    # A sentence ends at ". " before a capital: not inside "e.g. 3" or "/tmp/a. b.png".
    line = re.split(r"\.\s+(?=[A-Z])", line, maxsplit=1)[0].rstrip(".:; ")
    if len(line) > limit:
        line = line[:limit].rsplit(" ", 1)[0].rstrip(".,:;") + "..."
    return line or type(error).__name__


#: Longest text from a file (a class label, a run id) shown as it is; longer is cut.
TEXT_LIMIT = 200


def printable(text: object, limit: int = TEXT_LIMIT) -> str:
    """Text read from a file, made safe to print: control characters shown as escapes.

    A class label or folder name holding ESC sequences could otherwise clear the screen
    or retitle the terminal; `\\x1b` is printed as those four characters instead.
    Rich markup is not escaped here: the result consoles (cli.app.output_console) never
    read markup in strings, so `[red]` stays literal wherever this text goes.
    """
    text = str(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
