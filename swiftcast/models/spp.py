"""SwiftNet's spatial pyramid pooling: the context module on top of the stride-32 backbone features."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from swiftcast.models.upsample import BNReLUConv, upsample

#: BN momentum of the SPP units. The official code uses 0.005 (very slow running statistics, fitting a 250-epoch
#: schedule); our models train for far fewer iterations, so we use 0.01: still smooths the noisy statistics of the
#: tiny pooled grids, but the running estimates settle within a few hundred iterations.
SPP_BN_MOMENTUM = 0.01


class SpatialPyramidPooling(nn.Module):
    """BN-ReLU-1x1 bottleneck, then average pooling on grids of ``grids`` rows (columns follow the aspect ratio),
    each level BN-ReLU-1x1 to ``num_features // len(grids)`` channels, upsampled and concatenated with the
    bottleneck, then BN-ReLU-1x1 to ``num_features``."""

    def __init__(
        self,
        in_channels: int,
        num_features: int = 128,
        grids: Sequence[int] = (8, 4, 2),
        bn_momentum: float = SPP_BN_MOMENTUM,
    ) -> None:
        super().__init__()
        self.grids = tuple(int(g) for g in grids)
        level_size = num_features // len(self.grids)
        self.bottleneck = BNReLUConv(in_channels, num_features, k=1, bn_momentum=bn_momentum)
        self.levels = nn.ModuleList(
            BNReLUConv(num_features, level_size, k=1, bn_momentum=bn_momentum) for _ in self.grids
        )
        self.fuse = BNReLUConv(
            num_features + level_size * len(self.grids), num_features, k=1, bn_momentum=bn_momentum
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (int(x.shape[-2]), int(x.shape[-1]))  # plain ints: the grid is a constant in traced/exported graphs
        aspect = size[1] / size[0]
        x = self.bottleneck(x)
        out = [x]
        for rows, level in zip(self.grids, self.levels):
            pooled = F.adaptive_avg_pool2d(x, (rows, max(1, round(aspect * rows))))
            out.append(upsample(level(pooled), size))
        return self.fuse(torch.cat(out, dim=1))
