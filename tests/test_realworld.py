"""Digits nobody here drew: MNIST-style test digits turned into "real-world" files.

For each case of realworld.py (JPEG on paper, RGBA, low contrast) the files are written,
predicted through `mnist predict`'s own path, and the accuracy is compared with the
model's accuracy on the very same digits as the dataset gives them (a paired
comparison, so a few hundred digits suffice). The real-MNIST variant needs the dataset
and trains a small model for a few seconds; the synthetic variant always runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REAL_DATA, requires_real_mnist, run_cli
from realworld import CASES, write_case

from mnist_tui.data.files import parse_idx, raw_dir
from mnist_tui.data.specs import DATASETS
from mnist_tui.imaging.prepare import PreparedDigit
from mnist_tui.predict.core import classifier_from_run, predict, prepare_all
from mnist_tui.runs.folders import RunFolder

#: Allowed drop (in accuracy) from the dataset's own images to the real-world files.
TOLERANCE = 0.02


def first_test_digits(root: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    folder = raw_dir(root, DATASETS["mnist"])
    images = parse_idx((folder / "t10k-images-idx3-ubyte").read_bytes())[:count]
    labels = parse_idx((folder / "t10k-labels-idx1-ubyte").read_bytes())[:count]
    return images, labels


def accuracy_on_dataset_images(run: Path, images: np.ndarray, labels: np.ndarray) -> float:
    classifier = classifier_from_run(RunFolder(run))
    as_given = [
        (Path(f"#{i}"), PreparedDigit(x / np.float32(255), False)) for i, x in enumerate(images)
    ]
    results = predict(classifier, as_given, 1)
    return float(np.mean([int(r.label) == y for r, y in zip(results, labels, strict=True)]))


def accuracy_on_case(run: Path, case: str, images, labels, folder: Path) -> float:
    written = write_case(case, images, labels, folder / case)
    truth = {str(path): label for path, label in written}
    prepared, failures = prepare_all([path for path, _ in written], invert=None)
    assert failures == [], failures[:3]
    results = predict(classifier_from_run(RunFolder(run)), prepared, 1)
    return sum(int(r.label) == truth[r.path] for r in results) / len(written)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real-MNIST model trained for seconds on an 8,000-image subset (about 96%).

    The test digits used below are the real test set's; the subset's own test split is
    small only to keep training's final evaluation cheap.
    """
    from mnist_tui.config import TrainConfig
    from mnist_tui.data.files import encode_idx, install_files
    from mnist_tui.train.run import train

    folder = raw_dir(REAL_DATA, DATASETS["mnist"])
    names = DATASETS["mnist"].filenames
    contents = {}
    for key, count in (("train", 8000), ("test", 500)):
        for kind in ("images", "labels"):
            array = parse_idx((folder / names[f"{key}-{kind}"]).read_bytes())[:count]
            contents[f"{key}-{kind}"] = encode_idx(array)
    root = tmp_path_factory.mktemp("real-subset")
    install_files(root, DATASETS["mnist"], contents)
    config = TrainConfig(epochs=2, val_size=500, batch_size=64, lr=0.05, device="cpu")
    runs = tmp_path_factory.mktemp("real-runs")
    return train(config, data_root=root, runs_dir=runs, reporters=[]).run.path


@requires_real_mnist
@pytest.mark.parametrize("case", list(CASES))
def test_real_mnist_digits_as_real_world_files(case: str, real_run: Path, tmp_path: Path) -> None:
    images, labels = first_test_digits(REAL_DATA, 200)
    baseline = accuracy_on_dataset_images(real_run, images, labels)
    assert baseline > 0.85  # the model learned something, else the comparison is empty
    accuracy = accuracy_on_case(real_run, case, images, labels, tmp_path)
    assert accuracy >= baseline - TOLERANCE, f"{case}: {accuracy:.2%} vs {baseline:.2%}"


@pytest.mark.parametrize("case", list(CASES))
def test_synthetic_digits_as_real_world_files(
    case: str, trained_run: Path, synthetic_root: Path, tmp_path: Path
) -> None:
    """Without MNIST: the same cases on the synthetic set, against its clean PNGs.

    The synthetic digits are not box-fitted like MNIST's, so the baseline here is the
    same digits saved as plain light-on-dark PNGs and run through the same pipeline:
    what is measured is what JPEG, paper, transparency and noise cost.
    """
    images, labels = first_test_digits(synthetic_root, 150)
    clean = tmp_path / "clean"
    clean.mkdir()
    for i, image in enumerate(images):
        from PIL import Image

        Image.fromarray(image).save(clean / f"{i:05d}.png")
    prepared, _ = prepare_all(sorted(clean.iterdir()), invert=None)
    results = predict(classifier_from_run(RunFolder(trained_run)), prepared, 1)
    baseline = float(np.mean([int(r.label) == y for r, y in zip(results, labels, strict=True)]))
    accuracy = accuracy_on_case(trained_run, case, images, labels, tmp_path)
    assert accuracy >= baseline - 0.03, f"{case}: {accuracy:.2%} vs {baseline:.2%}"


def test_real_world_files_through_the_command(
    trained_run: Path, synthetic_root: Path, tmp_path: Path, capsys
) -> None:
    images, labels = first_test_digits(synthetic_root, 12)
    written = write_case("jpeg", images, labels, tmp_path / "jpeg")
    code, out, err = run_cli(["predict", tmp_path / "jpeg", "--run", trained_run, "--json"], capsys)
    assert code == 0, err
    results = json.loads(out)
    assert len(results) == len(written)
    right = sum(r["digit"] == int(r["path"].rsplit("label", 1)[1].split(".")[0]) for r in results)
    assert right >= 10
