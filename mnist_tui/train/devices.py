"""Device and precision choices, resolved once per command with clear errors."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from mnist_tui.config import check_setting
from mnist_tui.errors import ConfigError


def resolve_device(spec: str) -> torch.device:
    """auto -> CUDA, then MPS, then CPU; an explicit device that is absent is an error."""
    check_setting("device", spec)  # the rule train applies, for every command
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {spec}: CUDA is not available on this machine. "
                "Use --device cpu (or auto)."
            )
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) here."
            )
        return torch.device("cuda", index)
    if spec == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: MPS is not available on this machine. Use --device cpu.")
    return torch.device(spec)


def cpu_supports_bf16() -> bool:
    """True where oneDNN has native bf16 kernels (AVX512-BF16 or AMX): autocast pays there.

    Elsewhere bf16 is emulated and slower than fp32, so `auto` keeps fp32.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(spec: str, device: torch.device) -> str:
    """auto -> bf16 autocast on CUDA GPUs and CPUs with native bf16, fp32 elsewhere.

    Native bf16 trains faster at the same accuracy; emulated bf16 is slower than fp32.
    `make bench` (benchmarks/levers.py) measures the lever on the machine at hand.
    """
    if spec == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        if device.type == "cpu" and cpu_supports_bf16():
            return "bf16"
        return "fp32"
    if spec == "fp16" and device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU.")
    return spec


def fast_layout(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """channels_last weights on CPU and CUDA: oneDNN/cuDNN convolutions run ~1.4-1.8x faster.

    Activations follow the weights' layout, so the (N, 1, 28, 28) inputs need no change.
    State dicts stay loadable into contiguous models (load_state_dict copies values).
    """
    if device.type in ("cpu", "cuda"):
        return model.to(memory_format=torch.channels_last)
    return model


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and torch; with `deterministic`, also force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this workspace setting to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
