"""Checkpoints that describe themselves, saved atomically, loaded without running code.

checkpoint.pt holds the best weights plus what rebuilds the model (name, args, classes,
mean/std); last.pt holds the whole training state for `--resume`. Both load with
`torch.load(path, map_location="cpu", weights_only=True)`.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnist_tui.config import DATASETS
from mnist_tui.errors import CheckpointError, brief, printable
from mnist_tui.fsutil import atomic_write_bytes, describe_os_error, open_regular
from mnist_tui.models.architectures import MODELS, build_model

FORMAT = "mnist_tui.checkpoint/1"
STATE_FORMAT = "mnist_tui.training_state/1"


#: Where save() records the checksum of a file's tensors; load() verifies it when present.
CHECKSUM = "tensors_sha256"


def tensors_digest(obj: Any) -> str:
    """sha256 over every tensor in `obj` (nested dicts/lists), with its key path, dtype
    and shape: a flipped byte anywhere in the weights (or optimizer state) changes it."""
    digest = hashlib.sha256()

    def walk(value: Any, where: str) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().to("cpu").contiguous()
            digest.update(f"{where}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                if key != CHECKSUM:
                    walk(value[key], f"{where}/{key}")
        elif isinstance(value, list | tuple):
            for number, item in enumerate(value):
                walk(item, f"{where}/{number}")

    walk(obj, "")
    return digest.hexdigest()


def save(obj: dict[str, Any], path: Path, checksum: bool = True) -> None:
    """torch.save through a temporary file and os.replace: never a truncated file.

    Serialised in memory first: torch's writer turns a failed write (disk full) into a
    RuntimeError without errno, while a plain write keeps the OSError that says why.
    A checksum of the tensors goes with them, so load() can tell a damaged file
    (checksum=False: a plain state_dict for other programs, e.g. an export's weights.pt).
    """
    buffer = io.BytesIO()
    torch.save({**obj, CHECKSUM: tensors_digest(obj)} if checksum else obj, buffer)
    atomic_write_bytes(path, buffer.getbuffer())


def make_checkpoint(
    *,
    model_name: str,
    model_args: dict[str, Any],
    classes: list[str],
    mean: float,
    std: float,
    state_dict: dict[str, torch.Tensor],
    epoch: int,
    val_acc: float,
    dataset: str,
    config: dict[str, Any],
) -> dict[str, Any]:
    """The contents of checkpoint.pt: weights plus everything needed to use them."""
    return {
        "format": FORMAT,
        "model": model_name,
        "model_args": model_args,
        "classes": list(classes),
        "mean": float(mean),
        "std": float(std),
        "input_size": [1, 28, 28],
        "dataset": dataset,
        "epoch": epoch,
        "val_acc": float(val_acc),
        "config": config,
        "torch_version": str(torch.__version__),
        # Cloned onto the CPU so that a GPU-trained file loads anywhere.
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in state_dict.items()},
    }


def load(path: Path, expected_format: str = FORMAT) -> dict[str, Any]:
    """Load a checkpoint safely (weights only, onto the CPU) or raise CheckpointError."""
    path = Path(path)
    try:
        source = open_regular(path)
    except FileNotFoundError:
        if path.is_symlink():
            target = os.readlink(path)
            raise CheckpointError(f"{path} is a link to {target}, which does not exist.") from None
        raise CheckpointError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder, not a checkpoint file.") from None
    except OSError as e:
        raise CheckpointError(f"Cannot read {path}: {describe_os_error(e)}.") from None
    try:
        # torch warns about odd pickle protocols on stderr: the error below says enough.
        with source, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses any pickle that would import or call code (a GLOBAL it
        # does not allow); other refusals are opcodes it does not read: not a checkpoint.
        reason = _refusal_reason(e)
        if reason is None:
            raise _unreadable(path) from None
        raise CheckpointError(
            f"{path} was refused: loading it would run code ({reason}). "
            "Only load checkpoints from sources you trust."
        ) from None
    except Exception:
        # A truncated zip, text with a .pt name or random bytes surface as RuntimeError,
        # EOFError, KeyError, OSError... from torch's reader: all mean "not readable", and
        # torch's wording of them ("pop from empty list") would not help the user.
        raise _unreadable(path) from None
    if not isinstance(obj, dict) or obj.get("format") != expected_format:
        raise CheckpointError(
            f"{path} is not an mnist checkpoint (expected format {expected_format})."
        )
    # Files saved before checksums were recorded have none: they load as before.
    recorded = obj.pop(CHECKSUM, None)
    if recorded is not None and recorded != tensors_digest(obj):
        raise CheckpointError(
            f"{path} is damaged: its weights no longer match the checksum saved with them "
            "(a disk or copy error). Use another run's checkpoint or train again."
        )
    if expected_format == FORMAT:
        _check_fields(obj, path)
    _check_finite(obj, path)
    return obj


#: What checkpoint.pt must hold, and of which type, for eval/predict/export to use it.
_FIELDS = {
    "model": str,
    "classes": list,
    "mean": (int, float),
    "std": (int, float),
    "dataset": str,
    "state_dict": dict,
}
#: Fields that may be absent (older files) but must be right when present.
_OPTIONAL = {"epoch": int, "val_acc": (int, float), "model_args": dict, "config": dict}
MAX_CLASSES = 1000


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def _check_fields(checkpoint: dict[str, Any], path: Path) -> None:
    """Every field eval/predict/export/inspect read, checked once here against training's
    rules: after this, consumers index the checkpoint without guarding each use. (Its
    `config` is a record, copied into exports, not used: only its type is checked.)"""
    problems = [f"{k} missing" for k in _FIELDS if k not in checkpoint]
    problems += [
        f"{k} is {type(checkpoint[k]).__name__}"
        for k, kind in {**_FIELDS, **_OPTIONAL}.items()
        if k in checkpoint and not _is(checkpoint[k], kind)
    ]
    if not problems:
        classes, mean, std = checkpoint["classes"], checkpoint["mean"], checkpoint["std"]
        if not 0 < len(classes) <= MAX_CLASSES or not all(isinstance(c, str) for c in classes):
            problems.append(f"classes must be 1 to {MAX_CLASSES} names")
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            problems.append(f"mean/std must be finite with std > 0, got {mean}/{std}")
        if checkpoint["dataset"] not in DATASETS:
            problems.append(f"unknown dataset {printable(checkpoint['dataset'], 40)!r}")
        val_acc = checkpoint.get("val_acc", 0.0)
        if not (math.isfinite(val_acc) and 0.0 <= val_acc <= 1.0):
            problems.append(f"val_acc {val_acc} is not an accuracy")
        if checkpoint.get("epoch", 0) < 0:
            problems.append("epoch is negative")
    if problems:
        detail = "; ".join(problems[:3])
        if "missing" in detail and all(p.endswith("missing") for p in problems):
            detail = ", ".join(p.removesuffix(" missing") for p in problems) + " missing"
        raise CheckpointError(
            f"{path} is damaged: {detail}. Use another run's checkpoint or train again."
        )
    checkpoint["classes"] = [printable(c) for c in checkpoint["classes"]]


def _check_finite(obj: dict[str, Any], path: Path) -> None:
    """NaN or infinite weights predict nothing (eval 9.8%, predict 'nan%'): refused."""
    state = obj.get("state_dict", obj.get("model"))
    if not isinstance(state, dict):
        return
    for name, tensor in state.items():
        floating = isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
        if floating and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{path} is damaged: its weights hold NaN or infinite values ({name}). "
                "Use another run's checkpoint or train again."
            )


def _unreadable(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path} is not a readable checkpoint (truncated, damaged or not a torch file). "
        "Use another run's checkpoint or train again."
    )


def _refusal_reason(error: BaseException) -> str | None:
    """The line of torch's refusal that names the call it blocked, if it names one."""
    for line in str(error).splitlines():
        if "GLOBAL" in line:
            return line.strip().rstrip(".")[:160]
    return None


def model_from_checkpoint(checkpoint: dict[str, Any], source: str = "checkpoint") -> nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (eval mode, CPU)."""
    name = checkpoint.get("model")
    if name not in MODELS:
        raise CheckpointError(f"{source} uses an unknown model {name!r}.")
    classes, model_args = checkpoint.get("classes"), checkpoint.get("model_args", {})
    if not isinstance(classes, list) or not classes or not isinstance(model_args, dict):
        raise CheckpointError(f"{source} lacks its class list or model arguments: damaged.")
    try:
        model = build_model(name, num_classes=len(classes), **model_args)
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(
            f"{source} does not fit the {name} architecture ({brief(e, 160)})."
        ) from None
    return model.eval()


def load_model(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """A run's checkpoint.pt -> (the model it describes with its weights, the checkpoint).

    The one way every command rebuilds a trained model: safe loading, the architecture
    from the registry, eval mode on the CPU (move it where it should run).
    """
    checkpoint = load(path)
    return model_from_checkpoint(checkpoint, source=str(path)), checkpoint
