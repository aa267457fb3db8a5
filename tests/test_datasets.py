import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist_tui.data import files as datasets
from mnist_tui.data.files import encode_idx, parse_idx
from mnist_tui.data.specs import DATASETS, SPLIT_FILES
from mnist_tui.errors import DataError


def test_idx_round_trip():
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    assert np.array_equal(parse_idx(encode_idx(array)), array)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    assert parse_idx(encode_idx(labels)).tolist() == [3, 1, 4]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "bad magic"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (b"hello world", "bad magic"),
        (encode_idx(np.zeros((2, 3), np.uint8))[:-1], "should hold"),
    ],
)
def test_idx_rejects_broken_files(data, needle):
    with pytest.raises(DataError, match=needle):
        parse_idx(data)


def _fake_spec(tmp_path: Path):
    """A spec whose published md5s are those of small arrays, to test import logic."""
    arrays = {
        "train-images": np.full((5, 28, 28), 7, np.uint8),
        "train-labels": np.arange(5, dtype=np.uint8),
        "test-images": np.full((2, 28, 28), 9, np.uint8),
        "test-labels": np.arange(2, dtype=np.uint8),
    }
    contents = {k: encode_idx(v) for k, v in arrays.items()}
    base = DATASETS["mnist"]
    spec = datasets.DatasetSpec(
        name="fake",
        folder="Fake",
        filenames=base.filenames,
        md5={k: datasets.md5_of(v) for k, v in contents.items()},
        classes=base.classes,
        mean=base.mean,
        std=base.std,
        torchvision_class="MNIST",
    )
    return spec, contents


def _names(spec):
    return {k: spec.filenames[k] for k in SPLIT_FILES}


def test_import_from_gz_in_subfolder_of_tgz(tmp_path: Path):
    spec, contents = _fake_spec(tmp_path)
    archive = tmp_path / "pkg.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for key, name in _names(spec).items():
            data = gzip.compress(contents[key])
            info = tarfile.TarInfo(f"package/deep/data/{name}.gz")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    root = tmp_path / "root"
    folder = datasets.import_from(archive, root, spec)
    assert datasets.verify_installed(root, spec, official=True)
    assert (folder / "train-labels-idx1-ubyte").read_bytes() == contents["train-labels"]


def test_import_from_zip_and_folder(tmp_path: Path):
    spec, contents = _fake_spec(tmp_path)
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for key, name in _names(spec).items():
            z.writestr(f"mnist/{name}", contents[key])
    datasets.import_from(archive, tmp_path / "a", spec)
    folder = tmp_path / "plain"
    folder.mkdir()
    for key, name in _names(spec).items():
        (folder / name.replace("-idx", ".idx")).write_bytes(contents[key])
    datasets.import_from(folder, tmp_path / "b", spec)
    assert datasets.is_installed(tmp_path / "b", spec)


def test_wrong_file_is_refused_by_name_and_nothing_is_written(tmp_path: Path):
    spec, contents = _fake_spec(tmp_path)
    folder = tmp_path / "src"
    folder.mkdir()
    for key, name in _names(spec).items():
        data = contents[key] if key != "test-images" else contents[key][:-10]
        (folder / name).write_bytes(data)
    root = tmp_path / "root"
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte has the wrong checksum"):
        datasets.import_from(folder, root, spec)
    assert not (root / "Fake").exists()


def test_missing_files_are_named(tmp_path: Path):
    spec, contents = _fake_spec(tmp_path)
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").write_bytes(contents["train-images"])
    with pytest.raises(DataError, match="lacks train-labels-idx1-ubyte"):
        datasets.import_from(folder, tmp_path / "root", spec)


def test_corrupt_installed_file_is_detected(tmp_path: Path):
    spec, contents = _fake_spec(tmp_path)
    root = tmp_path / "root"
    datasets.install_files(root, spec, contents)
    path = datasets.raw_dir(root, spec) / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=r"corrupt or partial.*mnist download"):
        datasets.verify_installed(root, spec)


def test_not_an_archive(tmp_path: Path):
    spec, _ = _fake_spec(tmp_path)
    bogus = tmp_path / "x.tgz"
    bogus.write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="not a readable archive"):
        datasets.import_from(bogus, tmp_path / "root", spec)


@pytest.mark.parametrize("kind", ["tgz", "zip"])
def test_import_from_an_archive_with_the_files_at_its_top_level(tmp_path: Path, kind: str):
    # `tar czf mnist.tgz *ubyte` / `zip mnist.zip *ubyte`: no folder inside the archive.
    spec, contents = _fake_spec(tmp_path)
    archive = tmp_path / f"flat.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            for key, name in _names(spec).items():
                z.writestr(name, contents[key])
    else:
        with tarfile.open(archive, "w:gz") as tar:
            for key, name in _names(spec).items():
                info = tarfile.TarInfo(name)
                info.size = len(contents[key])
                tar.addfile(info, io.BytesIO(contents[key]))
    folder = datasets.import_from(archive, tmp_path / "root", spec)
    assert (folder / "t10k-labels-idx1-ubyte").read_bytes() == contents["test-labels"]


@pytest.mark.parametrize("data", [b"", b"plain text, not gzip"])
def test_an_unreadable_tarball_is_refused_in_one_line(tmp_path: Path, data: bytes):
    spec, _ = _fake_spec(tmp_path)
    bogus = tmp_path / "x.tar.gz"
    bogus.write_bytes(data)
    with pytest.raises(DataError, match="not a readable archive") as info:
        datasets.import_from(bogus, tmp_path / "root", spec)
    assert "\n" not in str(info.value)
