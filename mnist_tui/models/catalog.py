"""One line per registered model, for `mnist train --help` and the README. Stdlib only.

Kept apart from models.py (which imports torch) so that `--help` stays fast; a test
checks that every model in the registry is described here with its true parameter count.
"""

from __future__ import annotations

MODEL_SUMMARIES: dict[str, str] = {
    "simple_cnn": "the seed notebook's 2-conv CNN (206,922 parameters); ~99.1% test accuracy",
    "bn_cnn": (
        "6-conv BatchNorm CNN, widths 24-48-96, global average pooling (162,562 parameters)"
    ),
    "bn_cnn_wide": "bn_cnn at widths 32-64-128 (288,170 parameters); the `best` preset's model",
    "fast_cnn": (
        "2-conv CNN, 5x5 then 3x3 unpadded convolutions, 16-32 maps (108,874 parameters);"
        " the `fast` preset's model, 99% in one epoch"
    ),
}


def models_help() -> str:
    """`name: summary` for every model, for the --model option's help."""
    return "; ".join(f"{name}: {summary}" for name, summary in MODEL_SUMMARIES.items())
