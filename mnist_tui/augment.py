"""Per-sample random affine augmentation of whole batches, on the training device.

One `affine_grid` + `grid_sample` call warps a whole batch: every image gets its own
rotation, scale and shift, drawn in one vectorised call, so augmentation costs a small
fraction of a training step instead of a per-image Python loop. Labels are untouched
(the images keep their order). Images are normalised, so the background is not 0: the
warp works on `image - background` and adds it back, which makes the area pulled in
from outside the frame background-coloured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class AffineAugment:
    """Random rotation (+-degrees), scale (1 +- scale) and shift (+-pixels) per image."""

    rotate_degrees: float = 10.0
    scale: float = 0.1
    shift_pixels: float = 2.0
    background: float = 0.0  # the value of a blank pixel in the normalised images

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A randomly warped copy of `images` (N, C, H, W), same shape, dtype and device.

        Random numbers come from `generator` when given (it must live on the images'
        device), else from torch's global RNG, which seeding and `last.pt` cover.
        """
        if self.is_identity:
            return images
        n, _, height, width = images.shape
        device = images.device
        # One draw of 4 numbers per image in [-1, 1): angle, scale, shift x, shift y.
        u = torch.rand(n, 4, device=device, generator=generator) * 2 - 1
        angle = u[:, 0] * math.radians(self.rotate_degrees)
        zoom = 1 + u[:, 1] * self.scale
        # affine_grid's coordinates run from -1 to 1 across the image: 2/size per pixel.
        shift_x = u[:, 2] * self.shift_pixels * 2 / width
        shift_y = u[:, 3] * self.shift_pixels * 2 / height
        # The grid maps output to input coordinates, so the inverse zoom gives a zoom.
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            [
                torch.stack([cos, -sin, shift_x], dim=1),
                torch.stack([sin, cos, shift_y], dim=1),
            ],
            dim=1,
        ).to(images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        warped = F.grid_sample(images - self.background, grid, mode="bilinear", align_corners=False)
        return warped + self.background

    @property
    def is_identity(self) -> bool:
        return self.rotate_degrees == 0 and self.scale == 0 and self.shift_pixels == 0
