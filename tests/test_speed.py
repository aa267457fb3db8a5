"""The speed levers that became defaults: bf16 autocast where native, channels_last."""

import tomllib
import torch
from conftest import run_cli

from mnist_tui.config import TrainConfig, resolve_config
from mnist_tui.devices import cpu_supports_bf16, fast_layout, resolve_precision
from mnist_tui.models import build_model
from mnist_tui.presets import PRESETS


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
