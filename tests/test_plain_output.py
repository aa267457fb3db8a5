"""`--plain` output has no box drawing anywhere (issue 20, defect 7)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

#: Box drawing (U+2500-257F) and block elements (U+2580-259F): none in plain output.
LINE_DRAWING = re.compile("[\u2500-\u259f]")


@pytest.fixture
def digit_png(tmp_path: Path) -> Path:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 12:16] = 255  # a one
    path = tmp_path / "one.png"
    Image.fromarray(image).save(path)
    return path


def no_line_drawing(args: list, capsys) -> str:
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert out.strip()
    assert not LINE_DRAWING.search(out), out
    return out


def test_eval_and_ensemble_plain(trained_run, synthetic_root, tmp_path, capsys):
    common = ["--root", synthetic_root, "--plain"]
    out = no_line_drawing(["eval", trained_run, *common], capsys)
    assert "precision" in out and "confusion" in out
    twin = tmp_path / "twin"
    shutil.copytree(trained_run, twin)
    out = no_line_drawing(["eval", "--ensemble", trained_run, twin, *common], capsys)
    assert "ensemble" in out


def test_runs_predict_inspect_plain(trained_run, digit_png, capsys):
    runs_dir = trained_run.parent
    out = no_line_drawing(["runs", "--runs-dir", runs_dir, "--plain"], capsys)
    assert trained_run.name in out
    out = no_line_drawing(["show", trained_run, "--plain"], capsys)
    assert "val accuracy (%) by epoch" in out and "checkpoint.pt" in out
    out = no_line_drawing(["predict", digit_png, "--run", trained_run, "--plain"], capsys)
    assert "#" in out  # the probability bar, in ASCII
    out = no_line_drawing(["inspect", "--run", trained_run, "--plain"], capsys)
    assert "conv1" in out and "parameters" in out
    no_line_drawing(["inspect", "conv1", "--run", trained_run, "--plain"], capsys)
    no_line_drawing(
        ["inspect", "conv1", "--run", trained_run, "--image", digit_png, "--plain"], capsys
    )
