"""The drawing itself: strokes of a soft brush on a grid of ink values (numpy only).

The grid is the canvas widget's pixels: one column per character cell, two rows per cell
(half blocks). Ink is 0..1, light on dark like MNIST. Every stroke is kept, so undo
redraws the rest and a resized canvas redraws them all at the new size.

Strokes are stored in the frame of the grid they were first drawn on and shown scaled by
one factor for both axes, centred: a canvas that changes shape (a panel opening below
it) shows the same digit smaller, never squashed into another one.

The brush imitates MNIST's pen: a disc whose radius follows the canvas size (a digit
drawn across most of the canvas ends up with MNIST's stroke width once it is fitted into
20x20) with an edge that fades over a pixel or more, as anti-aliased scans do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Brush radius as a share of the canvas's shorter side (in pixels).
BRUSH_SHARE = 0.045
MIN_RADIUS = 1.2
#: The eraser is this much wider than the pen: rubbing out should not take precision.
ERASER_SCALE = 2.0


@dataclass
class Stroke:
    """One press-drag-release: points in grid pixels (row, column), ink or eraser."""

    erase: bool = False
    points: list[tuple[float, float]] = field(default_factory=list)


class Sketch:
    """Strokes on a (height x width) grid; `ink` is the rendered float32 grid."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = max(1, height), max(1, width)
        self.frame = (self.height, self.width)  # the grid the strokes' points refer to
        self.strokes: list[Stroke] = []
        self.ink = np.zeros((self.height, self.width), np.float32)
        self.version = 0  # bumped on every change: readers skip grids they have seen

    # --- frame -> grid -----------------------------------------------------------------

    @property
    def scale(self) -> float:
        return min(self.height / self.frame[0], self.width / self.frame[1])

    def _offset(self) -> tuple[float, float]:
        scale = self.scale
        return (
            (self.height - scale * self.frame[0]) / 2,
            (self.width - scale * self.frame[1]) / 2,
        )

    def to_grid(self, point: tuple[float, float]) -> tuple[float, float]:
        (top, left), scale = self._offset(), self.scale
        return (top + scale * point[0], left + scale * point[1])

    def to_frame(self, point: tuple[float, float]) -> tuple[float, float]:
        (top, left), scale = self._offset(), self.scale
        return ((point[0] - top) / scale, (point[1] - left) / scale)

    # --- the brush ---------------------------------------------------------------------

    @property
    def radius(self) -> float:
        """The pen's radius in grid pixels: a share of the frame, scaled with it."""
        return max(MIN_RADIUS, BRUSH_SHARE * self.scale * min(self.frame))

    def _stamp_segment(self, start: tuple[float, float], end: tuple[float, float], erase: bool):
        """Ink (or erase) every pixel near the segment start-end, with a soft edge."""
        radius = self.radius * (ERASER_SCALE if erase else 1.0)
        soft = max(1.0, 0.5 * radius)  # width of the fading edge, in pixels
        reach = radius + soft
        (r0, c0), (r1, c1) = start, end
        top = max(0, int(np.floor(min(r0, r1) - reach)))
        bottom = min(self.height, int(np.ceil(max(r0, r1) + reach)) + 1)
        left = max(0, int(np.floor(min(c0, c1) - reach)))
        right = min(self.width, int(np.ceil(max(c0, c1) + reach)) + 1)
        if top >= bottom or left >= right:
            return
        # Pixel centres sit at +0.5; distance from each to the segment.
        rows = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5
        cols = np.arange(left, right, dtype=np.float32)[None, :] + 0.5
        dr, dc = r1 - r0, c1 - c0
        length2 = dr * dr + dc * dc
        if length2 > 0:
            t = np.clip(((rows - r0) * dr + (cols - c0) * dc) / length2, 0.0, 1.0)
        else:
            t = np.zeros((1, 1), np.float32)
        distance = np.hypot(rows - (r0 + t * dr), cols - (c0 + t * dc))
        value = np.clip((radius - distance) / soft + 0.5, 0.0, 1.0).astype(np.float32)
        patch = self.ink[top:bottom, left:right]
        if erase:
            patch *= 1.0 - value
        else:
            np.maximum(patch, value, out=patch)

    # --- strokes -----------------------------------------------------------------------

    def begin(self, point: tuple[float, float], erase: bool = False) -> None:
        """Start a stroke at a grid point (a press): a dot is drawn at once."""
        self.strokes.append(Stroke(erase, [self.to_frame(point)]))
        self._stamp_segment(point, point, erase)
        self.version += 1

    def extend(self, point: tuple[float, float]) -> None:
        """Continue the current stroke to a grid point (a drag); starts one if none is."""
        if not self.strokes:
            self.begin(point)
            return
        stroke = self.strokes[-1]
        last = self.to_grid(stroke.points[-1])
        if last == point:
            return
        self._stamp_segment(last, point, stroke.erase)
        stroke.points.append(self.to_frame(point))
        self.version += 1

    def undo(self) -> bool:
        """Remove the last stroke; False when there was none."""
        if not self.strokes:
            return False
        self.strokes.pop()
        self.redraw()
        return True

    def clear(self) -> None:
        self.strokes.clear()
        self.redraw()

    def redraw(self) -> None:
        """Render every stroke again from a blank grid."""
        if not self.strokes:  # nothing drawn: the next strokes use the grid as it is now
            self.frame = (self.height, self.width)
        self.ink = np.zeros((self.height, self.width), np.float32)
        for stroke in self.strokes:
            points = [self.to_grid(p) for p in stroke.points]
            for start, end in zip(points, points[1:] or points, strict=False):
                self._stamp_segment(start, end, stroke.erase)
        self.version += 1

    def resize(self, height: int, width: int) -> None:
        """A new grid size: the strokes are drawn again, scaled to fit, centred."""
        height, width = max(1, height), max(1, width)
        if (height, width) == (self.height, self.width):
            return
        self.height, self.width = height, width
        self.redraw()

    @property
    def empty(self) -> bool:
        return not bool((self.ink > 0).any())

    def image_bytes(self) -> np.ndarray:
        """The ink as 8-bit greys (light on dark): what is saved and what the model reads."""
        return np.round(self.ink * 255.0).astype(np.uint8)
