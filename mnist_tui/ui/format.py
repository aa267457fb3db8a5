"""Numbers as people read them: durations, percentages, a run's recipe. Standard library
only."""

from __future__ import annotations

from typing import Any

from mnist_tui.errors import printable  # re-exported: the UI's one text cleaner

__all__ = ["format_seconds", "percent", "printable", "recipe_short"]


def format_seconds(seconds: float) -> str:
    """12.3 -> '12.3s', 754 -> '12m34s', 7300 -> '2h01m'."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def percent(value: float | None) -> str:
    """0.9912 -> '99.12%'; None (nothing measured) -> '-'."""
    return "-" if value is None else f"{value:.2%}"


# --- a run's recipe, from its config.toml [train] table: the dashboard's header,
# `mnist runs` and `mnist show` word it the same way.
def recipe_fields(train: dict[str, Any]) -> dict[str, Any]:
    """optimizer, lr, scheduler and preset ("" for none) of a run; None where unrecorded."""
    lr = train.get("lr")
    return {
        "optimizer": train.get("optimizer") if isinstance(train.get("optimizer"), str) else None,
        "lr": lr if isinstance(lr, int | float) and not isinstance(lr, bool) else None,
        "scheduler": train.get("scheduler") if isinstance(train.get("scheduler"), str) else None,
        "preset": train.get("preset") if isinstance(train.get("preset"), str) else None,
    }


def recipe_short(train: dict[str, Any]) -> str:
    """'sgd 0.05 cosine', 'fast: adam 0.01 onecycle': for a table column."""
    fields = recipe_fields(train)
    parts = [
        fields["optimizer"] or "?",
        "?" if fields["lr"] is None else f"{fields['lr']:g}",
        fields["scheduler"] or "?",
    ]
    text = " ".join(parts)
    if parts == ["?", "?", "?"]:
        text = "-"
    return f"{fields['preset']}: {text}" if fields["preset"] else text


def recipe_line(train: dict[str, Any]) -> str:
    """'sgd lr 0.05, momentum 0.9 · cosine schedule · preset fast · augmented': a sentence."""
    fields = recipe_fields(train)
    optimizer = fields["optimizer"] or "?"
    first = f"{optimizer} lr {'?' if fields['lr'] is None else format(fields['lr'], 'g')}"
    momentum = train.get("momentum")
    if isinstance(momentum, int | float) and momentum:
        first += f", {'momentum' if optimizer == 'sgd' else 'beta1'} {momentum:g}"
    decay = train.get("weight_decay")
    if isinstance(decay, int | float) and decay:
        first += f", weight decay {decay:g}"
    parts = [first]
    scheduler = fields["scheduler"]
    parts.append("constant lr" if scheduler in ("none", "", None) else f"{scheduler} schedule")
    parts.append(f"preset {fields['preset']}" if fields["preset"] else "no preset")
    if train.get("augment") is True:
        parts.append("augmented")
    ema = train.get("ema")
    if isinstance(ema, int | float) and ema:
        parts.append(f"EMA {ema:g}")
    return " · ".join(parts)
