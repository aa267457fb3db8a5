"""`s` in `mnist draw`: the drawing as a PNG that `mnist predict` reads the same way.

The file holds exactly the 8-bit grid the live reading prepares (light ink on black,
the canvas's own size), so predict's preparation sees the same pixels.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from mnist_tui.errors import MnistError
from mnist_tui.fsutil import atomic_write_bytes


def free_name(folder: Path, stem: str, suffix: str = ".png") -> Path:
    """folder/stem.png, or stem-2.png, stem-3.png ... when taken: nothing is overwritten."""
    candidate = folder / f"{stem}{suffix}"
    number = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{number}{suffix}"
        number += 1
    return candidate


def save_png(grey: np.ndarray, folder: Path, now: datetime | None = None) -> Path:
    """Write the 8-bit drawing as drawing-<local time>.png in `folder`; return its path."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(grey, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = free_name(folder, f"drawing-{stamp}")
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as e:
        raise MnistError(f"Cannot save the drawing in {folder}: {e.strerror or e}.") from None
    return path
