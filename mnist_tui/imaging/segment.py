"""Ink mask -> digits, left to right.

Connected components (scikit-image) are the pieces of ink. Specks, the remains of paper
lines and blobs far weaker than the writing are dropped; pieces that lie above one
another (a 5's detached bar, a 4 drawn in two strokes, a broken stroke) are joined into
one digit; groups far wider than a digit are cut at the thinnest column near where the
digits should meet, or marked as touching digits that could not be split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mnist_tui.imaging.normalise import stroke_width

SPECK_SHARE = 0.02  # pieces under 2% of the largest piece's area are specks...
MIN_PIECE = 4  # ...and so are pieces of fewer pixels than this
WEAK_SHARE = 0.3  # a piece whose ink is under 30% as strong as the writing's is not ink
LINE_LENGTH = 2.5  # a thin piece this many times longer than a digit is a paper line
LINE_THINNESS = 0.12  # ...when its short side is under this share of its long side
SHORT_GROUP = 0.3  # groups under 30% of the tallest group's height are dots and dashes
OVERLAP = 0.5  # pieces overlapping by half the narrower's width belong to one digit
FRAGMENT = 0.6  # a group under 60% of the tallest's height is part of a digit (a 5's bar)
NEAR = 0.3  # ...when it is within 30% of the tallest's height of a digit beside it
WIDE = 1.8  # a group wider than this times its height may hold several digits...
DIGIT_ASPECT = 0.75  # ...about width / (0.75 * height) of them
CUT_WINDOW = 0.25  # search for a cut within this share of a digit's width of the guess
THIN_JOIN = 1.2  # a cut through at most this many stroke widths of ink is a clean split
PART_HEIGHT = 0.6  # every part of a cut must be this share of the group's height: a wide
# 7 or 2 cut through its bar leaves a flat part, so it is one wide digit after all


@dataclass
class Group:
    """One digit's ink: a bounding box (working pixels) and the component labels in it."""

    top: int
    left: int
    bottom: int  # exclusive
    right: int  # exclusive
    labels: list[int] = field(default_factory=list)
    cut: bool = False  # cut out of touching digits
    touching: bool = False  # looks like several digits that could not be split

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def mask(self, labels: np.ndarray) -> np.ndarray:
        """This group's ink within its box."""
        window = labels[self.top : self.bottom, self.left : self.right]
        return np.isin(window, self.labels)


@dataclass(frozen=True)
class Piece:
    label: int
    top: int
    left: int
    bottom: int
    right: int
    area: int
    strength: float  # 90th percentile of the piece's ink


def pieces(mask: np.ndarray, ink: np.ndarray) -> tuple[np.ndarray, list[Piece]]:
    """(label image, the connected components of the mask)."""
    from skimage.measure import label, regionprops

    labels = label(mask, connectivity=2)
    found = []
    for region in regionprops(labels, intensity_image=ink):
        top, left, bottom, right = region.bbox
        values = region.image_intensity[region.image]
        found.append(
            Piece(
                region.label,
                top,
                left,
                bottom,
                right,
                int(region.area),
                float(np.percentile(values, 90)),
            )
        )
    return labels, found


def keep_writing(found: list[Piece], shape: tuple[int, int]) -> list[Piece]:
    """Drop specks, weak blobs and the remains of paper lines."""
    if not found:
        return []
    largest = max(p.area for p in found)
    found = [p for p in found if p.area >= max(MIN_PIECE, SPECK_SHARE * largest)]
    if not found:
        return []
    strongest = max(p.strength for p in found)
    found = [p for p in found if p.strength >= WEAK_SHARE * strongest]
    largest = max(p.area for p in found)  # the largest piece may have been a weak blob
    big = [p for p in found if p.area >= 0.25 * largest]
    digit_height = float(np.median([p.bottom - p.top for p in big]))
    kept = []
    for p in found:
        long_side = max(p.bottom - p.top, p.right - p.left)
        short_side = min(p.bottom - p.top, p.right - p.left)
        thin = short_side < LINE_THINNESS * long_side
        crosses = (p.left == 0 and p.right == shape[1]) or (p.top == 0 and p.bottom == shape[0])
        if thin and (crosses or long_side > LINE_LENGTH * digit_height):
            continue
        kept.append(p)
    return kept


def group_pieces(found: list[Piece]) -> list[Group]:
    """Join pieces that overlap horizontally into digits, ordered left to right."""
    groups: list[Group] = []
    for p in sorted(found, key=lambda p: (p.left, p.top)):
        target = None
        for g in groups:
            overlap = min(g.right, p.right) - max(g.left, p.left)
            if overlap >= OVERLAP * min(g.width, p.right - p.left):
                target = g
                break
        if target is None:
            groups.append(Group(p.top, p.left, p.bottom, p.right, [p.label]))
        else:
            target.top, target.left = min(target.top, p.top), min(target.left, p.left)
            target.bottom, target.right = max(target.bottom, p.bottom), max(target.right, p.right)
            target.labels.append(p.label)
    if not groups:
        return []
    tallest = max(g.height for g in groups)
    groups = attach_fragments(sorted(groups, key=lambda g: g.left), tallest)
    return [g for g in groups if g.height >= SHORT_GROUP * tallest]


def attach_fragments(groups: list[Group], tallest: int) -> list[Group]:
    """Join groups far shorter than a digit (a detached bar, a broken stroke) to the
    nearest full-height digit beside them, when it is close."""
    whole = [g for g in groups if g.height >= FRAGMENT * tallest]
    if not whole:
        return groups
    kept = list(whole)
    for part in (g for g in groups if g.height < FRAGMENT * tallest):
        gaps = [max(d.left - part.right, part.left - d.right, 0) for d in whole]
        nearest = int(np.argmin(gaps))
        if gaps[nearest] > NEAR * tallest:
            kept.append(part)
            continue
        target = whole[nearest]
        target.top, target.left = min(target.top, part.top), min(target.left, part.left)
        target.bottom = max(target.bottom, part.bottom)
        target.right = max(target.right, part.right)
        target.labels.extend(part.labels)
    return sorted(kept, key=lambda g: g.left)


def one_group(found: list[Piece]) -> list[Group]:
    """Every piece of writing as one digit (`predict --single`)."""
    if not found:
        return []
    return [
        Group(
            min(p.top for p in found),
            min(p.left for p in found),
            max(p.bottom for p in found),
            max(p.right for p in found),
            [p.label for p in found],
        )
    ]


def split_touching(group: Group, labels: np.ndarray) -> list[Group]:
    """Cut a group far wider than a digit at the thinnest columns near the expected joins.

    A cut through more than THIN_JOIN stroke widths of ink is not where two digits
    touch: the group is then kept whole and marked `touching`.
    """
    if group.width <= WIDE * group.height:
        return [group]
    mask = group.mask(labels)
    count = max(2, round(group.width / (DIGIT_ASPECT * group.height)))
    profile = mask.sum(axis=0)
    limit = THIN_JOIN * stroke_width(mask)
    step = group.width / count
    window = max(1, int(CUT_WINDOW * step))
    cuts = []
    for k in range(1, count):
        guess = int(k * step)
        low, high = max(1, guess - window), min(group.width - 1, guess + window + 1)
        if high <= low:
            continue
        cut = low + int(np.argmin(profile[low:high]))
        if profile[cut] > limit:
            group.touching = True
            return [group]
        cuts.append(cut)
    parts = []
    for start, end in zip([0, *cuts], [*cuts, group.width], strict=True):
        columns = mask[:, start:end]
        rows = np.flatnonzero(columns.any(axis=1))
        if rows.size == 0 or rows[-1] + 1 - rows[0] < PART_HEIGHT * group.height:
            return [group]  # a flat part: one wide digit, not several
        part = Group(
            group.top + int(rows[0]),
            group.left + start,
            group.top + int(rows[-1]) + 1,
            group.left + end,
            list(group.labels),
            cut=True,
        )
        parts.append(part)
    return parts or [group]


def find_digits(
    mask: np.ndarray, ink: np.ndarray, single: bool = False
) -> tuple[np.ndarray, list[Group]]:
    """(label image, digit groups left to right) for an ink mask."""
    labels, found = pieces(mask, ink)
    writing = keep_writing(found, mask.shape)
    if single:
        return labels, one_group(writing)
    groups = []
    for group in group_pieces(writing):
        groups.extend(split_touching(group, labels))
    return labels, groups
