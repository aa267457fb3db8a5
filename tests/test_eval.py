"""`mnist eval`: numbers that agree with training's record, views, PNGs, bad input."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from mnist_tui.evaluate.core import class_scores, classification_report, confusion_matrix

# --- the arithmetic -----------------------------------------------------------------------


def test_confusion_scores_and_pairs_by_hand() -> None:
    labels = np.array([4, 4, 4, 4, 9, 9, 1, 1])
    predicted = np.array([4, 9, 9, 4, 9, 4, 1, 1])
    probabilities = np.eye(10)[predicted] * 0.9 + 0.01
    report = classification_report(
        labels,
        probabilities,
        [str(d) for d in range(10)],
        run_id="r",
        split="test",
        loss=0.5,
        accuracy=5 / 8,
    )
    matrix = np.array(report.confusion)
    assert matrix.sum() == 8 and matrix[4, 9] == 2 and matrix[9, 4] == 1 and matrix[1, 1] == 2
    four = report.per_class[4]
    assert four.precision == pytest.approx(2 / 3)  # predicted 4 three times, right twice
    assert four.recall == pytest.approx(2 / 4)
    assert four.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert four.support == 4
    assert report.per_class[0].precision == 0.0 and report.per_class[0].support == 0
    assert [p.sentence() for p in report.pairs] == ["4 read as 9: 2 times", "9 read as 4: 1 time"]
    assert [m.index for m in report.mistakes] == [1, 2, 5]


def test_perfect_predictions_have_no_pairs() -> None:
    labels = np.arange(10)
    matrix = confusion_matrix(labels, labels, 10)
    assert np.array_equal(matrix, np.eye(10, dtype=int))
    assert all(s.f1 == 1.0 for s in class_scores(matrix, [str(d) for d in range(10)]))


# --- the command --------------------------------------------------------------------------


def eval_json(run: Path, root: Path, capsys, *extra: str) -> dict:
    code, out, err = run_cli(["eval", str(run), "--root", root, "--json", *extra], capsys)
    assert code == 0, err
    return json.loads(out)


def test_eval_agrees_exactly_with_training(trained_run: Path, synthetic_root: Path, capsys) -> None:
    summary = tomllib.loads((trained_run / "summary.toml").read_text())
    test = eval_json(trained_run, synthetic_root, capsys)
    assert test["accuracy"] == summary["test_acc"]
    assert test["loss"] == summary["test_loss"]
    assert test["recorded_accuracy"] == summary["test_acc"]
    assert sum(map(sum, test["confusion"])) == test["samples"]
    assert len(test["per_class"]) == 10
    val = eval_json(trained_run, synthetic_root, capsys, "--split", "val")
    assert val["split"] == "val" and val["accuracy"] == summary["best_val_acc"]
    assert val["samples"] == 500


def test_eval_table_and_pngs(
    tmp_path: Path, trained_run: Path, synthetic_root: Path, capsys
) -> None:
    run = tmp_path / trained_run.name
    shutil.copytree(trained_run, run)  # the shared run stays untouched
    code, out, err = run_cli(["eval", str(run), "--root", synthetic_root, "--png"], capsys)
    assert code == 0, err
    summary = tomllib.loads((run / "summary.toml").read_text())
    assert f"{summary['test_acc']:.2%}" in out
    assert "matches training's record" in out
    assert "confusion" in out and "precision" in out and "recall" in out
    for name in ("confusion-test.png", "mistakes-test.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if summary["test_acc"] < 1.0:
        assert " read as " in out
    # Issue 20, defect 8: the val split's pictures sit beside the test split's.
    test_pictures = {p: (run / p).read_bytes() for p in ("confusion-test.png", "mistakes-test.png")}
    code, out, err = run_cli(
        ["eval", run, "--root", synthetic_root, "--png", "--split", "val"], capsys
    )
    assert code == 0, err
    assert "confusion-val.png" in out and "mistakes-val.png" in out
    assert (run / "confusion-val.png").is_file() and (run / "mistakes-val.png").is_file()
    assert {p: (run / p).read_bytes() for p in test_pictures} == test_pictures


def test_eval_resolves_latest_in_runs_dir(trained_run: Path, synthetic_root: Path, capsys) -> None:
    code, out, err = run_cli(
        ["eval", "--runs-dir", trained_run.parent, "--root", synthetic_root, "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["run_id"] == trained_run.name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "train"], "--split 'train': choose one of test, val"),
        (["no-such-run"], "No run 'no-such-run'"),
        (["--device", "cuda:7"], "--device cuda:7"),
        (["--device", "bogus"], "--device 'bogus' is not valid"),
    ],
)
def test_eval_bad_options(
    args: list[str], message: str, trained_run: Path, synthetic_root: Path, capsys
) -> None:
    code, _out, err = run_cli(
        ["eval", "--runs-dir", trained_run.parent, "--root", synthetic_root, *args], capsys
    )
    assert code != 0
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_eval_corrupt_checkpoint(
    tmp_path: Path, trained_run: Path, synthetic_root: Path, capsys
) -> None:
    run = tmp_path / trained_run.name
    shutil.copytree(trained_run, run)
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    code, _, err = run_cli(["eval", str(run), "--root", synthetic_root], capsys)
    assert code != 0 and "checkpoint.pt" in err and "Traceback" not in err


def test_eval_run_without_checkpoint(
    tmp_path: Path, trained_run: Path, synthetic_root: Path, capsys
) -> None:
    run = tmp_path / trained_run.name
    shutil.copytree(trained_run, run)
    (run / "checkpoint.pt").unlink()
    code, _, err = run_cli(["eval", str(run), "--root", synthetic_root], capsys)
    assert code != 0 and "no checkpoint.pt" in err


def test_eval_without_dataset(tmp_path: Path, trained_run: Path, capsys) -> None:
    code, _, err = run_cli(["eval", str(trained_run), "--root", tmp_path / "empty"], capsys)
    assert code != 0 and err.startswith("mnist: error:") and "Traceback" not in err


@pytest.mark.slow
def test_progress_bar_only_on_a_terminal(trained_run: Path, synthetic_root: Path) -> None:
    """stderr a terminal: a Rich progress bar is drawn there; a pipe gets none."""
    import os
    import pty
    import subprocess
    import threading

    from conftest import MNIST_CMD, cli_env

    args = [*MNIST_CMD, "eval", str(trained_run), "--root", str(synthetic_root), "--json"]
    master, slave = pty.openpty()
    drawn = bytearray()

    def drain() -> None:  # keep the terminal's buffer empty, or the child blocks on it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            args, stdout=subprocess.PIPE, stderr=slave, env=cli_env(TERM="xterm"), timeout=300
        )
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    assert done.returncode == 0
    assert b"evaluating test split" in drawn
    assert json.loads(done.stdout)["split"] == "test"  # stdout stays clean JSON

    piped = subprocess.run(args, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert piped.returncode == 0 and piped.stderr == ""


@pytest.mark.slow
def test_eval_and_export_use_the_runs_own_data_folder_without_root(
    trained_run: Path, synthetic_root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    # From a folder with no data/ in it, and no --root or MNIST_DATA_DIR: the data folder
    # recorded in the run's config.toml is used, as `train --resume` does.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    summary = tomllib.loads((trained_run / "summary.toml").read_text())
    code, out, err = run_cli(["eval", str(trained_run), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["accuracy"] == summary["test_acc"]
    code, out, err = run_cli(
        [
            "export",
            str(trained_run),
            "--format",
            "torchscript",
            "--out",
            "ts",
            "--check-images",
            "64",
        ],
        capsys,
    )
    assert code == 0, err
    assert (tmp_path / "ts" / "model.pt").is_file()
    # An explicit --root still wins, even when it holds nothing.
    code, _, err = run_cli(["eval", str(trained_run), "--root", tmp_path / "empty"], capsys)
    assert code != 0 and "is missing" in err and "Traceback" not in err
