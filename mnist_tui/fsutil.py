"""Atomic file writes (a crash or kill never leaves a truncated file) and TOML reading.

Every file is written to a temporary name in the same folder, flushed to disk, then
moved over the target with `os.replace`, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; it replaces `path` on success."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: Path, write: Callable[[IO], None]) -> None:
    """Atomically write whatever `write(file)` writes (e.g. `torch.save`)."""
    with atomic_open(path, "wb") as f:
        write(f)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporary files a killed writer left in `folder` (never a finished file)."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


#: What reading a TOML file can raise besides FileNotFoundError: callers turn these into
#: one line. RecursionError: tomllib recurses per nesting level of arrays and tables.
TOML_ERRORS = (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a UTF-8 TOML file, tolerating the byte-order mark Windows editors write.

    The one TOML reader of the package: config files and run records alike.
    """
    with open(path, "rb") as f:
        raw = f.read()
    return tomllib.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
