"""The search space of a sweep: `--param K=SPEC` and `--space FILE`, checked up front.

Standard library only (Optuna is imported where distributions are made), so a typo in a
spec is refused in milliseconds, before any study, data or model exists. Every value a
range can reach, and every choice, passes the same checks as `mnist train` (config.FIELDS).

Spec grammar (the type comes from the setting, not from the text):
  low..high          a uniform range          lr=0.01..0.1   batch_size=32..256
  low..high:log      log-uniform (low > 0)    lr=1e-3..1e-1:log
  low..high:STEP     a stepped range          batch_size=32..256:32
  a,b,c              choices                  optimizer=sgd,adam   augment=true,false
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mnist_tui.config import FIELDS, check_setting, read_toml
from mnist_tui.errors import ConfigError
from mnist_tui.models.catalog import MODEL_SUMMARIES

#: Settings a sweep may not search: they name the run or pick the recipe, or (dataset)
#: change what the objective measures, so trials would not be comparable.
NOT_SEARCHABLE = frozenset({"name", "preset", "dataset"})
_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}


@dataclass(frozen=True)
class Param:
    """One searched setting: a float or int range, or a list of choices."""

    name: str
    kind: str  # "float" | "int" | "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["choices"] = list(self.choices)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Param:
        return cls(**{**data, "choices": tuple(data.get("choices", ()))})

    def describe(self) -> str:
        """The spec as typed on the command line: `1e-3..1e-1:log`, `sgd,adam`."""
        if self.kind == "choice":
            return ",".join(_show(c) for c in self.choices)
        suffix = ":log" if self.log else (f":{_show(self.step)}" if self.step else "")
        return f"{_show(self.low)}..{_show(self.high)}{suffix}"

    def grid_values(self) -> list[Any]:
        """Every value the grid sampler visits; a continuous range has no grid."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            if not self.log:
                return list(range(int(self.low), int(self.high) + 1, step))
        elif self.step and not self.log:
            count = math.floor((self.high - self.low) / self.step + 1e-9)
            return [round(self.low + i * self.step, 12) for i in range(count + 1)]
        raise ConfigError(
            f"--sampler grid needs a list of values for {self.name} "
            f"(e.g. {self.name}={_grid_hint(self)}), not the continuous range {self.describe()}."
        )

    def distribution(self) -> Any:
        """The Optuna distribution of this parameter."""
        import optuna

        if self.kind == "choice":
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return optuna.distributions.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return optuna.distributions.FloatDistribution(
            float(self.low), float(self.high), log=self.log, step=self.step
        )


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _grid_hint(param: Param) -> str:
    low, high = float(param.low), float(param.high)
    if param.log:
        return ",".join(_show(low * (high / low) ** (i / 2)) for i in range(3))
    return ",".join(_show(low + (high - low) * i / 2) for i in range(3))


def _option(name: str) -> str:
    return "--param " + name


def check_name(name: str, source: str = "--param") -> str:
    """The TrainConfig field a parameter name means (`batch-size` -> `batch_size`)."""
    field = name.strip().replace("-", "_")
    if field not in FIELDS:
        close = difflib.get_close_matches(field, FIELDS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"{source}: {name!r} is not a training setting.{hint}")
    if field in NOT_SEARCHABLE:
        raise ConfigError(
            f"{source}: {field} cannot be searched (trials name themselves, and each trial "
            "must measure the same thing); set it as an option instead."
        )
    return field


def _value(name: str, text: str, source: str) -> Any:
    """One typed value of setting `name`, parsed from text and checked like `mnist train`."""
    expected = type(FIELDS[name].default)
    raw = text.strip()
    try:
        if expected is bool:
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError
            value: Any = raw.lower() in _TRUE
        elif expected is int:
            number = float(raw)  # so that 1e3 is accepted for an integer setting
            if not number.is_integer():
                raise ValueError
            value = int(number)
        elif expected is float:
            value = float(raw)
        else:
            value = raw
    except ValueError:
        kind = {bool: "true or false", int: "a whole number", float: "a number"}[expected]
        raise ConfigError(f"{source}: {name} values must be {kind}, got {raw!r}.") from None
    return _checked(name, value, source)


def _checked(name: str, value: Any, source: str) -> Any:
    try:
        check_setting(name, value)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    if name == "model" and value not in MODEL_SUMMARIES:
        close = difflib.get_close_matches(str(value), MODEL_SUMMARIES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(MODEL_SUMMARIES)
        raise ConfigError(f"{source}: {value!r} is not a known model ({known}).{hint}")
    expected = type(FIELDS[name].default)
    return float(value) if expected is float and not isinstance(value, bool) else value


def _range(name: str, spec: str, source: str) -> Param:
    expected = type(FIELDS[name].default)
    if expected not in (int, float):
        raise ConfigError(
            f"{source}: {name} is not a number, so it takes choices (e.g. {name}=a,b), not a range."
        )
    bounds, _, modifier = spec.partition(":")
    low_text, _, high_text = bounds.partition("..")
    if not low_text.strip() or not high_text.strip():
        raise ConfigError(f"{source}: a range is LOW..HIGH (e.g. {name}=1e-3..1e-1:log).")
    low, high = _value(name, low_text, source), _value(name, high_text, source)
    log, step = False, None
    modifier = modifier.strip()
    if modifier == "log":
        log = True
    elif modifier:
        step = _value(name, modifier, source) if expected is int else _number(modifier, source)
        if not step or step <= 0:
            raise ConfigError(f"{source}: the step of {name}'s range must be positive.")
    return _make_range(name, expected, low, high, log, step, source)


def _number(text: str, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(
            f"{source}: after ':' a range takes `log` or a step, got {text!r}."
        ) from None
    if not math.isfinite(value):
        raise ConfigError(f"{source}: the step must be a finite number, got {text!r}.")
    return value


def _make_range(
    name: str, expected: type, low: Any, high: Any, log: bool, step: Any, source: str
) -> Param:
    if not low < high:
        raise ConfigError(
            f"{source}: the range of {name} must go from low to high, got "
            f"{_show(low)}..{_show(high)}."
        )
    if log and low <= 0:
        raise ConfigError(f"{source}: a :log range needs a positive low end, got {_show(low)}.")
    if step is not None and step > high - low:
        raise ConfigError(f"{source}: the step {_show(step)} is wider than the range of {name}.")
    kind = "int" if expected is int else "float"
    return Param(name, kind, low=low, high=high, log=log, step=step)


def _choices(name: str, values: list[Any], source: str) -> Param:
    if len(values) < 2:
        option = "--" + name.replace("_", "-")
        shown = _show(values[0]) if values else "VALUE"
        raise ConfigError(
            f"{source}: {name} has a single value, which is no search: set it with "
            f"`{option} {shown}` instead."
        )
    if len(set(values)) != len(values):
        raise ConfigError(f"{source}: {name} lists a value twice.")
    return Param(name, "choice", choices=tuple(values))


def parse_param(text: str) -> Param:
    """`K=SPEC` from the command line -> a checked Param, or a one-line ConfigError."""
    key, sep, spec = text.partition("=")
    if not sep or not key.strip() or not spec.strip():
        raise ConfigError(
            f"--param {text!r}: expected NAME=SPEC, e.g. lr=1e-3..1e-1:log, "
            "batch_size=32..256:32 or optimizer=sgd,adam."
        )
    name = check_name(key)
    source = f"--param {name}"
    if ".." in spec:
        return _range(name, spec.strip(), source)
    return _choices(name, [_value(name, v, source) for v in spec.split(",")], source)


def parse_space_file(path: Path) -> list[Param]:
    """A TOML search space: `[params]` (or the top level) of specs, lists or tables.

    [params]
    lr = "1e-3..1e-1:log"              # the --param grammar
    batch_size = [64, 128, 256]        # choices
    momentum = { low = 0.8, high = 0.99 }  # a table: low, high, log, step
    """
    document = read_toml(Path(path))
    table = document.get("params", document)
    if not isinstance(table, dict) or not table:
        raise ConfigError(f'{path}: no parameters; put them under [params], e.g. lr = "0.01..0.1".')
    params = []
    for key, value in table.items():
        name = check_name(key, str(path))
        source = f"{path}: {name}"
        if isinstance(value, str):
            params.append(parse_param(f"{name}={value}"))
        elif isinstance(value, list):
            params.append(_choices(name, [_checked(name, v, source) for v in value], source))
        elif isinstance(value, dict):
            params.append(_table(name, value, source))
        else:
            raise ConfigError(
                f"{source} must be a spec string, a list of choices or a table "
                f"{{low, high, log, step}}, got {value!r}."
            )
    return params


def _table(name: str, value: dict[str, Any], source: str) -> Param:
    stray = sorted(set(value) - {"low", "high", "log", "step"})
    if stray or "low" not in value or "high" not in value:
        raise ConfigError(f"{source}: a range table takes low, high and optionally log, step.")
    expected = type(FIELDS[name].default)
    if expected not in (int, float):
        raise ConfigError(f"{source}: {name} is not a number, so it takes a list of choices.")
    low, high = _checked(name, value["low"], source), _checked(name, value["high"], source)
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{source}: log must be true or false.")
    step = value.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int | float)):
        raise ConfigError(f"{source}: step must be a number.")
    if step is not None and step <= 0:
        raise ConfigError(f"{source}: the step of {name}'s range must be positive.")
    if log and step:
        raise ConfigError(f"{source}: a range is either log or stepped, not both.")
    return _make_range(name, expected, low, high, log, step, source)


def build_space(specs: list[str], space_file: Path | None) -> list[Param]:
    """The checked space from `--space FILE` and `--param` (a --param replaces the file's)."""
    params = {p.name: p for p in (parse_space_file(space_file) if space_file else [])}
    seen: set[str] = set()
    for text in specs:
        param = parse_param(text)
        if param.name in seen:
            raise ConfigError(f"--param {param.name} is given twice.")
        seen.add(param.name)
        params[param.name] = param
    if not params:
        raise ConfigError(
            "Nothing to search: give --param NAME=SPEC (e.g. --param lr=1e-3..1e-1:log) "
            "or --space FILE."
        )
    return list(params.values())


def grid_size(space: list[Param]) -> int:
    """How many combinations the grid sampler runs (refusing continuous ranges)."""
    return math.prod(len(p.grid_values()) for p in space)
