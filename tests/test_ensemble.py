"""issue 9: `mnist eval --ensemble` and the arithmetic behind it."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from mnist_tui.evaluate.ensemble import ensemble_report, score
from mnist_tui.ui.tables import shared_mistakes


def test_ensemble_arithmetic_on_hand_made_probabilities():
    labels = np.array([0, 1, 2, 0])
    a = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.0, 0.1, 0.9], [0.2, 0.8, 0.0]])
    b = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.5, 0.0, 0.5], [0.45, 0.55, 0.0]])
    c = np.array([[0.3, 0.7, 0.0], [0.2, 0.8, 0.0], [0.0, 0.0, 1.0], [0.7, 0.3, 0.0]])
    report = ensemble_report(labels, [a, b, c], ["a", "b", "c"])
    # Members: a gets samples 0 and 2 right; b gets 0 and 1 (argmax of sample 2 is a tie,
    # broken towards class 0, wrong); c gets 1, 2 and 3.
    assert [m.correct for m in report.members] == [2, 2, 3]
    assert [m.accuracy for m in report.members] == [0.5, 0.5, 0.75]
    # Mean: [0.6, 0.4, 0] -> 0 right; [0.3, 0.7, 0] -> 1 right; [1/6, 1/30, 0.8] -> 2 right;
    # [0.45, 0.55, 0] -> 1, wrong. Three of four: better than two of its members.
    assert report.ensemble.correct == 3 and report.ensemble.accuracy == 0.75
    expected_loss = -np.mean(np.log([0.6, 0.7, 0.8, 0.45]))
    assert report.ensemble.loss == pytest.approx(expected_loss)
    assert report.members[0].loss == pytest.approx(-np.mean(np.log([0.6, 0.4, 0.9, 0.2])))
    assert report.samples == 4 and report.ensemble.name == "ensemble"


def test_shared_mistakes_count_images_misread_by_all_and_by_a_majority():
    labels = np.array([0, 0, 0, 0])
    one_hot = np.eye(2)
    # Predictions per member: image 0 right everywhere, image 3 wrong everywhere, image 2
    # wrong for two of the three members, image 1 for one.
    predictions = [[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]]
    report = ensemble_report(labels, [one_hot[p] for p in predictions], ["a", "b", "c"])
    assert (report.misread_by_all, report.misread_by_majority) == (1, 2)
    # With two members a majority is both of them: the line names only "all".
    assert shared_mistakes(report.to_json()) == "misread by all 3 members: 1 image; by 2 or more: 2"
    two = ensemble_report(labels, [one_hot[p] for p in predictions[:2]], ["a", "b"])
    assert (two.misread_by_all, two.misread_by_majority) == (2, 2)
    assert shared_mistakes(two.to_json()) == "misread by all 2 members: 2 images"


def test_a_confident_miss_costs_a_finite_loss():
    assert np.isfinite(score("x", np.array([1]), np.array([[1.0, 0.0]])).loss)


def test_members_must_agree_on_shapes():
    labels = np.array([0, 1])
    with pytest.raises(ValueError, match="shape"):
        ensemble_report(labels, [np.ones((2, 3)), np.ones((2, 4))], ["a", "b"])


@pytest.fixture(scope="module")
def second_run(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """Another short run, with a different seed (another split), in a folder of its own
    so that `latest` in the shared runs folder stays `trained_run`."""
    from mnist_tui.config import TrainConfig
    from mnist_tui.train.run import train

    config = TrainConfig(
        epochs=1, val_size=3000, batch_size=32, lr=0.05, device="cpu", seed=7, name="second"
    )
    runs_dir = tmp_path_factory.mktemp("second-runs")
    outcome = train(config, data_root=synthetic_root, runs_dir=runs_dir, reporters=[])
    return outcome.run.path


@pytest.mark.slow
def test_eval_ensemble_reports_members_and_their_average(
    trained_run, second_run, synthetic_root, capsys
):
    # Runs named by folder path: they live in different runs folders.
    common = ["--root", synthetic_root, "--runs-dir", trained_run.parent]
    code, out, err = run_cli(
        ["eval", "--ensemble", trained_run, second_run, "--json", *common], capsys
    )
    assert code == 0, err
    report = json.loads(out)
    assert [m["name"] for m in report["members"]] == [trained_run.name, second_run.name]
    assert report["split"] == "test" and report["samples"] == 600
    # Each member's figure is exactly what `mnist eval` says about that run alone.
    for member, path in zip(report["members"], [trained_run, second_run], strict=True):
        code, single, err = run_cli(["eval", path, "--json", *common], capsys)
        assert code == 0, err
        assert member["accuracy"] == json.loads(single)["accuracy"]
    ensemble = report["ensemble"]
    assert ensemble["accuracy"] == ensemble["correct"] / 600 > 0.5

    code, out, err = run_cli(
        ["eval", "--ensemble", trained_run, second_run, "--plain", *common], capsys
    )
    assert code == 0, err
    assert "ensemble of 2 runs" in out and f"{ensemble['accuracy']:.2%}" in out
    assert f"misread by all 2 members: {report['misread_by_all']} image" in out
    # Both members' errors include every image both misread.
    assert report["misread_by_all"] <= min(600 - m["correct"] for m in report["members"])


def test_eval_ensemble_bad_inputs_are_one_line_errors(
    trained_run, second_run, synthetic_root, capsys, tmp_path
):
    common = ["--root", synthetic_root, "--runs-dir", trained_run.parent]
    # A copy of the second run whose config.toml says it learnt another dataset.
    fashion = tmp_path / "fashion-run"
    shutil.copytree(second_run, fashion)
    config = fashion / "config.toml"
    config.write_text(config.read_text().replace('dataset = "mnist"', 'dataset = "fashion"'))
    cases = [
        (["eval", "--ensemble", trained_run, second_run, "--png"], "drop it for --ensemble"),
        (["eval", "--ensemble", trained_run, second_run, "--device", "gpu"], "'gpu' is not valid"),
        (["eval", "--ensemble", trained_run, fashion], "fashion-run: fashion): give runs of one"),
        (["eval", "--ensemble", trained_run], "at least two runs"),
        (["eval", "--ensemble", trained_run, trained_run.name], "same run twice"),
        (["eval", "--ensemble", trained_run, "no-such-run"], "no-such-run"),
        (
            ["eval", "--ensemble", trained_run, second_run, "--split", "val"],
            "different validation images",
        ),
        (["eval", trained_run, second_run], "add --ensemble"),
    ]
    for args, message in cases:
        code, _out, err = run_cli([*args, *common], capsys)
        assert code != 0, args
        assert message in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
