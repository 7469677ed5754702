"""MobileNetV2 backbone from torchvision's inverted-residual blocks, with skips at strides 4, 8 and 16.

Every taken output is the linear bottleneck of an inverted-residual block, which has no activation: it is already
"pre-ReLU", exactly what the SwiftNet head expects. The stride-32 output fed to SPP is the 320-channel linear
bottleneck of block 17; torchvision's final 1x1 expansion to 1280 channels (features[18], ReLU6 after it) is
dropped: it is a classification-head layer, costs 0.4M parameters at stride 32 and clips the features we want raw.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

from swiftcast.models.weights import load_pretrained

#: index (in torchvision's ``features``) of the last block at strides 4, 8, 16 and 32
_STAGE_ENDS = (3, 6, 13, 17)


class MobileNetV2Backbone(nn.Module):
    """torchvision MobileNetV2 ``features[0:18]`` (same names); ``forward`` returns the four stage outputs."""

    imagenet_weights = MobileNet_V2_Weights.IMAGENET1K_V1

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*list(mobilenet_v2().features)[: _STAGE_ENDS[-1] + 1])
        self.out_channels: tuple[int, ...] = (24, 32, 96, 320)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, block in enumerate(self.features):
            x = block(x)
            if index in _STAGE_ENDS:
                outputs.append(x)
        return outputs

    def load_pretrained(self, state_dict: Mapping[str, torch.Tensor], what: str = "backbone weights") -> None:
        """Load a torchvision mobilenet_v2 state dict (classifier and the dropped ``features.18`` are ignored)."""
        load_pretrained(self, state_dict, what, ignore_prefixes=("classifier.", "features.18."))
