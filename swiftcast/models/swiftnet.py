"""SwiftNet (Orsic et al., CVPR 2019): backbone -> SPP -> ladder with lateral skips -> logits at stride 4.

The models here are single-frame segmentation only. Their stride-32 features are what forecasters work on; the
skip-less decoder that turns forecast features into labels lives in :mod:`swiftcast.forecast.decoder`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from swiftcast.models.spp import SPP_BN_MOMENTUM, SpatialPyramidPooling
from swiftcast.models.upsample import BNReLUConv, UpsampleBlend, init_head, upsample


class SegmentationModel(nn.Module):
    """The interface the rest of SwiftCast relies on. Subclasses define ``backbone``, ``encode`` and ``ladder``.

    ``encode(x)`` -> (features: the stride-32, ``num_features``-channel map that is published and forecast,
    skips: lateral inputs of the ladder, coarse to fine); ``ladder(features, skips)`` -> stride-4 map.
    """

    def __init__(self, num_classes: int, num_features: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_features = num_features
        self.logits = BNReLUConv(num_features, num_classes, k=1, bias=True)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def ladder(self, features: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One backbone pass -> (logits at input size, stride-32 features)."""
        features, skips = self.encode(x)
        logits = upsample(self.logits(self.ladder(features, skips)), x.shape[-2:])
        return logits, features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-32 features (N, num_features, ceil(H/32), ceil(W/32)) that forecasters work on."""
        return self.encode(x)[0]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``backbone`` (pre-trainable, lower learning rate) and ``head`` (everything randomly initialised)."""
        backbone = list(self.backbone.parameters())
        ids = {id(p) for p in backbone}
        return {"backbone": backbone, "head": [p for p in self.parameters() if id(p) not in ids]}


class SwiftNet(SegmentationModel):
    """Single-scale SwiftNet on any backbone that returns four pre-activation maps at strides 4, 8, 16, 32."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 19,
        num_features: int = 128,
        spp_grids: Sequence[int] = (8, 4, 2),
        spp_bn_momentum: float = SPP_BN_MOMENTUM,
    ) -> None:
        super().__init__(num_classes, num_features)
        self.backbone = backbone
        channels = backbone.out_channels
        self.spp = SpatialPyramidPooling(channels[-1], num_features, spp_grids, spp_bn_momentum)
        # coarse to fine: the first block takes the stride-16 skip
        self.upsample = nn.ModuleList(UpsampleBlend(num_features, skip_channels=c) for c in reversed(channels[:-1]))
        for part in (self.spp, self.upsample, self.logits):
            init_head(part)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        *skips, top = self.backbone(x)
        return self.spp(top), skips[::-1]

    def ladder(self, features: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        x = features
        for block, skip in zip(self.upsample, skips):
            x = block(x, skip)
        return x
