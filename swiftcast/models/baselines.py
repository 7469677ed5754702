"""torchvision's real-time segmentation models as SwiftCast architectures: what a user would pick instead.

``lraspp_mnv3`` (LRASPP on MobileNetV3-Large) and ``deeplabv3_mnv3`` (DeepLabV3 on MobileNetV3-Large) are built
by torchvision itself (``weights=None, weights_backbone=None``: no download, random initialisation) and wrapped
thinly so that ``swiftcast train`` / ``swiftcast eval``, checkpoints and ``benchmarks/pareto.py`` treat them exactly
like SwiftNet: ``model(x)`` returns logits at input resolution, ``parameter_groups()`` splits backbone and head
(the backbone gets the recipe's lower learning rate). They have no SwiftNet SPP features, so they cannot feed the
forecaster or the semseg node (``Segmenter`` refuses them with one line: no ``forward_with_features``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from swiftcast.errors import SwiftcastError


class TorchvisionSegmentation(nn.Module):
    """A torchvision segmentation model returning plain logits (its ``{"out": ...}`` dict unwrapped)."""

    def __init__(self, net: nn.Module, name: str) -> None:
        super().__init__()
        self.net = net
        self.name = name

    @property
    def backbone(self) -> nn.Module:
        # a property, not a second registered submodule: the state dict keeps one name per tensor
        return self.net.backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``backbone`` (MobileNetV3 trunk) and ``head`` (the segmentation head), as SwiftNet's."""
        backbone = list(self.net.backbone.parameters())
        ids = {id(p) for p in backbone}
        return {"backbone": backbone, "head": [p for p in self.parameters() if id(p) not in ids]}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise SwiftcastError(f"{self.name} is a comparison baseline: it has no SwiftNet features to forecast")


def _lraspp_mnv3(num_classes: int) -> TorchvisionSegmentation:
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)
    return TorchvisionSegmentation(net, "lraspp_mnv3")


def _deeplabv3_mnv3(num_classes: int) -> TorchvisionSegmentation:
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    net = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
    return TorchvisionSegmentation(net, "deeplabv3_mnv3")


#: comparison baselines: name -> builder(num_classes); no arch options, no pre-trained weights
BASELINES: dict[str, Callable[..., TorchvisionSegmentation]] = {
    "lraspp_mnv3": _lraspp_mnv3,
    "deeplabv3_mnv3": _deeplabv3_mnv3,
}
