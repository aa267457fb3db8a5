"""The speed levers that became defaults: bf16 autocast where native, channels_last."""

import tomllib

import pytest
import torch
from conftest import run_cli

from mnist_tui.config import TrainConfig, resolve_config
from mnist_tui.models.architectures import build_model, count_parameters
from mnist_tui.presets import PRESETS
from mnist_tui.train.devices import cpu_supports_bf16, fast_layout, resolve_precision
from mnist_tui.train.loop import build_optimizer, build_scheduler


def test_auto_precision_uses_bf16_only_on_cpus_with_native_bf16():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if cpu_supports_bf16() else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32"  # an explicit choice is kept


def test_channels_last_model_computes_the_same_and_its_weights_load_anywhere():
    torch.manual_seed(0)
    model = build_model("simple_cnn").eval()
    fast = fast_layout(build_model("simple_cnn"), torch.device("cpu")).eval()
    fast.load_state_dict(model.state_dict())
    assert fast.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert not fast.conv2.weight.is_contiguous()
    images = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(images), fast(images), atol=1e-5)
    # A checkpoint written from the channels_last model loads into a plain one.
    plain = build_model("simple_cnn").eval()
    plain.load_state_dict(fast.state_dict())
    with torch.no_grad():
        assert torch.allclose(plain(images), fast(images), atol=1e-5)


def test_fast_preset_expands_and_the_command_line_still_wins():
    config = resolve_config(None, {"preset": "fast", "epochs": 1})
    assert config.preset == "fast" and config.epochs == 1
    assert config.patience == 0 != TrainConfig().patience  # the preset's own setting
    plain = resolve_config(None, {"preset": "fast"})
    assert plain.epochs == PRESETS["fast"].settings["epochs"] != TrainConfig().epochs


def test_fast_preset_is_one_epoch_of_fast_cnn_with_adams_short_memories():
    config = resolve_config(None, {"preset": "fast"})
    assert (config.model, config.epochs, config.batch_size) == ("fast_cnn", 1, 256)
    assert (config.optimizer, config.scheduler) == ("adam", "onecycle")
    assert (config.momentum, config.beta2, config.label_smoothing) == (0.7, 0.9, 0.1)
    assert resolve_config(None, {"preset": "fast", "beta2": 0.99}).beta2 == 0.99


def test_fast_cnn_shapes_parameters_and_layout():
    model = build_model("fast_cnn").eval()
    assert count_parameters(model) == 108_874
    assert model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
        assert build_model("fast_cnn", num_classes=4)(torch.zeros(1, 1, 28, 28)).shape == (1, 4)


def _momentum_and_betas_over_a_cycle(optimizer_name: str) -> list[tuple[float, ...]]:
    config = TrainConfig(optimizer=optimizer_name, scheduler="onecycle", momentum=0.7, beta2=0.9)
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(config, model)
    scheduler = build_scheduler(config, optimizer, steps_per_epoch=10)
    seen = []
    for _ in range(config.epochs * 10 - 1):
        group = optimizer.param_groups[0]
        seen.append(tuple(group["betas"]) if "betas" in group else (group["momentum"],))
        optimizer.step()
        scheduler.step()
    return seen


def test_one_cycle_cycles_sgd_momentum_but_keeps_adams_betas():
    # SGD: the one-cycle paper's momentum cycle between 0.85 and 0.95 replaces --momentum.
    sgd = {m for (m,) in _momentum_and_betas_over_a_cycle("sgd")}
    assert min(sgd) < 0.86 and max(sgd) > 0.94
    # Adam: beta1 is --momentum and beta2 is --beta2 throughout.
    assert set(_momentum_and_betas_over_a_cycle("adam")) == {(0.7, 0.9)}


@pytest.mark.slow
def test_default_run_records_the_precision_it_trained_with(synthetic_root, runs_dir, capsys):
    code, _out, err = run_cli(
        [
            "train",
            "--epochs",
            "2",
            "--val-size",
            "500",
            "--device",
            "cpu",
            "--plain",
            "--root",
            synthetic_root,
            "--runs-dir",
            runs_dir,
        ],
        capsys,
    )
    assert code == 0, err
    run = next(runs_dir.iterdir())
    config = tomllib.loads((run / "config.toml").read_text())
    expected = "bf16" if cpu_supports_bf16() else "fp32"
    assert config["environment"]["precision"] == expected
    assert config["train"]["precision"] == "auto"
    summary = tomllib.loads((run / "summary.toml").read_text())
    # Learns well above chance (10%) in 2 epochs of 28 batches of the small synthetic set.
    assert summary["test_acc"] > 0.4
