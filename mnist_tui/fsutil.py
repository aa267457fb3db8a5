"""Atomic file writes (a crash or kill never leaves a truncated file) and TOML reading.

Every file is written to a temporary name in the same folder, flushed to disk, then
moved over the target with `os.replace`, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
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


# --- working folders a killed process may leave behind ---------------------------------


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 checks, sends nothing)."""
    if not 0 < pid < 2**31:  # 0 and negatives name process groups; 2**70 overflows
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_owned_dir(parent: Path, prefix: str) -> Path:
    """A new folder `<prefix><pid>-<random>` in `parent`: the pid says whose it is, so a
    later process can tell the folder of a killed one (remove_stale_dirs) from a live one's."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))


def remove_stale_dirs(parent: Path, prefix: str) -> list[Path]:
    """Delete the make_owned_dir folders in `parent` whose process is gone (killed)."""
    removed = []
    with contextlib.suppress(OSError):
        for folder in Path(parent).glob(f"{prefix}*"):
            owner = folder.name[len(prefix) :].split("-", 1)[0]
            if owner.isdigit() and not process_alive(int(owner)) and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


# --- reading ---------------------------------------------------------------------------

#: The most a config file or run record (config.toml, summary.toml) may hold: real ones
#: are a few kilobytes, and a bigger one is not worth holding in memory to parse.
TOML_MAX_BYTES = 1 << 20


class NotRegularFileError(OSError):
    """A path names a FIFO, socket or device: reading it could block forever or never end."""


class FileTooLargeError(OSError):
    """A file is larger than anything the tool reads from it can be."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: Path | str) -> IO[bytes]:
    """Open a regular file for reading; a FIFO, socket or device is refused, not waited on.

    O_NONBLOCK makes opening a FIFO return at once (a blocking open waits for a writer);
    the descriptor's own fstat then decides, so there is no race with a swapped path.
    A folder raises IsADirectoryError, as `open` does.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, f"is {_kind(mode)}", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: Path | str) -> None:
    """Raise what `open_regular` raises for a path that is not a readable regular file.

    For readers that take a path, not a file object (torch.jit.load, onnxruntime).
    """
    open_regular(path).close()


def read_bounded(f: IO[bytes], limit: int, what: str) -> bytes:
    """At most `limit` bytes of `f`; FileTooLargeError when it holds more."""
    data = f.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(errno.EFBIG, f"is larger than {limit:,} bytes", what)
    return data


def read_regular(path: Path | str, limit: int | None = None) -> bytes:
    """The bytes of a regular file (refusing FIFOs and devices), at most `limit` of them."""
    with open_regular(path) as f:
        return f.read() if limit is None else read_bounded(f, limit, str(path))


def describe_os_error(error: OSError) -> str:
    """An OSError as words for one line: 'file name too long' says which limit it is."""
    if error.errno == errno.ENAMETOOLONG:
        return "a name in the path is longer than the filesystem allows (255 bytes)"
    return error.strerror or str(error)


#: What reading a TOML file can raise besides FileNotFoundError: callers turn these into
#: one line. RecursionError: tomllib recurses per nesting level of arrays and tables.
TOML_ERRORS = (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a UTF-8 TOML file, tolerating the byte-order mark Windows editors write.

    The one TOML reader of the package: config files and run records alike. FIFOs and
    files over TOML_MAX_BYTES are refused (OSError) before anything is parsed.
    """
    raw = read_regular(path, TOML_MAX_BYTES)
    try:
        return tomllib.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise
    except ValueError:
        # tomllib lets int()'s own refusal out: an integer of over 4,300 digits.
        raise tomllib.TOMLDecodeError("an integer with thousands of digits") from None
