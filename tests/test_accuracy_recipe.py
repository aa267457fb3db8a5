"""issue 9: the BN CNN, batched augmentation, the weight EMA and the `best` preset."""

import math
import tomllib
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from torch import nn

from mnist_tui.config import TrainConfig, resolve_config
from mnist_tui.data.augment import AffineAugment, gaussian_kernel
from mnist_tui.errors import ConfigError
from mnist_tui.models.architectures import MODELS, build_model, count_parameters
from mnist_tui.models.catalog import MODEL_SUMMARIES
from mnist_tui.models.checkpoints import STATE_FORMAT, load
from mnist_tui.models.ema import ModelEMA, warmed_up_decay
from mnist_tui.presets import PRESETS

# --- models ---------------------------------------------------------------------------------


def test_bn_cnn_shapes_and_parameters():
    model = build_model("bn_cnn").eval()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert count_parameters(model) == 162_562
    assert build_model("bn_cnn", num_classes=5)(torch.zeros(2, 1, 28, 28)).shape == (2, 5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_bn_cnn_wide_is_bn_cnn_at_widths_32_64_128():
    model = build_model("bn_cnn_wide").eval()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert count_parameters(model) == 288_170
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64, 128, 128]
    assert model.classifier.in_features == 128


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_is_documented_with_its_true_parameter_count(name):
    summary = MODEL_SUMMARIES[name]
    assert f"({count_parameters(build_model(name)):,} parameters)" in summary


def test_bn_cnn_learns_a_batch_it_sees_repeatedly():
    torch.manual_seed(0)
    model = build_model("bn_cnn")
    images, labels = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (model.eval()(images).argmax(1) == labels).float().mean() == 1.0


# --- augmentation ----------------------------------------------------------------------------

BACKGROUND = -0.5


def blobs(n: int, size: int = 4) -> torch.Tensor:
    """n images: a bright square on BACKGROUND, a different position for each image."""
    images = torch.full((n, 1, 28, 28), BACKGROUND)
    for i in range(n):
        top, left = 6 + (i * 5) % 14, 6 + (i * 3) % 14
        images[i, 0, top : top + size, left : left + size] = 2.0
    return images


def ink(images: torch.Tensor) -> torch.Tensor:
    return (images - BACKGROUND).clamp(min=0).flatten(1).sum(1)


def centroids(images: torch.Tensor) -> torch.Tensor:
    """(N, 2) centre of mass (row, column) of each image's ink."""
    weights = (images - BACKGROUND).clamp(min=0)[:, 0]
    coords = torch.arange(28.0)
    total = weights.flatten(1).sum(1)
    rows = (weights.sum(2) * coords).sum(1) / total
    cols = (weights.sum(1) * coords).sum(1) / total
    return torch.stack([rows, cols], 1)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_augmentation_keeps_each_image_in_its_place():
    # Image i is a centred square of brightness i + 1: whatever the warp, its interior
    # still reads i + 1, so the order (and the pairing with the labels, which the
    # augmentation never touches) shows in the values.
    images = torch.full((16, 1, 28, 28), BACKGROUND)
    for i in range(16):
        images[i, 0, 8:20, 8:20] = i + 1.0
    out = AffineAugment(rotate_degrees=15, scale=0.15, shift_pixels=3, background=BACKGROUND)(
        images, seeded(0)
    )
    assert out.shape == images.shape and out.dtype == images.dtype
    assert torch.allclose(out.flatten(1).max(1).values, torch.arange(1.0, 17.0), atol=1e-4)
    assert not torch.equal(out, images)


def test_augmentation_is_reproducible_under_a_seed():
    augment = AffineAugment(background=BACKGROUND)
    images = blobs(8)
    assert torch.equal(augment(images, seeded(3)), augment(images, seeded(3)))
    assert not torch.equal(augment(images, seeded(3)), augment(images, seeded(4)))
    torch.manual_seed(5)
    first = augment(images)
    torch.manual_seed(5)
    assert torch.equal(first, augment(images))  # the global RNG, which last.pt saves


def test_shift_only_moves_ink_by_at_most_the_configured_pixels():
    images = blobs(64)
    out = AffineAugment(rotate_degrees=0, scale=0, shift_pixels=3, background=BACKGROUND)(
        images, seeded(1)
    )
    moved = centroids(out) - centroids(images)
    assert moved.abs().max() <= 3.01
    assert moved.abs().max() > 2.0  # the range is used, not just a sliver of it
    assert torch.allclose(ink(out), ink(images), rtol=1e-4)  # nothing lost or added
    # Pixels pulled in from outside the frame are background, not zero.
    corner = AffineAugment(rotate_degrees=0, scale=0, shift_pixels=5, background=BACKGROUND)(
        torch.full((32, 1, 28, 28), BACKGROUND), seeded(2)
    )
    assert torch.allclose(corner, torch.full_like(corner, BACKGROUND))


def test_scale_only_zooms_about_the_centre_within_the_configured_range():
    images = torch.full((64, 1, 28, 28), BACKGROUND)
    images[:, 0, 10:18, 10:18] = 2.0  # centred square
    out = AffineAugment(rotate_degrees=0, scale=0.3, shift_pixels=0, background=BACKGROUND)(
        images, seeded(0)
    )
    ratio = ink(out) / ink(images)  # area scales with zoom squared
    assert ratio.min() >= 0.7**2 - 0.05 and ratio.max() <= 1.3**2 + 0.05
    assert ratio.min() < 0.8 and ratio.max() > 1.2
    assert torch.allclose(centroids(out), torch.full((64, 2), 13.5), atol=0.05)


def test_rotation_only_turns_a_bar_by_at_most_the_configured_angle():
    images = torch.full((64, 1, 28, 28), BACKGROUND)
    images[:, 0, 13:15, 4:24] = 2.0  # a horizontal bar through the centre
    out = AffineAugment(rotate_degrees=30, scale=0, shift_pixels=0, background=BACKGROUND)(
        images, seeded(0)
    )
    weights = (out - BACKGROUND).clamp(min=0)[:, 0]
    ys, xs = torch.meshgrid(torch.arange(28.0) - 13.5, torch.arange(28.0) - 13.5, indexing="ij")
    # Orientation of the principal axis from second moments.
    mxx = (weights * xs * xs).flatten(1).sum(1)
    myy = (weights * ys * ys).flatten(1).sum(1)
    mxy = (weights * xs * ys).flatten(1).sum(1)
    angle = torch.rad2deg(0.5 * torch.atan2(2 * mxy, mxx - myy)).abs()
    assert angle.max() <= 31 and angle.max() > 20
    assert torch.allclose(ink(out), ink(images), rtol=0.02)


def test_zero_strength_changes_nothing():
    images = blobs(4)
    augment = AffineAugment(rotate_degrees=0, scale=0, shift_pixels=0, background=BACKGROUND)
    assert augment(images, seeded(0)) is images


def elastic_only(alpha: float, sigma: float = 5.0) -> AffineAugment:
    return AffineAugment(0, 0, 0, BACKGROUND, elastic_alpha=alpha, elastic_sigma=sigma)


def test_gaussian_kernel_is_normalised_symmetric_and_as_wide_as_asked():
    kernel = gaussian_kernel(4.0)
    assert kernel.numel() == 25  # +-3 sigma
    assert math.isclose(kernel.sum().item(), 1.0, rel_tol=1e-6)
    assert torch.equal(kernel, kernel.flip(0))
    offsets = torch.arange(-12.0, 13.0)
    assert math.isclose((kernel * offsets**2).sum().sqrt().item(), 4.0, rel_tol=0.03)


def test_elastic_field_has_the_size_the_blur_predicts_and_scales_with_alpha():
    # Uniform noise in [-1, 1] has variance 1/3; blurring with a separable kernel k
    # multiplies the variance by (sum k^2)^2 away from the edges. In pixels, the grid's
    # unit is 14 pixels (2 per 28).
    field = elastic_only(34, 5.0).elastic_field(512, 28, 28, torch.device("cpu"), seeded(0))
    assert field.shape == (512, 28, 28, 2)
    interior = field[:, 10:18, 10:18] * 14
    expected = 34 / math.sqrt(3) * (gaussian_kernel(5.0) ** 2).sum().item()
    assert math.isclose(interior.std().item(), expected, rel_tol=0.1)
    assert abs(interior.mean().item()) < 0.05 * expected
    double = elastic_only(68, 5.0).elastic_field(512, 28, 28, torch.device("cpu"), seeded(0))
    assert torch.allclose(double, 2 * field, atol=1e-6)
    # Smooth: neighbouring pixels move almost together, unlike the raw noise.
    neighbours = torch.corrcoef(
        torch.stack([interior[:, :, :-1].flatten(), interior[:, :, 1:].flatten()])
    )
    assert neighbours[0, 1] > 0.9


def test_elastic_distortion_bends_strokes_but_keeps_them_in_place():
    images = blobs(64)
    out = elastic_only(34)(images, seeded(1))
    assert not elastic_only(34).is_identity
    assert out.shape == images.shape
    changed = (out - images).abs().flatten(1).max(1).values
    assert (changed > 0.5).all()  # every image is distorted...
    # ...by the field it drew (after the affine draw): no stroke moves further than that.
    generator = seeded(1)
    torch.rand(64, 4, generator=generator)
    field = elastic_only(34).elastic_field(64, 28, 28, torch.device("cpu"), generator) * 14
    moved = centroids(out) - centroids(images)
    assert moved.abs().max() <= field.abs().max() + 0.05
    assert moved.abs().mean() > 0.3
    # Strokes stretch and shrink locally, so ink varies per image, but none vanishes and
    # on average none is made or lost.
    ratio = ink(out) / ink(images)
    assert ratio.min() > 0.5 and ratio.std() > 0.05
    assert math.isclose(ratio.mean().item(), 1.0, rel_tol=0.05)


def test_elastic_augmentation_keeps_order_and_is_reproducible():
    images = torch.full((16, 1, 28, 28), BACKGROUND)
    for i in range(16):
        images[i, 0, 8:20, 8:20] = i + 1.0
    augment = AffineAugment(10, 0.1, 2, BACKGROUND, elastic_alpha=34, elastic_sigma=5)
    out = augment(images, seeded(0))
    assert torch.allclose(out.flatten(1).max(1).values, torch.arange(1.0, 17.0), atol=1e-3)
    assert torch.equal(out, augment(images, seeded(0)))
    assert not torch.equal(out, augment(images, seeded(1)))
    # The affine part draws first, so turning elastic on leaves the affine draw as it was:
    # with a tiny alpha the result is the affine-only warp, nearly to the pixel.
    affine = AffineAugment(10, 0.1, 2, BACKGROUND)(images, seeded(0))
    nearly = AffineAugment(10, 0.1, 2, BACKGROUND, elastic_alpha=1e-4)(images, seeded(0))
    assert torch.allclose(nearly, affine, atol=1e-3)


# --- EMA -------------------------------------------------------------------------------------


def test_ema_update_matches_a_hand_computation():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = ModelEMA(model, decay=0.5)
    # Update 1: decay min(0.5, 2/11) = 2/11. Update 2: min(0.5, 3/12) = 0.25.
    # Update 3: min(0.5, 4/13) = 4/13.  Update 10: min(0.5, 11/20) = 0.5.
    assert warmed_up_decay(0.5, 1) == pytest.approx(2 / 11)
    assert warmed_up_decay(0.5, 10) == 0.5
    expected = 1.0
    for step, weight in enumerate([3.0, 5.0, -2.0], start=1):
        with torch.no_grad():
            model.weight.fill_(weight)
        ema.update(model)
        d = min(0.5, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * weight
        assert ema.module.weight.item() == pytest.approx(expected, abs=1e-6)
    # By hand: 2/11*1 + 9/11*3 = 29/11; 0.25*29/11 + 0.75*5 = 97/22;
    # 4/13*97/22 - 9/13*2 = (388 - 396)/286 = -4/143.
    assert ema.module.weight.item() == pytest.approx(-4 / 143, abs=1e-6)
    assert model.weight.item() == -2.0  # the model itself is untouched


def test_ema_averages_batchnorm_statistics_and_copies_counters():
    model = nn.BatchNorm1d(2)
    ema = ModelEMA(model, decay=0.9)
    model.train()
    model(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    ema.update(model)
    d = 2 / 11
    assert torch.allclose(ema.module.running_mean, (1 - d) * model.running_mean)
    assert ema.module.num_batches_tracked.item() == 1
    assert not ema.module.training


def test_ema_option_is_checked():
    with pytest.raises(ConfigError, match="--ema must be less than 1"):
        resolve_config(None, {"ema": 1.0})
    with pytest.raises(ConfigError, match="--ema must be at least 0"):
        resolve_config(None, {"ema": -0.1})


# --- the preset -------------------------------------------------------------------------------


def test_best_preset_expands_into_every_part_of_the_recipe():
    config = resolve_config(None, {"preset": "best"})
    expected = PRESETS["best"].settings
    assert {k: getattr(config, k) for k in expected} == expected
    assert config.model == "bn_cnn_wide" and config.augment and config.ema > 0
    assert config.scheduler == "onecycle" and config.weight_decay > 0
    assert config.label_smoothing > 0 and config.preset == "best"
    # The command line still wins over the preset; the rest of the preset stays.
    tweaked = resolve_config(None, {"preset": "best", "epochs": 3, "ema": 0.0})
    assert (tweaked.epochs, tweaked.ema, tweaked.model) == (3, 0.0, "bn_cnn_wide")


def test_augment_strengths_are_validated():
    assert TrainConfig().augment_rotate == 10.0
    with pytest.raises(ConfigError, match="--augment-scale"):
        resolve_config(None, {"augment_scale": 1.5})
    with pytest.raises(ConfigError, match="--augment-rotate must be float"):
        resolve_config(None, {"augment_rotate": "ten"})
    with pytest.raises(ConfigError, match="--augment-elastic"):
        resolve_config(None, {"augment_elastic": -1.0})
    with pytest.raises(ConfigError, match="--augment-elastic-sigma"):
        resolve_config(None, {"augment_elastic_sigma": 0.0})


def test_rotation_degrees_convert_to_radians_once():
    # A guard on the unit: 90 degrees turns a horizontal bar vertical.
    images = torch.full((1, 1, 28, 28), BACKGROUND)
    images[0, 0, 13:15, 4:24] = 2.0
    augment = AffineAugment(rotate_degrees=90, scale=0, shift_pixels=0, background=BACKGROUND)
    generator = seeded(0)
    u = torch.rand(1, 4, generator=seeded(0)) * 2 - 1
    out = augment(images, generator)
    turned = math.radians(90) * abs(u[0, 0].item())
    vertical_ink = (out[0, 0, :, 13:15] - BACKGROUND).clamp(min=0).sum()
    horizontal_ink = (out[0, 0, 13:15, :] - BACKGROUND).clamp(min=0).sum()
    assert (vertical_ink > horizontal_ink) == (turned > math.radians(45))


# --- end to end -------------------------------------------------------------------------------


def _train_one_run(args: list[str], synthetic_root, runs_dir, capsys) -> tuple[Path, dict]:
    """Train on the synthetic set on CPU; return the run folder and its config.toml [train]."""
    args = ["train", *args, "--device", "cpu", "--plain"]
    code, _out, err = run_cli([*args, "--root", synthetic_root, "--runs-dir", runs_dir], capsys)
    assert code == 0, err
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return run, tomllib.loads((run / "config.toml").read_text())["train"]


@pytest.mark.slow
def test_best_preset_run_records_its_expansion_and_checkpoints_the_ema(
    synthetic_root, runs_dir, capsys
):
    # The preset with a short schedule on a small slice of the synthetic set.
    args = ["--preset", "best", "--epochs", "1", "--val-size", "3000", "--batch-size", "64"]
    run, train = _train_one_run(args, synthetic_root, runs_dir, capsys)
    expected = {**PRESETS["best"].settings, "epochs": 1, "batch_size": 64, "val_size": 3000}
    assert {k: train[k] for k in expected} == expected
    assert train["preset"] == "best"

    best, state = load(run / "checkpoint.pt"), load(run / "last.pt", expected_format=STATE_FORMAT)
    assert state["ema"]["updates"] == -(-1000 // 64)  # one update per optimiser step
    # One epoch: the best checkpoint is the EMA's weights after it, not the raw weights.
    ema_weights, raw_weights = state["ema"]["weights"], state["model"]
    for name, value in best["state_dict"].items():
        assert torch.equal(value, ema_weights[name])
    assert any(
        not torch.equal(best["state_dict"][k], raw_weights[k])
        for k in raw_weights
        if raw_weights[k].dtype.is_floating_point
    )


@pytest.mark.slow
def test_elastic_augmentation_from_a_config_file_trains_and_is_recorded(
    synthetic_root, runs_dir, capsys, tmp_path
):
    settings = tmp_path / "elastic.toml"
    settings.write_text("[train]\naugment = true\naugment_elastic = 34.0\n")
    args = ["--config", str(settings), "--epochs", "2", "--val-size", "500", "--batch-size", "32"]
    run, train = _train_one_run(args, synthetic_root, runs_dir, capsys)
    assert (train["augment"], train["augment_elastic"], train["augment_elastic_sigma"]) == (
        True,
        34.0,
        5.0,
    )
    # Distorted training images still teach the digits: far above chance (10%).
    assert tomllib.loads((run / "summary.toml").read_text())["test_acc"] > 0.8


def test_ema_state_travels_through_last_pt_for_resume(synthetic_root):
    from mnist_tui.data.tensors import load_data
    from mnist_tui.train.events import CallbackList
    from mnist_tui.train.loop import Trainer

    class Nowhere:
        def save_best(self, *args: object) -> None: ...
        def save_last(self, *args: object) -> None: ...

    config = TrainConfig(model="bn_cnn", ema=0.9, batch_size=100, val_size=3500, device="cpu")
    data = load_data(synthetic_root, "mnist", 3500, 0, torch.device("cpu"))
    trainer = Trainer(build_model("bn_cnn"), data, config, "fp32", CallbackList([]), Nowhere())
    trainer.train_epoch(1)
    state = trainer.state()
    assert state["ema"]["updates"] == 5  # 500 training images, batch 100

    resumed = Trainer(build_model("bn_cnn"), data, config, "fp32", CallbackList([]), Nowhere())
    resumed.load_state(state)
    assert resumed.ema.updates == 5
    for name, value in trainer.ema.module.state_dict().items():
        assert torch.equal(resumed.ema.module.state_dict()[name], value)
    assert resumed.evaluated_model() is resumed.ema.module
