"""The upsampling path of SwiftNet: pre-activation units, the ladder with lateral skips, the skip-less decoder.

Every unit is BN -> ReLU -> conv (pre-activation, as in the official SwiftNet code), so it can read the backbone's
pre-ReLU features directly. The ladder and the skip-less forecast decoder share one block type; the decoder simply
never receives a lateral skip, which is what lets it decode *forecast* features for which no skips exist.
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


class SkiplessDecoder(nn.Module):
    """Maps stride-32 features to logits without lateral skips (the decoder of forecast features).

    Same structure as the ladder (blend steps doubling the resolution, then BN-ReLU-1x1 logits) but with its own
    weights: it is trained in a second stage with everything else frozen.

    ``widths``: output channels of each blend step (default: ``num_stages`` x ``num_features``, the ladder's
    shape, which ends at stride 4). A narrower and/or shorter decoder is the forecast node's budget option: it runs
    once per horizon per frame, and the full-width one costs ~1.6 GMAC at 256x512, a quarter of the whole
    segmentation. With fewer than 3 steps the convolutions stop at a coarser stride and the logits are upsampled
    bilinearly to stride 4, so every decoder hands out logits at :attr:`output_stride` alike.
    """

    #: stride of the input features
    feature_stride: int = 32
    #: the stride of the logits returned with ``upsample_logits=False`` (whatever stride the convolutions end at)
    output_stride: int = 4

    def __init__(
        self, num_features: int, num_classes: int, num_stages: int = 3, widths: Sequence[int] | None = None
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths] if widths else [num_features] * num_stages
        if not 1 <= len(widths) <= 3 or min(widths) < 1:
            raise ValueError(f"decoder widths {widths}: 1 to 3 positive channel counts (stride 32 -> 16 -> 8 -> 4)")
        self.widths = tuple(widths)
        self.conv_stride = self.feature_stride // 2 ** len(widths)
        channels = [num_features, *widths]
        self.blends = nn.ModuleList(UpsampleBlend(c_in, out_features=c_out) for c_in, c_out in zip(channels, widths))
        self.logits = BNReLUConv(widths[-1], num_classes, k=1, bias=True)
        init_head(self)

    def forward(
        self, features: torch.Tensor, out_size: tuple[int, int] | None = None, upsample_logits: bool = True
    ) -> torch.Tensor:
        """Logits for an image of ``out_size`` (default: 32x the features): bilinearly upsampled to ``out_size``,
        or with ``upsample_logits=False`` left at :attr:`output_stride` (``size_at_stride(out_size, 4)``), which
        is all an argmax needs: the upsampling and an argmax over 16x more pixels cost more than the convs."""
        if out_size is None:
            out_size = (features.shape[-2] * self.feature_stride, features.shape[-1] * self.feature_stride)
        x = features
        stride = self.feature_stride
        for blend in self.blends:
            stride //= 2
            x = blend(x, size=size_at_stride(out_size, stride))
        logits = self.logits(x)
        if upsample_logits:
            return upsample(logits, out_size)
        if self.conv_stride != self.output_stride:
            logits = upsample(logits, size_at_stride(out_size, self.output_stride))
        return logits
