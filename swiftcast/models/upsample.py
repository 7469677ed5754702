"""The upsampling path of SwiftNet: pre-activation units and the ladder with lateral skips.

Every unit is BN -> ReLU -> conv (pre-activation, as in the official SwiftNet code), so it can read the backbone's
pre-ReLU features directly. The skip-less forecast decoder (:mod:`swiftcast.forecast.decoder`) is built from the same
block; it simply never receives a lateral skip, which is what lets it decode *forecast* features.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def upsample(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize (align_corners=False), the only interpolation the head uses."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def size_at_stride(size: tuple[int, int] | torch.Size, stride: int) -> tuple[int, int]:
    """Spatial size of a feature map at ``stride`` for an input of ``size``.

    Every stride-2 layer in our backbones (3x3/7x7 convs and max-pool with padding k//2) yields ceil(n / 2), so the
    map at stride s has ceil(n / s) pixels: inputs that are not multiples of 32 work everywhere.
    """
    return math.ceil(size[0] / stride), math.ceil(size[1] / stride)


class BNReLUConv(nn.Sequential):
    """BatchNorm -> ReLU -> k x k conv (padding k // 2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        k: int = 3,
        bias: bool = False,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels, momentum=bn_momentum)
        self.relu = nn.ReLU(inplace=False)  # inputs are often tensors we also keep (skips, features)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=k, padding=k // 2, bias=bias)


class UpsampleBlend(nn.Module):
    """One ladder step: upsample the coarse map, add a lateral skip (if any), blend with BN-ReLU-3x3.

    ``skip_channels``: channels of the raw skip, which then goes through its own BN-ReLU-1x1 bottleneck to
    ``num_features`` (SwiftNet). ``None``: the skip arrives already at ``num_features`` (pyramid fusion sums
    bottlenecked skips before this block) or there is none at all (the skip-less decoder).
    """

    def __init__(
        self,
        num_features: int,
        skip_channels: int | None = None,
        k: int = 3,
        bn_momentum: float = 0.1,
        out_features: int | None = None,
    ) -> None:
        super().__init__()
        self.skip = (
            BNReLUConv(skip_channels, num_features, k=1, bn_momentum=bn_momentum)
            if skip_channels is not None
            else None
        )
        self.blend = BNReLUConv(num_features, out_features or num_features, k=k, bn_momentum=bn_momentum)

    def forward(
        self,
        x: torch.Tensor,
        skip: torch.Tensor | None = None,
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        if skip is not None:
            if self.skip is not None:
                skip = self.skip(skip)
            x = upsample(x, skip.shape[-2:]) + skip
        else:
            if size is None:
                raise ValueError("UpsampleBlend needs a skip or a target size")
            x = upsample(x, size)
        return self.blend(x)


def init_head(module: nn.Module) -> None:
    """Initialise the randomly-initialised parts like the official code (He fan-out convs, unit BN)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
