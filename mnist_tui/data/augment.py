"""Per-sample random affine and elastic augmentation of whole batches, on the device.

One `affine_grid` + `grid_sample` call warps a whole batch: every image gets its own
rotation, scale and shift, drawn in one vectorised call, so augmentation costs a small
fraction of a training step instead of a per-image Python loop. Elastic distortion
(Simard, Steinkraus and Platt, 2003) adds a smooth random displacement field per image to
the same sampling grid, so it costs one small blur and no second resampling. Labels are
untouched (the images keep their order). Images are normalised, so the background is not
0: the warp works on `image - background` and adds it back, which makes the area pulled
in from outside the frame background-coloured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class AffineAugment:
    """Random rotation (+-degrees), scale (1 +- scale), shift (+-pixels) and elastic
    distortion per image.

    The elastic field is uniform noise in [-1, 1] per pixel and axis, blurred by a
    Gaussian of `elastic_sigma` pixels and multiplied by `elastic_alpha` pixels (Simard et
    al. used alpha 34, sigma 4); 0 alpha turns it off.
    """

    rotate_degrees: float = 10.0
    scale: float = 0.1
    shift_pixels: float = 2.0
    background: float = 0.0  # the value of a blank pixel in the normalised images
    elastic_alpha: float = 0.0
    elastic_sigma: float = 5.0

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
        if self.elastic_alpha > 0:
            grid = grid + self.elastic_field(n, height, width, device, generator).to(grid.dtype)
        warped = F.grid_sample(images - self.background, grid, mode="bilinear", align_corners=False)
        return warped + self.background

    def elastic_field(
        self,
        n: int,
        height: int,
        width: int,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Smooth random displacements (N, H, W, 2), in affine_grid's units (x first)."""
        noise = torch.rand(n * 2, 1, height, width, device=device, generator=generator) * 2 - 1
        kernel = gaussian_kernel(self.elastic_sigma, device)
        half = kernel.numel() // 2
        # A separable blur: along rows, then along columns (zero padding: the frame's edge
        # moves less, which only touches background).
        blurred = F.conv2d(noise, kernel.view(1, 1, 1, -1), padding=(0, half))
        blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1), padding=(half, 0))
        pixels = blurred.view(n, 2, height, width).permute(0, 2, 3, 1) * self.elastic_alpha
        # affine_grid's coordinates run from -1 to 1 across the image: 2/size per pixel.
        to_grid = torch.tensor([2 / width, 2 / height], device=device)
        return pixels * to_grid

    @property
    def is_identity(self) -> bool:
        return (
            self.rotate_degrees == 0
            and self.scale == 0
            and self.shift_pixels == 0
            and self.elastic_alpha == 0
        )


def gaussian_kernel(sigma: float, device: torch.device | None = None) -> torch.Tensor:
    """A 1-D Gaussian of standard deviation `sigma` over +-3 sigma, summing to 1."""
    half = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-half, half + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()
