"""Batch-wise data augmentation on tensors.

Augmenting a whole batch with a handful of tensor ops costs far less CPU than per-image PIL
transforms in DataLoader workers, which on a 2-core machine would steal cores from the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; a zero switches it off."""

    flip: float = 0.5  # probability of a horizontal flip
    rotate_deg: float = 10.0  # uniform in +-rotate_deg
    scale: float = 0.1  # zoom uniform in 1 +- scale
    translate: float = 0.1  # shift uniform in +- translate (fraction of the side)
    brightness: float = 0.2  # additive, uniform in +- brightness (pixels in 0..1)
    contrast: float = 0.2  # multiplicative around the image mean, 1 +- contrast
    erase: float = 0.5  # probability of erasing one random rectangle
    erase_area: tuple[float, float] = (0.02, 0.2)
    # Degradations that real photo crops have and FER2013's studio-like faces mostly lack:
    downscale: float = 0.0  # probability of a down-then-up resize (a small face upscaled)
    downscale_side: tuple[int, int] = (12, 40)  # side in pixels the face shrinks to
    blur: float = 0.0  # probability of a Gaussian blur (defocus, motion)
    blur_sigma: tuple[float, float] = (0.4, 1.5)
    gamma: float = 0.0  # probability of a gamma change (under- or over-exposure)
    gamma_range: tuple[float, float] = (0.6, 1.6)

    @classmethod
    def preset(cls, name: str) -> AugmentConfig:
        presets = {
            "none": cls(0, 0, 0, 0, 0, 0, 0),
            "light": cls(erase=0.0, rotate_deg=5.0, scale=0.05, translate=0.05),
            "strong": cls(),
            "real": cls(downscale=0.3, blur=0.2, gamma=0.3),
        }
        if name not in presets:
            raise ValueError(f"augmentation must be one of {', '.join(presets)}, got {name!r}")
        return presets[name]


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator | None = None
                  ) -> torch.Tensor:
    """Augment ``x`` (B, C, H, W) float in [0, 1]; returns a new tensor of the same shape."""
    b, _, h, w = x.shape

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=gen) * (hi - lo) + lo

    if cfg.flip > 0:
        flip = torch.rand(b, generator=gen) < cfg.flip
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if cfg.rotate_deg > 0 or cfg.scale > 0 or cfg.translate > 0:
        angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
        zoom = uniform(1 - cfg.scale, 1 + cfg.scale)
        tx = uniform(-cfg.translate, cfg.translate) * 2  # affine_grid spans [-1, 1]
        ty = uniform(-cfg.translate, cfg.translate) * 2
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if cfg.contrast > 0 or cfg.brightness > 0:
        mean = x.mean((1, 2, 3), keepdim=True)
        c = uniform(1 - cfg.contrast, 1 + cfg.contrast)[:, None, None, None]
        bright = uniform(-cfg.brightness, cfg.brightness)[:, None, None, None]
        x = ((x - mean) * c + mean + bright).clamp(0, 1)
    if cfg.downscale > 0:
        x = _down_up(x, cfg, gen)
    if cfg.blur > 0:
        x = _blur(x, cfg, gen)
    if cfg.gamma > 0:
        lo, hi = math.log(cfg.gamma_range[0]), math.log(cfg.gamma_range[1])
        g = torch.exp(uniform(lo, hi))
        g = torch.where(torch.rand(b, generator=gen) < cfg.gamma, g, torch.ones(b))
        x = x.clamp(1e-4, 1) ** g[:, None, None, None]
    if cfg.erase > 0:
        area = uniform(*cfg.erase_area) * h * w
        aspect = torch.exp(uniform(math.log(0.3), math.log(3.3)))
        eh = (area * aspect).sqrt().clamp(1, h).long()
        ew = (area / aspect).sqrt().clamp(1, w).long()
        top = (torch.rand(b, generator=gen) * (h - eh + 1)).long()
        left = (torch.rand(b, generator=gen) * (w - ew + 1)).long()
        rows = torch.arange(h)[None, :]
        cols = torch.arange(w)[None, :]
        in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
        in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
        mask = in_rows[:, :, None] & in_cols[:, None, :]
        mask &= (torch.rand(b, generator=gen) < cfg.erase)[:, None, None]
        noise = torch.rand(x.shape, generator=gen)
        x = torch.where(mask[:, None], noise, x)
    return x


def _down_up(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator | None) -> torch.Tensor:
    """Shrink a random subset of the batch to a random side and bring it back (area down,
    bilinear up): what a face of 16-40 px in a photo looks like once scaled to the input."""
    b, _, h, w = x.shape
    chosen = torch.nonzero(torch.rand(b, generator=gen) < cfg.downscale).flatten()
    if len(chosen) == 0:
        return x
    lo, hi = cfg.downscale_side
    side = int(torch.randint(lo, hi + 1, (1,), generator=gen))  # one side per batch: one resize
    if side >= min(h, w):
        return x
    small = F.interpolate(x[chosen], size=(side, side), mode="area")
    back = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    x = x.clone()
    x[chosen] = back
    return x


def _blur(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator | None) -> torch.Tensor:
    """Separable Gaussian blur of a random subset of the batch, one sigma per batch."""
    b, c, _, _ = x.shape
    chosen = torch.nonzero(torch.rand(b, generator=gen) < cfg.blur).flatten()
    if len(chosen) == 0:
        return x
    lo, hi = cfg.blur_sigma
    sigma = float(torch.rand(1, generator=gen)) * (hi - lo) + lo
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    sub = x[chosen]
    sub = F.conv2d(F.pad(sub, (radius, radius, 0, 0), mode="replicate"),
                   k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    sub = F.conv2d(F.pad(sub, (0, 0, radius, radius), mode="replicate"),
                   k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    x = x.clone()
    x[chosen] = sub
    return x
