"""ResNet-18 backbone built from torchvision's blocks, returning the pre-ReLU output of every stage.

SwiftNet's lateral skips (and its SPP input) are the sums *before* the final ReLU of each stage: the upsampling
units start with BN-ReLU of their own, and the negative half of the sum carries information a ReLU would drop.

``post_relu_skips=True`` reproduces the released SwiftNet weights instead: the official block returns
``relu(out), out`` with an in-place ReLU, which overwrites ``out``, so what its ladder and SPP actually saw (and were
trained on) is the post-ReLU output. Checkpoints record the option, so imported models keep their semantics.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import ResNet, ResNet18_Weights
from torchvision.models.resnet import BasicBlock

from swiftcast.models.weights import load_pretrained


class SkipBasicBlock(BasicBlock):
    """torchvision's BasicBlock that can also return its residual sum before the final ReLU."""

    def forward_with_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + identity
        return F.relu(out), out  # not the block's in-place ReLU: the pre-activation sum must survive


def run_stage(stage: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a stage of SkipBasicBlocks; returns (post-ReLU output for the next stage, pre-ReLU output for skips)."""
    for block in stage[:-1]:
        x = block(x)
    return stage[-1].forward_with_preact(x)


class ResNetBackbone(ResNet):
    """torchvision ResNet (same parameter names, so torchvision state dicts load as they are) without the
    classifier; ``forward`` returns the pre-ReLU outputs of layer1..layer4 (strides 4, 8, 16, 32)."""

    imagenet_weights = ResNet18_Weights.IMAGENET1K_V1

    def __init__(
        self,
        layers: Sequence[int] = (2, 2, 2, 2),
        norm_layer: Callable[[int], nn.Module] | None = None,
        post_relu_skips: bool = False,
    ) -> None:
        super().__init__(SkipBasicBlock, list(layers), norm_layer=norm_layer)
        del self.avgpool, self.fc
        self.post_relu_skips = post_relu_skips
        self.out_channels: tuple[int, ...] = (64, 128, 256, 512)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outputs = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x, preact = run_stage(stage, x)
            outputs.append(x if self.post_relu_skips else preact)
        return outputs

    @staticmethod
    def source_key(key: str) -> str:
        """The torchvision name of one of our parameters (identical here; per-scale BNs override this)."""
        return key

    def load_pretrained(self, state_dict: Mapping[str, torch.Tensor], what: str = "backbone weights") -> None:
        """Load a torchvision resnet18 state dict (its ``fc.*`` classifier is ignored)."""
        load_pretrained(self, state_dict, what, source_key=self.source_key, ignore_prefixes=("fc.",))
