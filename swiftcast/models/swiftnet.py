"""SwiftNet (Orsic et al., CVPR 2019): backbone -> SPP -> ladder with lateral skips -> logits at stride 4.

Besides single-frame segmentation every model here carries a skip-less ``forecast_decoder``: forecast features
(stride 32) have no lateral skips, so they are decoded by an upsampling path of their own, trained in a second
stage with everything else frozen (:meth:`SegmentationModel.set_decoder_training`).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from swiftcast.models.spp import SPP_BN_MOMENTUM, SpatialPyramidPooling
from swiftcast.models.upsample import BNReLUConv, SkiplessDecoder, UpsampleBlend, init_head, upsample


class SegmentationModel(nn.Module):
    """The interface the rest of SwiftCast relies on. Subclasses define ``backbone``, ``encode`` and ``ladder``.

    ``encode(x)`` -> (features: the stride-32, ``num_features``-channel map that is published and forecast,
    skips: lateral inputs of the ladder, coarse to fine); ``ladder(features, skips)`` -> stride-4 map.
    """

    def __init__(
        self,
        num_classes: int,
        num_features: int,
        decoder_stages: int = 3,
        decoder_widths: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_features = num_features
        self.logits = BNReLUConv(num_features, num_classes, k=1, bias=True)
        self.forecast_decoder = SkiplessDecoder(num_features, num_classes, decoder_stages, decoder_widths)
        self._decoder_only = False

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

    def decode_features(
        self, features: torch.Tensor, out_size: tuple[int, int] | None = None, upsample_logits: bool = True
    ) -> torch.Tensor:
        """Logits from stride-32 features through the skip-less decoder (default size: 32x the features); with
        ``upsample_logits=False`` at the decoder's output stride 4 of ``out_size`` (see :class:`SkiplessDecoder`)."""
        return self.forecast_decoder(features, out_size, upsample_logits)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``backbone`` (pre-trainable, lower learning rate) and ``head`` (everything randomly initialised)."""
        backbone = list(self.backbone.parameters())
        ids = {id(p) for p in backbone}
        return {"backbone": backbone, "head": [p for p in self.parameters() if id(p) not in ids]}

    def set_decoder_training(self, enabled: bool = True) -> None:
        """Freeze everything except ``forecast_decoder`` (its BNs keep training; all others stay in eval mode,
        also across later ``model.train()`` calls). ``enabled=False`` makes the whole model trainable again."""
        self._decoder_only = enabled
        for name, param in self.named_parameters():
            param.requires_grad_(not enabled or name.startswith("forecast_decoder."))
        self.train(self.training)

    def train(self, mode: bool = True) -> "SegmentationModel":
        super().train(mode)
        if self._decoder_only:
            for name, child in self.named_children():
                if name != "forecast_decoder":
                    child.train(False)
        return self


class SwiftNet(SegmentationModel):
    """Single-scale SwiftNet on any backbone that returns four pre-activation maps at strides 4, 8, 16, 32."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 19,
        num_features: int = 128,
        spp_grids: Sequence[int] = (8, 4, 2),
        spp_bn_momentum: float = SPP_BN_MOMENTUM,
        decoder_widths: Sequence[int] | None = None,
    ) -> None:
        super().__init__(num_classes, num_features, decoder_stages=3, decoder_widths=decoder_widths)
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
