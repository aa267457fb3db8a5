"""`mnist predict`: files, folders, globs, views, JSON, partial failures, bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MNIST_CMD, cli_env, run_cli
from PIL import Image

from mnist_tui.data.files import parse_idx, raw_dir
from mnist_tui.data.specs import DATASETS
from mnist_tui.imaging.prepare import prepare_digit
from mnist_tui.predict.core import Classifier, predict, prepare_all


def test_digits(root: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    folder = raw_dir(root, DATASETS["mnist"])
    images = parse_idx((folder / "t10k-images-idx3-ubyte").read_bytes())[:count]
    labels = parse_idx((folder / "t10k-labels-idx1-ubyte").read_bytes())[:count]
    return images, labels


test_digits.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def paper_digits(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> list[Path]:
    """Six synthetic test digits as dark ink on white paper PNGs, 112 px."""
    folder = tmp_path_factory.mktemp("paper")
    images, labels = test_digits(synthetic_root, 6)
    paths = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        path = folder / f"digit{i}-label{label}.png"
        Image.fromarray(255 - image).resize((112, 112), Image.Resampling.BICUBIC).save(path)
        paths.append(path)
    return paths


def predict_json(args: list, capsys) -> tuple[int, list[dict], str]:
    code, out, err = run_cli(["predict", *args, "--json"], capsys)
    return code, (json.loads(out) if out.strip() else []), err


def test_single_image_view(trained_run: Path, paper_digits: list[Path], capsys) -> None:
    code, out, err = run_cli(["predict", paper_digits[0], "--run", trained_run], capsys)
    assert code == 0, err
    assert str(paper_digits[0]) in out and "->" in out
    assert "inverted" in out  # dark ink on paper was judged and inverted
    assert out.count("%") >= 4  # the headline probability plus 3 top-k bars


def test_json_fields_and_top_k(trained_run: Path, paper_digits: list[Path], capsys) -> None:
    code, results, err = predict_json(
        [*paper_digits[:2], "--run", trained_run, "--top-k", 5], capsys
    )
    assert code == 0, err
    assert [r["path"] for r in results] == [str(p) for p in paper_digits[:2]]
    for r in results:
        assert set(r) >= {"path", "digit", "probability", "top_k"}
        assert len(r["top_k"]) == 5
        probs = [k["probability"] for k in r["top_k"]]
        assert probs == sorted(probs, reverse=True)
        assert r["top_k"][0] == {"digit": r["digit"], "probability": r["probability"]}
        assert isinstance(r["digit"], int)


def test_predictions_are_mostly_right(trained_run: Path, paper_digits: list[Path], capsys) -> None:
    code, results, err = predict_json([*paper_digits, "--run", trained_run], capsys)
    assert code == 0, err
    right = sum(r["digit"] == int(Path(r["path"]).stem.split("label")[1]) for r in results)
    assert right >= 5


def test_folder_and_glob(trained_run: Path, paper_digits: list[Path], capsys) -> None:
    folder = paper_digits[0].parent
    code, results, _ = predict_json([folder, "--run", trained_run], capsys)
    assert code == 0 and len(results) == len(paper_digits)
    code, results, _ = predict_json([str(folder / "digit[01]-*.png"), "--run", trained_run], capsys)
    assert code == 0 and [Path(r["path"]).name[:6] for r in results] == ["digit0", "digit1"]


def test_many_images_make_a_table(trained_run: Path, paper_digits: list[Path], capsys) -> None:
    code, out, _ = run_cli(["predict", paper_digits[0].parent, "--run", trained_run], capsys)
    assert code == 0
    assert "top-k" in out and out.count(".png") == len(paper_digits)


def test_one_bad_image_does_not_stop_the_others(
    tmp_path: Path, trained_run: Path, paper_digits: list[Path], capsys
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    code, results, err = predict_json(
        [
            paper_digits[0],
            broken,
            blank,
            tmp_path / "missing.jpg",
            paper_digits[1],
            "--run",
            trained_run,
        ],
        capsys,
    )
    assert code == 1
    assert [r["path"] for r in results] == [str(paper_digits[0]), str(paper_digits[1])]
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("mnist: error: ") for line in lines)
    assert any("broken.png" in line for line in lines)
    assert any("blank.png: no digit found" in line for line in lines)
    assert any("missing.jpg: no such file" in line for line in lines)


def test_invert_override(trained_run: Path, paper_digits: list[Path], capsys) -> None:
    # Forced to read white paper as ink, nothing stands out: a clear error, exit 1.
    code, results, err = predict_json(
        [paper_digits[0], "--no-invert", "--run", trained_run], capsys
    )
    assert code == 1 and results == [] and "no digit found" in err
    code, results, _ = predict_json([paper_digits[0], "--invert", "--run", trained_run], capsys)
    assert code == 0 and results[0]["inverted"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top-k", "0"], "--top-k 0: give a number of 1 or more"),
        (["--top-k", "11"], "--top-k 11"),
        (["--run", "nope"], "No run 'nope'"),
    ],
)
def test_bad_options(
    args: list, message: str, trained_run: Path, paper_digits: list[Path], capsys
) -> None:
    code, out, err = run_cli(
        ["predict", paper_digits[0], "--runs-dir", trained_run.parent, *args], capsys
    )
    assert code == 2 and message in err and out == ""
    assert err.count("\n") == 1


def test_empty_folder_and_unmatched_glob(tmp_path: Path, trained_run: Path, capsys) -> None:
    code, _, err = run_cli(
        ["predict", tmp_path, str(tmp_path / "*.png"), "--run", trained_run], capsys
    )
    assert code == 1
    assert "no image files in this folder" in err and "no files match this pattern" in err


def test_any_callable_is_a_classifier(paper_digits: list[Path]) -> None:
    """Exported models plug in as plain callables: here, one that always says 3."""

    def always_three(inputs: torch.Tensor) -> torch.Tensor:
        assert inputs.shape[1:] == (1, 28, 28) and inputs.dtype == torch.float32
        logits = torch.zeros(inputs.shape[0], 10)
        logits[:, 3] = 5.0
        return logits

    classifier = Classifier(always_three, [str(d) for d in range(10)], 0.1307, 0.3081, "test")
    prepared, failures = prepare_all(paper_digits[:3], invert=None)
    results = predict(classifier, prepared, top_k=2)
    assert failures == [] and [r.label for r in results] == ["3", "3", "3"]
    assert results[0].probability == pytest.approx(np.exp(5) / (np.exp(5) + 9))
    assert np.array_equal(np.array(results[0].pixels), prepare_digit(paper_digits[0]).pixels)


def test_predict_subprocess_plain_output(trained_run: Path, paper_digits: list[Path]) -> None:
    """The real entry point in a pipe: no colour codes, the ramp preview, exit 0."""
    done = subprocess.run(
        [*MNIST_CMD, "predict", str(paper_digits[0]), "--run", str(trained_run)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout
    assert "@" in done.stdout  # the densest ramp character: the digit preview is there


# --- several digits, doubt, steps (issue 19) ---------------------------------------------


def _number_image(synthetic_root: Path, path: Path, gap: int = 30) -> tuple[Path, str]:
    """Three synthetic test digits side by side, dark ink on white, with gaps."""
    images, labels = test_digits(synthetic_root, 3)
    tiles = [255 - np.asarray(Image.fromarray(i).resize((84, 84)), dtype=np.uint8) for i in images]
    page = np.full((160, 3 * 84 + 2 * gap + 80), 255, np.uint8)
    left = 40
    for tile in tiles:
        page[38:122, left : left + 84] = np.minimum(page[38:122, left : left + 84], tile)
        left += 84 + gap
    Image.fromarray(page).save(path)
    return path, "".join(str(int(y)) for y in labels)


def test_several_digits_are_read_left_to_right(
    trained_run: Path, synthetic_root: Path, tmp_path: Path, capsys
) -> None:
    path, truth = _number_image(synthetic_root, tmp_path / "number.png")
    code, results, err = predict_json([path, "--run", trained_run, "--top-k", "2"], capsys)
    assert code == 0, err
    (record,) = results
    assert record["number"] == "".join(str(d["digit"]) for d in record["digits"])
    assert len(record["digits"]) == 3 and "digit" not in record
    lefts = [d["box"][0] for d in record["digits"]]
    assert lefts == sorted(lefts) and lefts[0] >= 30
    assert sum(a == b for a, b in zip(record["number"], truth, strict=True)) >= 2
    assert all(len(d["top_k"]) == 2 and isinstance(d["unsure"], bool) for d in record["digits"])
    code, out, _ = run_cli(["predict", path, "--run", trained_run], capsys)
    assert code == 0 and record["number"] in out and "#3:" in out


def test_single_reads_the_whole_image_as_one_digit(
    trained_run: Path, synthetic_root: Path, tmp_path: Path, capsys
) -> None:
    path, _ = _number_image(synthetic_root, tmp_path / "number.png")
    code, results, err = predict_json([path, "--single", "--run", trained_run], capsys)
    assert code == 0, err
    assert "number" not in results[0] and isinstance(results[0]["digit"], int)


def test_unsure_answers_are_marked_with_a_hint(paper_digits: list[Path]) -> None:
    """A model torn between two classes is unsure; a confident one is not."""
    from mnist_tui.predict.core import predict_readings, read_all

    def torn(inputs: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(inputs.shape[0], 10)
        logits[:, 3] = 5.0
        logits[:, 8] = 4.9
        return logits

    def sure(inputs: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(inputs.shape[0], 10)
        logits[:, 3] = 12.0
        return logits

    readings, _ = read_all(paper_digits[:1], invert=None)
    classes = [str(d) for d in range(10)]
    (doubtful,) = predict_readings(Classifier(torn, classes, 0.13, 0.31, "t"), readings, 3)
    (confident,) = predict_readings(Classifier(sure, classes, 0.13, 0.31, "t"), readings, 3)
    assert doubtful.unsure and doubtful.to_json()["unsure"] is True
    assert "thicker pen" in doubtful.to_json()["hint"]
    assert not confident.unsure and "hint" not in confident.to_json()
    from rich.console import Console

    from mnist_tui.predict.view import prediction_view

    console = Console(record=True, width=100, color_system=None)
    console.print(prediction_view(doubtful))
    assert "unsure" in console.export_text()


def test_steps_show_each_stage(trained_run: Path, paper_digits: list[Path], capsys) -> None:
    code, out, err = run_cli(["predict", paper_digits[0], "--steps", "--run", trained_run], capsys)
    assert code == 0, err
    for stage in ("grey", "paper removed", "ink found", "stroke matched", "28x28 input"):
        assert stage in out
