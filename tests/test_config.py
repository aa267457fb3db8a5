from pathlib import Path

import pytest

from mnist_tui.config import (
    TrainConfig,
    apply_overrides,
    load_config_file,
    resolve_config,
    validate,
)
from mnist_tui.errors import ConfigError
from mnist_tui.runs.folders import RunFolder


def test_defaults_are_the_benchmarked_recipe_and_the_notebook_is_a_preset():
    c = TrainConfig()
    assert (c.optimizer, c.lr, c.momentum, c.batch_size, c.scheduler) == (
        "sgd",
        0.05,
        0.9,
        128,
        "cosine",
    )
    assert (c.epochs, c.patience, c.seed, c.precision, c.device) == (20, 5, 42, "auto", "auto")
    notebook = resolve_config(None, {"preset": "notebook"})
    assert (notebook.lr, notebook.batch_size, notebook.scheduler) == (0.01, 64, "none")
    assert notebook.precision == "fp32"


def test_toml_round_trip(tmp_path: Path):
    config = TrainConfig(lr=0.003, epochs=7, optimizer="adamw", augment=True, name="x")
    run = RunFolder(tmp_path)
    run.write_toml(run.config, {"train": config.to_dict(), "run": {"id": "abc"}})
    assert resolve_config(run.config, {}) == config


def test_precedence_defaults_file_command_line(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text("lr = 0.5\nepochs = 3\n")
    config = resolve_config(path, {"epochs": 9})
    assert (config.lr, config.epochs, config.batch_size) == (0.5, 9, TrainConfig().batch_size)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"lr": -1.0}, "--lr"),
        ({"lr": 0.0}, "--lr"),
        ({"batch_size": 0}, "--batch-size"),
        ({"optimizer": "sgdd"}, "Did you mean 'sgd'"),
        ({"scheduler": "linear"}, "--scheduler"),
        ({"device": "gpu"}, "--device"),
        ({"epochs": 2.5}, "--epochs must be int"),
        ({"augment": "yes"}, "--augment must be bool"),
        ({"momentum": 1.5}, "--momentum"),
        ({"lerning_rate": 0.1}, "Unknown setting"),
        ({"epoch": 3}, "Did you mean epochs"),
    ],
)
def test_invalid_values_name_the_option(overrides, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        apply_overrides(TrainConfig(), overrides)


def test_unknown_model_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match="Did you mean 'simple_cnn'"):
        validate(TrainConfig(model="simple_cn"), ["simple_cnn"])


def test_int_is_accepted_for_float_options():
    assert apply_overrides(TrainConfig(), {"lr": 1}).lr == 1.0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("lr = ", "not valid TOML"),
        ("[train]\nbatchsize = 3\n", "Did you mean batch_size"),
        ("train = 3\n", "must be a table"),
    ],
)
def test_broken_config_files(tmp_path: Path, text: str, needle: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        resolve_config(path, {})


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "nope.toml")


def test_preset_expands_and_command_line_wins(tmp_path):
    from mnist_tui.presets import PRESETS

    config = resolve_config(None, {"preset": "notebook", "lr": 0.05})
    assert config.preset == "notebook"
    assert config.batch_size == PRESETS["notebook"].settings["batch_size"]
    assert config.lr == 0.05  # the command line beats the preset


def test_preset_recorded_in_file_is_reapplied_below_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[train]\npreset = "notebook"\nbatch_size = 128\n')
    config = resolve_config(path, {})
    assert config.preset == "notebook" and config.batch_size == 128
    assert config.optimizer == "sgd"


def test_unknown_preset_is_refused_with_a_hint():
    with pytest.raises(ConfigError, match=r"--preset 'notebok'.*notebook"):
        resolve_config(None, {"preset": "notebok"})


def test_train_help_shows_every_default_and_the_choices(monkeypatch, capsys):
    from conftest import run_cli

    from mnist_tui.config import FIELDS

    monkeypatch.setenv("COLUMNS", "400")  # one line per option, so phrases do not wrap
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert "Peak learning rate. (default: 0.05)" in flat
    assert "Model architecture. See Models below. (default: simple_cnn)" in flat
    assert "Models: simple_cnn the seed notebook's" in flat
    assert "Optimizer. One of: sgd, adam, adamw. (default: sgd)" in flat
    assert "(default: off)" in flat  # booleans read on/off
    shown = [name for name, f in FIELDS.items() if f"(default: {f.default})" in flat]
    assert len(shown) >= 15, shown


def test_a_config_file_saved_with_a_byte_order_mark_reads(tmp_path):
    # Notepad's "UTF-8" puts EF BB BF in front; tomllib alone refuses it.
    path = tmp_path / "notepad.toml"
    path.write_bytes(b"\xef\xbb\xbf[train]\nlr = 0.2\n")
    assert load_config_file(path) == {"lr": 0.2}


def test_a_file_value_the_command_line_replaces_is_not_checked(tmp_path):
    # A run made under older limits (epochs = 1000000, relying on early stopping) can be
    # trained again from its config.toml with a valid --epochs.
    path = tmp_path / "old.toml"
    path.write_text("[train]\nepochs = 1000000\nlr = 0.2\n")
    config = resolve_config(path, {"epochs": 50})
    assert (config.epochs, config.lr) == (50, 0.2)
    with pytest.raises(ConfigError, match="--epochs must be at most 100000"):
        resolve_config(path, {})
