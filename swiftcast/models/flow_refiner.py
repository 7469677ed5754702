"""Flow refiner: a small U-Net that corrects flow-extrapolated labels where warping the present goes wrong.

Flow extrapolation (:mod:`swiftcast.forecast.motion`) moves the newest frame's labels along the camera's optical
flow. It cannot know what comes into view, what a moving object uncovers, or where its constant-velocity guess
stretches a thin object; those errors follow patterns (where in the image, how fast and in which direction the
flow goes, how far ahead) that a network can learn from drives with ground truth.

The refiner sees, on a grid at 1/4 of the labels' resolution: the class fractions of the warped labels, the
chained displacement and the one-step flow (in grid cells), where the displacement leaves the image, the pixel
position and the number of flow steps. It outputs one residual score per class on that grid. The refined forecast
at a full-resolution pixel ``x`` is the argmax of ``scale * onehot(warped(x)) + residual(cell(x))``: the warped
label wins unless some class out-scores it by the learned margin ``scale``. The head starts at zero, so an
untrained refiner reproduces flow extrapolation exactly, and the sharp boundaries of the warp stay where the
refiner has nothing to say.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: the refiner's grid is this many label pixels per cell, in each direction
GRID_STRIDE = 4
#: input channels besides the class fractions: displacement (2), one-step flow (2), outside (1), y, x, steps
EXTRA_CHANNELS = 8


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


def class_fractions(labels_half: torch.Tensor, num_classes: int, grid: Sequence[int]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(class fractions (N, K, h, w) on the refiner's grid, one-hot (N, K, H/2, W/2)) of labels taken every second
    pixel (N, H/2, W/2); ignore ids count as the last class (they are rare in the single-frame labels)."""
    onehot = F.one_hot(labels_half.long().clamp(max=num_classes - 1), num_classes).permute(0, 3, 1, 2).float()
    return F.adaptive_avg_pool2d(onehot, tuple(grid)), onehot


class FlowRefiner(nn.Module):
    """Residual class scores on a stride-4 grid for flow-extrapolated labels (see the module docstring).

    Args:
        num_classes: classes of the labels it refines.
        widths: channels of the four encoder levels (strides 4, 8, 16, 32 of the labels).
    """

    def __init__(self, num_classes: int = 19, widths: Sequence[int] = (32, 48, 64, 96)) -> None:
        super().__init__()
        w = [int(v) for v in widths]
        self.num_classes = int(num_classes)
        self.widths = w
        self.enc = nn.ModuleList([_block(num_classes + EXTRA_CHANNELS, w[0])]
                                 + [_block(w[i - 1], w[i], 2) for i in range(1, len(w))])
        self.lat = nn.ModuleList([nn.Conv2d(w[i], w[0], 1) for i in range(len(w))])
        self.fuse = nn.ModuleList([nn.Sequential(nn.Conv2d(w[0], w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]),
                                                 nn.ReLU(inplace=True)) for _ in range(len(w) - 1)])
        self.head = nn.Conv2d(w[0], num_classes, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        #: the margin by which a residual must beat the warped label (learned)
        self.scale = nn.Parameter(torch.tensor(3.0))

    def residual(self, fractions: torch.Tensor, displacement: torch.Tensor, flow: torch.Tensor,
                 steps: torch.Tensor) -> torch.Tensor:
        """Residual scores (N, K, h, w) from the grid inputs: class fractions (N, K, h, w), chained displacement
        and one-step flow (N, 2, h, w) in grid cells (x, y), flow steps (N,)."""
        n, _, h, w = displacement.shape
        ys = torch.linspace(-1, 1, h, device=displacement.device).view(1, 1, h, 1).expand(n, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=displacement.device).view(1, 1, 1, w).expand(n, 1, h, w)
        gx = torch.arange(w, device=displacement.device).view(1, 1, w) + displacement[:, 0]
        gy = torch.arange(h, device=displacement.device).view(1, h, 1) + displacement[:, 1]
        outside = ((gx < 0) | (gx > w - 1) | (gy < 0) | (gy > h - 1)).float()[:, None]
        x = torch.cat([fractions, displacement / 16, flow / 4, outside, ys, xs,
                       steps.float().view(n, 1, 1, 1).expand(n, 1, h, w) / 3], 1)
        levels = []
        for encode in self.enc:
            x = encode(x)
            levels.append(x)
        y = self.lat[-1](levels[-1])
        for i in range(len(levels) - 2, -1, -1):
            y = F.interpolate(y, size=levels[i].shape[-2:], mode="bilinear", align_corners=False)
            y = y + self.lat[i](levels[i])
            y = self.fuse[i](y)
        return self.head(y)

    def forward(self, warped_half: torch.Tensor, displacement: torch.Tensor, flow: torch.Tensor,
                steps: torch.Tensor) -> torch.Tensor:
        """Training scores at half the labels' resolution (N, K, H/2, W/2) from the warped labels taken every
        second pixel (N, H/2, W/2) and the grid inputs of :meth:`residual`."""
        fractions, onehot = class_fractions(warped_half, self.num_classes, displacement.shape[-2:])
        res = self.residual(fractions, displacement, flow, steps)
        return self.scale * onehot + F.interpolate(res, size=onehot.shape[-2:], mode="nearest")

    @torch.no_grad()
    def refine(self, warped: torch.Tensor, displacement: torch.Tensor, flow: torch.Tensor,
               steps: torch.Tensor) -> torch.Tensor:
        """Refined labels (N, H, W) int64 of warped labels (N, H, W), H and W multiples of 8: the exact
        full-resolution argmax of ``scale * onehot(warped) + residual(cell)`` without building it (a pixel takes
        its cell's best class where that beats the warped label's score by ``scale``)."""
        n, height, width = warped.shape
        fractions, _ = class_fractions(warped[:, ::2, ::2], self.num_classes, displacement.shape[-2:])
        res = self.residual(fractions, displacement, flow, steps).float()  # (N, K, h, w)
        h, w = res.shape[-2:]
        best_score, best = res.max(1)
        rows = torch.arange(height, device=warped.device) // GRID_STRIDE
        cols = torch.arange(width, device=warped.device) // GRID_STRIDE
        cell = (rows[:, None] * w + cols[None, :]).expand(n, height, width)
        current = warped.long().clamp(max=self.num_classes - 1)
        at_warped = torch.gather(res.reshape(n, -1), 1, (current * (h * w) + cell).reshape(n, -1))
        at_warped = at_warped.view(n, height, width)
        take = best_score.reshape(n, -1).gather(1, cell.reshape(n, -1)).view(n, height, width) > self.scale + at_warped
        replacement = best.reshape(n, -1).gather(1, cell.reshape(n, -1)).view(n, height, width)
        return torch.where(take, replacement, warped.long())


def flow_refiner(num_classes: int = 19, widths: Sequence[int] = (32, 48, 64, 96)) -> FlowRefiner:
    """The flow refiner (about 0.3 M parameters with the default widths)."""
    return FlowRefiner(num_classes, widths)
