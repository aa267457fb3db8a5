"""Checkpoints that describe themselves, saved atomically, loaded without running code.

checkpoint.pt holds the best weights plus what rebuilds the model (name, args, classes,
mean/std); last.pt holds the whole training state for `--resume`. Both load with
`torch.load(path, map_location="cpu", weights_only=True)`.
"""

from __future__ import annotations

import io
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnist_tui.errors import CheckpointError, brief
from mnist_tui.fsutil import atomic_write_bytes
from mnist_tui.models.architectures import MODELS, build_model

FORMAT = "mnist_tui.checkpoint/1"
STATE_FORMAT = "mnist_tui.training_state/1"


def save(obj: dict[str, Any], path: Path) -> None:
    """torch.save through a temporary file and os.replace: never a truncated file.

    Serialised in memory first: torch's writer turns a failed write (disk full) into a
    RuntimeError without errno, while a plain write keeps the OSError that says why.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
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
    if not path.exists():
        if path.is_symlink():
            raise CheckpointError(f"{path} is a link to {os.readlink(path)}, which does not exist.")
        raise CheckpointError(f"{path} does not exist.")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file.")
    try:
        # torch warns about odd pickle protocols on stderr: the error below says enough.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
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
    if expected_format == FORMAT:
        _check_fields(obj, path)
    return obj


#: What checkpoint.pt must hold, and of which type, for eval/predict/export to use it.
_FIELDS = {"model": str, "classes": list, "mean": (int, float), "std": (int, float)}


def _check_fields(checkpoint: dict[str, Any], path: Path) -> None:
    bad = [k for k, kind in _FIELDS.items() if not isinstance(checkpoint.get(k), kind)]
    if not isinstance(checkpoint.get("state_dict"), dict):
        bad.append("state_dict")
    if bad or not checkpoint["classes"] or checkpoint["std"] == 0:
        raise CheckpointError(
            f"{path} is damaged: {', '.join(bad) or 'classes/std'} missing or of the wrong "
            "type. Use another run's checkpoint or train again."
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
