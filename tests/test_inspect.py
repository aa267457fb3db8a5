"""`mnist inspect`: kernels, feature maps (forward hooks), summary, PNGs, errors."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image
from rich.console import Console
from torch import nn
from torch.nn import functional as F

from mnist_tui.inspect import probe
from mnist_tui.inspect.core import InspectRequest, load_model
from mnist_tui.inspect.view import kernel_view
from mnist_tui.models.architectures import SimpleCNN, build_model, count_parameters
from mnist_tui.ui.heatmap import HALF_BLOCK

# --- kernels: selection against hand-made weights --------------------------------------


def hand_made_weight() -> np.ndarray:
    """(out=2, in=3, 2, 2): out o, in i, every entry = 10*o + i (+0.5 at the corner)."""
    weight = np.zeros((2, 3, 2, 2), dtype=np.float32)
    for o in range(2):
        for i in range(3):
            weight[o, i] = 10 * o + i
            weight[o, i, 0, 0] += 0.5
    return weight


def test_default_averages_over_input_channels() -> None:
    tiles, labels, note = probe.select_kernels(hand_made_weight())
    assert labels == ["0", "1"]
    np.testing.assert_allclose(tiles[0], [[1.5, 1.0], [1.0, 1.0]])  # mean of 0, 1, 2
    np.testing.assert_allclose(tiles[1], [[11.5, 11.0], [11.0, 11.0]])
    assert "averaged over 3" in note


def test_in_channel_selects_one_input() -> None:
    tiles, _, note = probe.select_kernels(hand_made_weight(), in_channel=2)
    np.testing.assert_allclose(tiles[0], [[2.5, 2.0], [2.0, 2.0]])
    np.testing.assert_allclose(tiles[1], [[12.5, 12.0], [12.0, 12.0]])
    assert note == "input channel 2"


def test_all_gives_every_pair_in_order() -> None:
    tiles, labels, _ = probe.select_kernels(hand_made_weight(), all_inputs=True)
    assert labels == ["0.0", "0.1", "0.2", "1.0", "1.1", "1.2"]
    assert [float(t[1, 1]) for t in tiles] == [0, 1, 2, 10, 11, 12]


def test_single_input_channel_is_shown_as_is() -> None:
    weight = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    tiles, _, note = probe.select_kernels(weight)
    np.testing.assert_array_equal(tiles[1], weight[1, 0])
    assert note == ""


@pytest.mark.parametrize("channel", [-1, 3])
def test_in_channel_out_of_range(channel: int) -> None:
    with pytest.raises(probe.LayerError, match="0 to 2"):
        probe.select_kernels(hand_made_weight(), in_channel=channel)


def test_in_channel_and_all_conflict() -> None:
    with pytest.raises(probe.LayerError, match="give one"):
        probe.select_kernels(hand_made_weight(), in_channel=0, all_inputs=True)


def test_kernels_come_from_the_layer_weight() -> None:
    torch.manual_seed(0)
    model = SimpleCNN()
    kernels = probe.kernels(model, "conv2")
    expected = model.conv2.weight.detach().mean(dim=1).numpy()
    np.testing.assert_allclose(np.stack(kernels.tiles), expected, atol=1e-7)
    assert (kernels.out_channels, kernels.in_channels) == (32, 16)


def test_layer_without_kernels_is_refused() -> None:
    with pytest.raises(probe.LayerError, match="--image"):
        probe.kernels(SimpleCNN(), "fc1")
    with pytest.raises(probe.LayerError, match="no 2-D kernels"):
        probe.kernels(SimpleCNN(), "pool")


# --- layers by name ----------------------------------------------------------------------


class Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.ReLU())
        self.head = nn.Linear(4 * 28 * 28, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def test_unknown_layer_lists_layers_closest_first() -> None:
    with pytest.raises(probe.LayerError) as info:
        probe.find_layer(SimpleCNN(), "conv3")
    message = str(info.value)
    listed = message.split("closest first): ")[1].split(".")[0].split(", ")
    assert listed[:2] == ["conv1", "conv2"]
    assert sorted(listed) == ["conv1", "conv2", "fc1", "fc2", "pool"]
    with pytest.raises(probe.LayerError) as info:
        probe.find_layer(SimpleCNN(), "fc")
    assert info.value.args[0].split("closest first): ")[1].startswith("fc1, fc2")


def test_nested_names_work() -> None:
    model = Nested()
    assert probe.find_layer(model, "features.0") is model.features[0]
    kernels = probe.kernels(model, "features.0")
    assert len(kernels.tiles) == 4 and kernels.tiles[0].shape == (5, 5)


# --- feature maps: the forward hook against direct computation ---------------------------


def test_hook_capture_matches_direct_computation() -> None:
    torch.manual_seed(1)
    model = SimpleCNN().eval()
    image = torch.randn(1, 28, 28)
    acts = probe.feature_maps(model, "conv1", image.numpy())
    direct = F.conv2d(image[None], model.conv1.weight, model.conv1.bias, padding=1)[0]
    np.testing.assert_allclose(acts.values, direct.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert acts.values.shape == (16, 28, 28)

    fc1 = probe.feature_maps(model, "fc1", image.numpy())
    with torch.no_grad():
        x = model.pool(torch.relu(model.conv1(image[None])))
        x = model.pool(torch.relu(model.conv2(x)))
        expected_fc1 = model.fc1(x.flatten(1))[0]
        logits = model(image[None])
    np.testing.assert_allclose(fc1.values, expected_fc1.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fc1.probabilities, logits.softmax(1)[0].numpy(), rtol=1e-5)


def test_hook_is_removed_even_when_forward_fails() -> None:
    model = SimpleCNN()
    with pytest.raises(RuntimeError):
        probe.capture(model, "conv1", torch.zeros(1, 1, 5, 5))  # too small for fc1
    assert not model.conv1._forward_hooks
    probe.capture(model, "conv1", torch.zeros(1, 1, 28, 28))
    assert not model.conv1._forward_hooks


def test_shared_module_gives_its_first_call() -> None:
    model = SimpleCNN().eval()
    output, _ = probe.capture(model, "pool", torch.zeros(1, 1, 28, 28))
    assert tuple(output.shape) == (1, 16, 14, 14)


# --- summary -----------------------------------------------------------------------------


def test_summary_shapes_and_parameters() -> None:
    model = SimpleCNN()
    summary = probe.summarize(model)
    rows = [(r.name, r.output_shape, r.parameters) for r in summary.rows]
    assert rows == [
        ("conv1", (16, 28, 28), 160),
        ("pool", (16, 14, 14), 0),
        ("conv2", (32, 14, 14), 4640),
        ("pool", (32, 7, 7), None),
        ("fc1", (128,), 32 * 7 * 7 * 128 + 128),
        ("fc2", (10,), 1290),
    ]
    assert summary.total_parameters == count_parameters(model) == 206_922
    assert sum(r.parameters or 0 for r in summary.rows) == summary.total_parameters


# --- terminal rendering at a fixed width ------------------------------------------------


def render(renderable: object, *, color: bool, width: int) -> str:
    console = Console(
        width=width,
        color_system="truecolor" if color else None,
        force_terminal=color,
        file=io.StringIO(),
        record=True,
    )
    console.print(renderable)
    return console.export_text(styles=False)


@pytest.mark.parametrize("width", [40, 100])
def test_kernel_view_fits_width_with_and_without_colour(width: int) -> None:
    torch.manual_seed(0)
    view = kernel_view(probe.kernels(SimpleCNN(), "conv1"), "test model")
    plain = render(view, color=False, width=width)
    coloured = render(view, color=True, width=width)
    for text in (plain, coloured):
        assert max(len(line) for line in text.splitlines()) <= width
        assert [int(n) for n in re.findall(r"ch (\d+)", text)] == list(range(16))
    assert HALF_BLOCK in coloured and HALF_BLOCK not in plain
    assert "most negative" in plain  # the ramp legend
    # Tiles are 13 wide ("-0.162 +0.306") with gaps of 2: 2 per row in 40, 6 in 100.
    label_rows = sum(1 for line in plain.splitlines() if line.startswith("ch "))
    assert label_rows == (8 if width == 40 else 3)


# --- the command, on real run folders ----------------------------------------------------


def test_random_model_when_there_is_no_run(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(["inspect", "conv1", "--runs-dir", tmp_path / "none"], capsys)
    assert code == 0, err
    assert "RANDOM initialisation" in out and "No run in" in out and "UNTRAINED" in out
    inspected = load_model(InspectRequest(runs_dir=tmp_path / "none"))
    torch.manual_seed(42)
    fresh = build_model("simple_cnn")
    assert inspected.random
    assert torch.equal(inspected.model.conv1.weight, fresh.conv1.weight)


def test_trained_run_differs_from_random(trained_run: Path, capsys) -> None:
    runs = trained_run.parent
    trained = load_model(InspectRequest(runs_dir=runs))
    random = load_model(InspectRequest(runs_dir=runs, random=True))
    assert not trained.random and random.random
    assert trained_run.name in trained.source
    assert not torch.equal(trained.model.conv1.weight, random.model.conv1.weight)
    code, out, _ = run_cli(["inspect", "--runs-dir", runs], capsys)
    assert code == 0
    assert "total" in out and "206,922" in out and "16 x 28 x 28" in out
    assert trained_run.name in out and "RANDOM" not in out


def test_conv2_variants_and_png(trained_run: Path, tmp_path: Path, capsys) -> None:
    runs = ["--runs-dir", trained_run.parent]
    code, out, _ = run_cli(["inspect", "conv2", *runs], capsys)
    assert code == 0 and "averaged over 16 input channels;" in out and "ch 31" in out
    code, out, _ = run_cli(["inspect", "conv2", "--in-channel", "5", *runs], capsys)
    assert code == 0 and "input channel 5" in out
    png = tmp_path / "conv2.png"
    code, out, _ = run_cli(["inspect", "conv2", "--all", "--png", png, "--png-only", *runs], capsys)
    assert code == 0 and f"saved {png}" in out and "ch 0.0" not in out
    with Image.open(png) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(png) as image:
        width, height = image.size
        assert height > width  # 32 rows of 16 input channels


def image_of_a_one(path: Path) -> Path:
    """A dark stroke on white paper, like a drawing: predict would invert it."""
    pixels = np.full((90, 60), 255, dtype=np.uint8)
    pixels[10:80, 26:36] = 0
    Image.fromarray(pixels).save(path)
    return path


def test_feature_maps_for_an_image_match_predict(trained_run: Path, tmp_path: Path, capsys) -> None:
    from mnist_tui.predict import core as predicting
    from mnist_tui.runs.folders import RunFolder

    image = image_of_a_one(tmp_path / "one.png")
    runs = ["--runs-dir", trained_run.parent]
    png = tmp_path / "maps.png"
    code, out, err = run_cli(["inspect", "conv1", "--image", image, "--png", png, *runs], capsys)
    assert code == 0, err
    assert "16 feature maps 28x28" in out and "what the model saw" in out
    with Image.open(png) as picture:
        assert picture.format == "PNG"

    code, out, err = run_cli(["inspect", "fc2", "--image", image, *runs], capsys)
    assert code == 0, err
    assert "10 values" in out
    bars = [line for line in out.splitlines() if "|" in line and line.split()[0].isdigit()]
    assert [int(line.split()[0]) for line in bars] == list(range(10))
    signs = [line.rstrip()[-7:].strip()[0] for line in bars]  # "+1.234" or "-0.567"
    assert all(("#" in b) == (sign == "+") for b, sign in zip(bars, signs, strict=True))
    # Same preprocessing as `mnist predict`: the same probabilities.
    inspected = load_model(InspectRequest(runs_dir=trained_run.parent))
    from mnist_tui.imaging.prepare import prepare_digit

    digit = prepare_digit(image)
    acts = probe.feature_maps(
        inspected.model, "fc2", digit.normalized(inspected.mean, inspected.std)
    )
    classifier = predicting.classifier_from_run(RunFolder(trained_run))
    expected = predicting.probabilities(classifier, [digit])[0]
    np.testing.assert_allclose(acts.probabilities, expected, rtol=1e-5, atol=1e-7)
    best = int(np.argmax(expected))
    assert f"the model predicts {best} ({expected[best]:.1%})" in out


def test_image_steps_show_how_the_input_was_made(trained_run: Path, tmp_path: Path, capsys) -> None:
    image = image_of_a_one(tmp_path / "one.png")
    args = ["inspect", "conv1", "--image", image, "--steps", "--runs-dir", trained_run.parent]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "preparation steps" in out and "paper removed" in out and "28x28 input" in out
    assert out.index("preparation steps") < out.index("feature maps")


def test_linear_layer_strip_and_bar_png(trained_run: Path, tmp_path: Path, capsys) -> None:
    image = image_of_a_one(tmp_path / "one.png")
    png = tmp_path / "fc1.png"
    args = ["inspect", "fc1", "--image", image, "--png", png, "--runs-dir", trained_run.parent]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "128 values" in out
    starts = [line.split("-")[0].strip() for line in out.splitlines() if re.match(r"\s*\d+-", line)]
    assert starts[0] == "0" and len(starts) >= 2  # wrapped into several strips
    with Image.open(png) as picture:
        assert picture.format == "PNG" and picture.size[0] > picture.size[1]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["conv3"], "No layer 'conv3'"),
        (["fc1"], "fc1 is Linear(1568->128): it has no 2-D kernels"),
        (["conv2", "--in-channel", "16"], "--in-channel 16 is out of range"),
        (["conv1", "--png", "out.jpg"], "must end in .png"),
        (["conv1", "--png", "missing/out.png"], "does not exist"),
        (["conv1", "--image", "nothing.png"], "nothing.png: no such file"),
        (["conv1", "--png-only"], "--png-only needs --png"),
        (["--image", "x.png"], "need a layer"),
        (["conv1", "--run", "nope"], "No run 'nope'"),
        (["conv1", "--random", "--model", "resnet9000"], "not a model"),
        (["conv1", "--image", "x.png", "--all"], "do not apply to --image"),
        (["conv1", "--steps"], "--steps shows how --image is prepared"),
    ],
)
def test_bad_input_is_one_line(
    trained_run: Path, tmp_path: Path, monkeypatch, capsys, args: list[str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["inspect", *args, "--runs-dir", trained_run.parent], capsys)
    assert code != 0
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written on failure


def test_run_without_checkpoint_is_explained(tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "20260101-000000-simple_cnn"
    run.mkdir(parents=True)
    (run / "config.toml").write_text("[train]\nmodel = 'simple_cnn'\n")
    code, _, err = run_cli(["inspect", "conv1", "--runs-dir", tmp_path / "runs"], capsys)
    assert code != 0 and "no checkpoint.pt yet" in err and "--random" in err


def test_unknown_layer_answers_with_layers_of_the_kind_asked_for() -> None:
    # `conv1` (the README's example) asked of the `best` preset's model, whose
    # convolutions are features.N.0: those come first, and the list stays short.
    from mnist_tui.models.architectures import build_model

    with pytest.raises(probe.LayerError) as info:
        probe.find_layer(build_model("bn_cnn_wide"), "conv1")
    listed = str(info.value).split("closest first): ")[1].split(". ")[0]
    names = listed.split(" and ")[0].split(", ")
    convolutions = {f"features.{i}.0" for i in (0, 1, 3, 4, 6, 7)}
    assert set(names[:6]) == convolutions
    assert len(names) == probe.MAX_LISTED and listed.endswith("more")


def test_png_that_is_the_image_itself_is_refused_and_the_image_kept(
    trained_run: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    image = image_of_a_one(tmp_path / "one.png")
    before = image.read_bytes()
    monkeypatch.chdir(tmp_path)
    runs = ["--runs-dir", trained_run.parent]
    for png in (image, "one.png", "./one.png"):  # the same file, spelled three ways
        code, _, err = run_cli(["inspect", "conv1", "--image", image, "--png", png, *runs], capsys)
        assert code != 0 and "is the --image file" in err and "Traceback" not in err
        assert image.read_bytes() == before
