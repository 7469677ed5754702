"""F2MF: joint forecasting of features and feature motion (Šarić, Oršić, Antunović, Vražić, Šegvić, CVPR 2020).

One trunk over the stacked past features (oldest first, the input convention of :mod:`swiftcast.models.f2f`) and
local correlations between consecutive past maps feeds three heads:

- ``motion`` (2 channels, dx and dy in feature pixels, zero-initialised): for every pixel of the future frame,
  where it was in frame t (a backward displacement), so warping frame t with ``grid_sample`` moves the scene;
- ``f2f`` (C channels, zero-initialised residual on frame t's features, as ConvF2F / DeformF2F-8): what motion
  cannot explain, i.e. what appears (disocclusions, objects entering the view);
- ``blend`` (1 channel, a logit, initialised at +2 so the warped branch dominates): the per-pixel weight w of the
  warped branch.

Feature level (``forward``, for MSE training and feature-level evaluation): ``w * warp(F_t, motion) + (1 - w) *
f2f``. Fine level (:meth:`F2MF.forecast_fine`): the upsampled motion warps *the last frame's single-frame output at
stride 4* (its one-hot labels, which the live node has anyway) and the upsampled weights blend it with the
skip-less decoding of the f2f branch. A zero motion with w = 1 reproduces the single-frame labels of frame t
exactly, so the model only has to learn the motion and the disocclusions; at initialisation (w ≈ 0.88 > 1/2) its
labels already are the single-frame labels of frame t.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from swiftcast.models.f2f import Forecaster

#: features (N, C, h, w) -> skip-less decoder logits (N, K, H, W) at its output stride 4
Decode = Callable[[torch.Tensor], torch.Tensor]


def local_correlation(a: torch.Tensor, b: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Cosine similarity of every pixel of ``b`` with the pixels of ``a`` within ``radius`` (a (2r+1)^2-channel
    cost volume, zero where the displacement leaves the map): channel (dy + r) * (2r + 1) + (dx + r) holds
    <b(y, x), a(y + dy, x + dx)>, i.e. evidence that the content of ``b`` at (y, x) came from there in ``a``."""
    a = F.normalize(a.float(), dim=1)
    b = F.normalize(b.float(), dim=1)
    h, w = b.shape[-2:]
    padded = F.pad(a, (radius, radius, radius, radius))
    out = [
        (b * padded[:, :, dy : dy + h, dx : dx + w]).sum(1, keepdim=True)
        for dy in range(2 * radius + 1)
        for dx in range(2 * radius + 1)
    ]
    return torch.cat(out, dim=1)


def displacement_grid(motion: torch.Tensor) -> torch.Tensor:
    """Backward displacement (N, 2, h, w) in pixels (dx, dy) -> ``grid_sample`` grid (N, h, w, 2) that reads
    every output pixel (y, x) at (y + dy, x + dx) of the input (align_corners=False pixel centres)."""
    n, _, h, w = motion.shape
    ys = torch.arange(h, device=motion.device, dtype=motion.dtype).view(1, h, 1)
    xs = torch.arange(w, device=motion.device, dtype=motion.dtype).view(1, 1, w)
    gx = (2 * (xs + motion[:, 0]) + 1) / w - 1
    gy = (2 * (ys + motion[:, 1]) + 1) / h - 1
    return torch.stack((gx, gy), dim=-1)


def warp(x: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``x`` (N, K, h, w) by ``motion`` (N, 2, h, w) in pixels of ``x``; bilinear, border padding
    (what leaves the view repeats the edge instead of fading to zero, which no class or feature means)."""
    grid = displacement_grid(motion.float())
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def resize_motion(motion: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """A displacement field in pixels of its own grid -> the same physical motion on a grid of ``size``."""
    h, w = motion.shape[-2:]
    up = F.interpolate(motion.float(), size=tuple(size), mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], device=motion.device, dtype=up.dtype).view(1, 2, 1, 1)
    return up * scale


def one_hot_labels(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """trainIds (N, H, W) -> one-hot class probabilities (N, K, H, W) float32 (ids >= K, e.g. ignore, are all 0)."""
    classes = torch.arange(num_classes, device=labels.device).view(1, num_classes, 1, 1)
    return (labels.long().unsqueeze(1) == classes).float()


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, k: int = 3, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, k, padding=dilation * (k // 2), dilation=dilation,
                              bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")


class F2MF(Forecaster):
    """Forecast features and feature motion, warp frame t, blend (see the module docstring).

    ``dilations``: one 3x3 layer of ``width`` channels per entry after the 1x1 and the first 3x3 (dilated layers
    widen the receptive field to the motion of the mid-term horizon at stride 32).
    """

    needs_last_labels = True

    def __init__(
        self,
        in_channels: int = 128,
        num_past: int = 4,
        width: int = 128,
        radius: int = 3,
        dilations: tuple[int, ...] = (1, 2, 2, 1),
        blend_init: float = 2.0,
    ) -> None:
        super().__init__(in_channels, num_past)
        self.radius = radius
        corr = (num_past - 1) * (2 * radius + 1) ** 2
        layers = [ConvBNReLU(in_channels * num_past + corr, 2 * width, 1), ConvBNReLU(2 * width, width, 3)]
        layers += [ConvBNReLU(width, width, 3, d) for d in dilations]
        self.trunk = nn.Sequential(*layers)
        self.motion = nn.Conv2d(width, 2, 3, padding=1)
        self.f2f = nn.Conv2d(width, in_channels, 3, padding=1)
        self.blend = nn.Conv2d(width, 1, 3, padding=1)
        for head in (self.motion, self.f2f, self.blend):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        nn.init.constant_(self.blend.bias, blend_init)

    def heads(self, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Past (N, P*C, h, w) -> (motion (N, 2, h, w) in feature pixels, f2f features (N, C, h, w), blend
        logits (N, 1, h, w))."""
        last = self.last_frame(past)
        maps = past.split(self.in_channels, dim=1)
        corr = [local_correlation(a, b, self.radius) for a, b in zip(maps[:-1], maps[1:])]
        x = self.trunk(torch.cat([past, *[c.to(past.dtype) for c in corr]], dim=1))
        return self.motion(x).float(), last + self.f2f(x), self.blend(x).float()

    def forward(
        self, past: torch.Tensor, last_fine: torch.Tensor | None = None, decode: Decode | None = None
    ) -> torch.Tensor:
        """Forecast features (N, C, h, w); with ``last_fine`` and ``decode``, :meth:`forecast_fine` (one entry
        point, so that DistributedDataParallel sees the fine-level forward too)."""
        if last_fine is not None:
            if decode is None:
                raise ValueError("the fine-level forecast needs decode= (the skip-less decoder)")
            return self.forecast_fine(past, last_fine, decode)
        motion, f2f, blend = self.heads(past)
        w = torch.sigmoid(blend)
        return w * warp(self.last_frame(past), motion) + (1 - w) * f2f.float()

    def forecast_fine(self, past: torch.Tensor, last_fine: torch.Tensor, decode: Decode) -> torch.Tensor:
        """Class probabilities (N, K, H, W) of the future frame at the decoder's output stride.

        ``last_fine``: frame t's single-frame output on that grid, as trainIds (N, H, W) (one-hot encoded here) or
        class probabilities (N, K, H, W); ``decode``: the skip-less decoder, features -> logits on that grid.
        """
        motion, f2f, blend = self.heads(past)
        logits = decode(f2f)
        size = logits.shape[-2:]
        if last_fine.dim() == 3:
            last_fine = one_hot_labels(last_fine, logits.shape[1])
        if tuple(last_fine.shape[-2:]) != tuple(size) or last_fine.shape[1] != logits.shape[1]:
            raise ValueError(f"last frame's fine output must be (N, {logits.shape[1]}, {size[0]}, {size[1]}) or "
                             f"(N, {size[0]}, {size[1]}) labels; got {tuple(last_fine.shape)}")
        w = torch.sigmoid(F.interpolate(blend, size=tuple(size), mode="bilinear", align_corners=False))
        warped = warp(last_fine, resize_motion(motion, size))
        return w * warped + (1 - w) * torch.softmax(logits.float(), dim=1)


def f2mf(in_channels: int = 128, num_past: int = 4, width: int = 128, radius: int = 3) -> F2MF:
    """F2MF with a 6-layer trunk (1x1 to 2*width, 3x3 to width, 3x3 at dilations 1, 2, 2, 1) and ±``radius``
    correlations between consecutive past maps."""
    return F2MF(in_channels, num_past, width, radius)
