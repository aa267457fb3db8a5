"""Numbers as people read them: durations and percentages. Standard library only."""

from __future__ import annotations

from mnist_tui.errors import printable  # re-exported: the UI's one text cleaner

__all__ = ["format_seconds", "percent", "printable"]


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
