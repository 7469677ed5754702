"""SwiftNet with pyramid fusion (Orsic & Segvic, Pattern Recognition 2021).

The ResNet-18 backbone runs on the image at scales 1, 1/2, 1/4 (bicubic downsampling, as the official code) with
shared conv weights and a separate BatchNorm per scale (image statistics differ per scale). Every stage output
(pre-ReLU) goes through a 1x1 bottleneck to 128 channels; the bottleneck of a stage is shared by all scales, like
the official code (same backbone weights -> same feature semantics). Bottleneck maps at the same stride relative to
the full image are summed: strides 4 ... 128 (the 1/4-scale layer4). The ladder has 2 + n_scales blend steps from
the coarsest stride up to 4; there is no SPP (the coarse scales provide the context).

``features(x)`` is the fused map after the blends down to stride 32 (128 channels), so forecasting and the
skip-less forecast decoder work exactly as for single-scale SwiftNet.
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from swiftcast.models.resnet import ResNetBackbone
from swiftcast.models.swiftnet import SegmentationModel
from swiftcast.models.upsample import UpsampleBlend, init_head, size_at_stride

_BACKBONE_STRIDES = (4, 8, 16, 32)


class MultiScaleBatchNorm2d(nn.Module):
    """One BatchNorm2d per pyramid scale; the caller says which scale it is running (``forward(x, scale)``)."""

    def __init__(self, num_features: int, num_scales: int) -> None:
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm2d(num_features) for _ in range(num_scales))

    def forward(self, x: torch.Tensor, scale: int = 0) -> torch.Tensor:
        return self.bns[scale](x)


def _block_at_scale(block: nn.Module, x: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision BasicBlock with the BatchNorms of ``scale``; returns (post-ReLU, pre-ReLU) outputs.

    Written out rather than switching a per-module "current scale" attribute: no hidden state, so the model stays
    traceable/exportable and safe to share between threads.
    """
    identity = x
    if block.downsample is not None:
        conv, norm = block.downsample
        identity = norm(conv(x), scale)
    out = F.relu(block.bn1(block.conv1(x), scale))
    out = block.bn2(block.conv2(out), scale) + identity
    return F.relu(out), out


class PyramidResNetBackbone(ResNetBackbone):
    """ResNet-18 with shared convs and per-scale BatchNorms; ``forward(x, scale)``."""

    def __init__(self, num_scales: int = 3) -> None:
        super().__init__(norm_layer=partial(MultiScaleBatchNorm2d, num_scales=num_scales))
        self.num_scales = num_scales

    def forward(self, x: torch.Tensor, scale: int = 0) -> list[torch.Tensor]:  # type: ignore[override]
        x = self.maxpool(F.relu(self.bn1(self.conv1(x), scale)))
        outputs = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in stage:
                x, preact = _block_at_scale(block, x, scale)
            outputs.append(preact)
        return outputs

    @staticmethod
    def source_key(key: str) -> str:
        """``layer1.0.bn1.bns.2.weight`` <- torchvision ``layer1.0.bn1.weight``: each scale starts from the same BN."""
        head, sep, tail = key.partition(".bns.")
        return f"{head}.{tail.split('.', 1)[1]}" if sep else key


class SwiftNetPyramid(SegmentationModel):
    def __init__(
        self,
        num_classes: int = 19,
        num_features: int = 128,
        num_scales: int = 3,
    ) -> None:
        super().__init__(num_classes, num_features)
        self.num_scales = num_scales
        self.backbone = PyramidResNetBackbone(num_scales)
        self.bottlenecks = nn.ModuleList(
            nn.Conv2d(c, num_features, kernel_size=1, bias=False) for c in self.backbone.out_channels
        )
        # coarse to fine: strides 4 * 2**(2 + num_scales) / 2, ..., 4; the first num_scales - 1 produce `features`
        self.upsample = nn.ModuleList(UpsampleBlend(num_features) for _ in range(2 + num_scales))
        self.num_coarse = num_scales - 1
        for part in (self.bottlenecks, self.upsample, self.logits):
            init_head(part)

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        # sizes ceil(n / 2**s) keep every feature map of every scale aligned with the full-scale one
        size = x.shape[-2:]
        return [x] + [
            F.interpolate(x, size=size_at_stride(size, 2**s), mode="bicubic", align_corners=False)
            for s in range(1, self.num_scales)
        ]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fused: dict[int, torch.Tensor] = {}
        for scale, image in enumerate(self._pyramid(x)):
            for stride, feat, bottleneck in zip(_BACKBONE_STRIDES, self.backbone(image, scale), self.bottlenecks):
                key = stride * 2**scale  # stride relative to the full image
                y = bottleneck(feat)
                fused[key] = fused[key] + y if key in fused else y
        maps = [fused[s] for s in sorted(fused, reverse=True)]  # strides 128, 64, 32, 16, 8, 4
        x = maps[0]
        for block, skip in zip(self.upsample[: self.num_coarse], maps[1:]):
            x = block(x, skip)
        return x, maps[1 + self.num_coarse :]

    def ladder(self, features: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        x = features
        for block, skip in zip(self.upsample[self.num_coarse :], skips):
            x = block(x, skip)
        return x
