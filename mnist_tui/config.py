"""TrainConfig: every setting of a training run, its defaults, validation and TOML I/O.

Standard library only (plus tomli_w for writing), so `mnist --help` stays fast.
Precedence is built-in defaults < `--preset` < `--config` file < options on the command line.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_tui import fsutil
from mnist_tui.errors import ConfigError
from mnist_tui.presets import PRESETS

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DATASETS = ("mnist", "fashion")
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _opt(default: Any, help: str, **rules: Any) -> Any:
    """A dataclass field whose help text and validation rules travel with it."""
    return field(default=default, metadata={"help": help, **rules})


@dataclass
class TrainConfig:
    """Every resolved setting of a training run; config.toml's [train] table."""

    # The seed notebook's model: small enough to train in seconds on a CPU.
    model: str = _opt("simple_cnn", "Model architecture.")
    dataset: str = _opt("mnist", "Dataset to train on.", choices=DATASETS)
    # 20 epochs with patience 5 lets early stopping, not the epoch cap, end most runs.
    epochs: int = _opt(20, "Maximum number of epochs.", min=1, max=100_000)
    # Twice the notebook's 64: ~2x the images/s on a CPU (fewer, larger oneDNN calls), and
    # with the raised lr below one epoch is as accurate as the notebook's (`make bench`).
    batch_size: int = _opt(128, "Training batch size.", min=1, max=60000)
    # The notebook's SGD 0.01 scaled up for batch 128 and a decaying schedule, which
    # lowers it again long before it could diverge (docs/benchmarks.md has the figures).
    lr: float = _opt(0.05, "Peak learning rate.", min_exclusive=0.0, max=100.0)
    momentum: float = _opt(0.9, "SGD momentum (Adam's beta1 for adam/adamw).", min=0.0, max=1.0)
    # PyTorch's default. The `fast` preset lowers it to 0.9: in a one-epoch run the
    # squared-gradient average must follow the quickly changing gradients.
    beta2: float = _opt(
        0.999,
        "Adam/AdamW beta2, the decay of the squared-gradient average.",
        min=0.0,
        max_exclusive=1.0,
    )
    weight_decay: float = _opt(0.0, "L2 weight decay.", min=0.0, max=1.0)
    optimizer: str = _opt("sgd", "Optimizer.", choices=OPTIMIZERS)
    # Cosine decay over the run's --epochs: the high early lr learns fast, the low late lr
    # settles; with the larger lr it is what keeps a one-epoch run accurate.
    scheduler: str = _opt("cosine", "Learning-rate schedule.", choices=SCHEDULERS)
    # Stop after this many epochs without a better validation accuracy; 0 turns it off.
    patience: int = _opt(
        5, "Early-stopping patience in epochs (0: never stop early).", min=0, max=100_000
    )
    # 5,000 images is the usual MNIST validation split: enough to rank epochs reliably.
    # Every int has a max: TOML ints are unbounded, and torch's are 64-bit.
    val_size: int = _opt(
        5000, "Images held out of the training set for validation.", min=1, max=1_000_000
    )
    label_smoothing: float = _opt(0.0, "Label smoothing of the loss.", min=0.0, max_exclusive=1.0)
    augment: bool = _opt(False, "Random affine augmentation of training batches.")
    # NumPy's and torch's generators take seeds below 2**32 everywhere.
    seed: int = _opt(42, "Seed for initialisation, split and data order.", min=0, max=2**32 - 1)
    deterministic: bool = _opt(False, "Use deterministic algorithms (reproducible, slower).")
    device: str = _opt("auto", "auto, cpu, cuda, cuda:N or mps.", pattern=_DEVICE_PATTERN)
    # auto: bf16 autocast on CUDA and on CPUs with native bf16 (AVX512-BF16/AMX), where it
    # is faster at the same accuracy; fp32 elsewhere.
    precision: str = _opt("auto", "Numeric precision.", choices=PRECISIONS)
    name: str = _opt("", "Name used in the run id instead of the model name.")
    # Recorded so a run's config.toml says which recipe it came from; the expanded values
    # sit beside it, so re-applying the preset when the file is read changes nothing.
    preset: str = _opt(
        "", "Named recipe that sets several options at once.", choices=("", *PRESETS)
    )
    # Off by default: it changes what a checkpoint holds. 0.999 averages roughly the last
    # 1,000 steps (~2 epochs at batch 128), which smooths the noise of the final epochs.
    ema: float = _opt(
        0.0,
        "Keep an exponential moving average of the weights with this decay (e.g. 0.999) "
        "and evaluate and checkpoint it instead of the raw weights; 0 turns it off.",
        min=0.0,
        max_exclusive=1.0,
    )
    # Augmentation strength (used with --augment). MNIST digits are centred by their
    # centre of mass in a 20x20 box, so small rotations, zooms and shifts stay realistic.
    augment_rotate: float = _opt(
        10.0, "--augment: maximum rotation in degrees.", min=0.0, max=180.0
    )
    augment_scale: float = _opt(
        0.1, "--augment: maximum zoom in or out (0.1: 90% to 110%).", min=0.0, max_exclusive=1.0
    )
    augment_shift: float = _opt(2.0, "--augment: maximum shift in pixels.", min=0.0, max=14.0)
    # Elastic distortion mimics the wobble of handwriting (Simard et al. 2003: alpha 34,
    # sigma 4); alpha scales the displacements, sigma (pixels) sets how smooth they are.
    augment_elastic: float = _opt(
        0.0, "--augment: elastic distortion strength alpha in pixels (0: off).", min=0.0, max=100.0
    )
    augment_elastic_sigma: float = _opt(
        5.0, "--augment: smoothness of the elastic field in pixels.", min=1.0, max=14.0
    )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}


def help_for(name: str, more: str = "") -> str:
    """The help text of a TrainConfig field, with its choices and default.

    Round brackets, not typer's "[default: X]": the options default to None (so that a
    value given on the command line can be told from one that was not), which leaves
    typer nothing to show, and Rich would read square brackets here as markup and drop
    them.
    """
    f = FIELDS[name]
    text = f.metadata["help"]
    choices = [c for c in f.metadata.get("choices", ()) if c]
    if choices:
        text += f" One of: {', '.join(choices)}."
    if more:
        text += f" {more}"
    if isinstance(f.default, bool):
        text += f" (default: {'on' if f.default else 'off'})"
    elif f.default != "":
        text += f" (default: {f.default})"
    return text


def _check_type(name: str, value: Any) -> Any:
    """Coerce `value` to the field's type or raise ConfigError naming the option."""
    expected = type(FIELDS[name].default)
    if expected is bool:
        if isinstance(value, bool):
            return value
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # `lr = 1` and 400 zeros: TOML ints have no size limit
                option = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"{option} must be a finite number, got {_shown(value)}."
                ) from None
    elif isinstance(value, str):
        return value
    option = "--" + name.replace("_", "-")
    raise ConfigError(
        f"{option} must be {expected.__name__}, got {type(value).__name__} {value!r}."
    )


def _shown(value: Any) -> Any:
    """A value for a message: a huge int as its size, not hundreds of digits."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a {round(value.bit_length() * 0.30103)}-digit number"
    return value


def _check_rules(name: str, value: Any) -> None:
    meta = FIELDS[name].metadata
    option = "--" + name.replace("_", "-")
    if isinstance(value, str) and not value.isprintable():
        # A name from a non-UTF-8 terminal arrives with surrogate escapes (not printable)
        # that no TOML file can hold; control characters would garble the tables.
        raise ConfigError(f"{option} {value!r} must be printable UTF-8 text.")
    if isinstance(value, float) and not math.isfinite(value):
        # NaN passes every range comparison below, and inf trains to NaN.
        raise ConfigError(f"{option} must be a finite number, got {value}.")
    if "choices" in meta and value not in meta["choices"]:
        close = difflib.get_close_matches(str(value), meta["choices"], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        choices = ", ".join(c for c in meta["choices"] if c)  # "" means "none" for --preset
        raise ConfigError(f"{option} {value!r} is not one of {choices}.{hint}")
    if "pattern" in meta and not meta["pattern"].fullmatch(value):
        raise ConfigError(f"{option} {value!r} is not valid: {meta['help']}")
    shown = _shown(value)
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"{option} must be at least {meta['min']}, got {shown}.")
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"{option} must be at most {meta['max']}, got {shown}.")
    if "min_exclusive" in meta and value <= meta["min_exclusive"]:
        raise ConfigError(f"{option} must be greater than {meta['min_exclusive']}, got {value}.")
    if "max_exclusive" in meta and value >= meta["max_exclusive"]:
        raise ConfigError(f"{option} must be less than {meta['max_exclusive']}, got {value}.")


def unknown_key_error(key: str, source: str) -> ConfigError:
    close = difflib.get_close_matches(key, FIELDS, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"Unknown setting {key!r} in {source}.{hint}")


def apply_overrides(
    config: TrainConfig, overrides: dict[str, Any], source: str = "the command line"
) -> TrainConfig:
    """A copy of `config` with `overrides` applied, each checked by type and range."""
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in FIELDS:
            raise unknown_key_error(key, source)
        try:
            value = _check_type(key, value)
            _check_rules(key, value)
        except ConfigError as e:
            # Say where a bad value came from when it was not typed on the command line.
            from_option = source == "the command line" or source.startswith("--")
            raise (e if from_option else ConfigError(f"{source}: {e}")) from None
        checked[key] = value
    return dataclasses.replace(config, **checked)


def check_setting(name: str, value: Any) -> None:
    """Check one value of a TrainConfig field (type and rules), naming its option."""
    _check_rules(name, _check_type(name, value))


def validate(config: TrainConfig, known_models: list[str] | None = None) -> None:
    """Check every field of a complete config; `known_models` from the model registry."""
    for name in FIELDS:
        check_setting(name, getattr(config, name))
    if known_models is not None and config.model not in known_models:
        close = difflib.get_close_matches(config.model, known_models, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"--model {config.model!r} is not a known model ({', '.join(known_models)}).{hint}"
        )


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a one-line ConfigError."""
    try:
        return fsutil.read_toml(path)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except IsADirectoryError:
        raise ConfigError(f"Config file {path} is a directory, not a TOML file.") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"Config file {path} is not valid TOML: {e}.") from None
    except RecursionError:
        raise ConfigError(f"Config file {path} nests tables or arrays too deeply.") from None
    except OSError as e:
        raise ConfigError(
            f"Config file {path} cannot be read: {fsutil.describe_os_error(e)}."
        ) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"Config file {path} cannot be read: {e}.") from None


def load_config_file(path: Path) -> dict[str, Any]:
    """The training settings of a config file: its [train] table, or its top level.

    A run's config.toml keeps the settings under [train] beside [run]/[environment]/[data]
    tables; a hand-written file may put them at the top level.
    """
    document = read_toml(path)
    settings = document.get("train", document)
    if not isinstance(settings, dict):
        raise ConfigError(f"Config file {path}: [train] must be a table.")
    informational = {"run", "environment", "data"} if "train" in document else set()
    if "train" in document:
        stray = [k for k in document if k not in informational | {"train"}]
        if stray:
            raise ConfigError(
                f"Config file {path}: settings outside [train] ({', '.join(stray)}) would be "
                "ignored: move them under [train]."
            )
    return {k: v for k, v in settings.items() if k not in informational}


def resolve_config(config_file: Path | None, cli_overrides: dict[str, Any]) -> TrainConfig:
    """Defaults < preset < config file < command line, each layer checked."""
    file_settings = load_config_file(config_file) if config_file is not None else {}
    config = TrainConfig()
    preset = cli_overrides.get("preset", file_settings.get("preset", ""))
    if preset:
        config = apply_overrides(config, {"preset": preset}, "--preset")
        config = apply_overrides(config, PRESETS[preset].settings, f"preset {preset!r}")
    # A file value the command line replaces is never used, so it is not checked either.
    file_settings = {k: v for k, v in file_settings.items() if k not in cli_overrides}
    if file_settings:
        config = apply_overrides(config, file_settings, str(config_file))
    return apply_overrides(config, cli_overrides)
