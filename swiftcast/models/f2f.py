"""Feature-to-feature (F2F) forecasters: from the stride-32 features of past frames to those of a future frame.

Input convention (every forecaster, training, ONNX export and the forecast node): ONE tensor
(N, num_past * C, h, w) holding the past feature maps concatenated along channels, **oldest first** (frames t-9,
t-6, t-3, t for the protocol of Šarić et al., GCPR 2019); use :func:`stack_past`. Output: (N, C, h, w), the forecast for t + horizon.

- ``copy_last``: the features of frame t (the trivial baseline, no parameters).
- ``oracle``: a marker for the upper bound. It cannot forecast; evaluation passes the true future features as
  ``future=`` and gets them back, so the oracle runs through exactly the same decode/score code as real models.
- ``conv_f2f``: stacked plain 3x3 convs on the concatenated past (the "Luc F2F" style baseline); the depth and
  widths of ``deform_f2f8``, but its first layer is a 3x3 conv of the stacked past where DeformF2F-8 has a 1x1.
  ``deform_f2f8(deformable=False)`` is DeformF2F-8's exact plain counterpart (the ablation of Šarić et al.).
- ``deform_f2f8``: DeformF2F-8 (Saric et al., GCPR 2019): 1x1 to 256, 3x3 to 128, four deformable 3x3 convs,
  a 3x3 conv and a 3x3 output conv: 8 layers. Offsets come from plain convs initialised to zero, so an untrained
  deformable layer is exactly a 3x3 conv and training starts from the plain-conv network.

Both learned forecasters predict a *residual* on the last frame's features (``residual=True``) with a zero-
initialised output conv: at initialisation they equal copy-last, the strong baseline, and learn the motion on
top; this trains faster and more stably on small data than regressing the features from scratch.
Hidden layers are conv -> BN -> ReLU.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import DeformConv2d


def stack_past(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Past feature maps (each (N, C, h, w), oldest first) -> the forecaster input (N, len * C, h, w)."""
    return torch.cat(list(features), dim=1)


class Forecaster(nn.Module):
    """Base class: checks the input layout and knows where the last frame is."""

    needs_future = False

    def __init__(self, in_channels: int = 128, num_past: int = 4) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_past = num_past

    def last_frame(self, past: torch.Tensor) -> torch.Tensor:
        expected = self.in_channels * self.num_past
        if past.dim() != 4 or past.shape[1] != expected:
            raise ValueError(
                f"forecaster input must be (N, {expected}, h, w) = {self.num_past} past maps of {self.in_channels} "
                f"channels concatenated oldest first; got {tuple(past.shape)}"
            )
        return past[:, -self.in_channels :]


class CopyLast(Forecaster):
    def forward(self, past: torch.Tensor) -> torch.Tensor:
        return self.last_frame(past)


class Oracle(Forecaster):
    """The protocol's upper bound: returns the true future features that evaluation passes in."""

    needs_future = True

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        self.last_frame(past)
        if future is None:
            raise ValueError("the oracle forecaster only returns the true future features: pass future=...")
        return future


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, k: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=k, padding=k // 2, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")


def sampled_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, padding: int) -> torch.Tensor:
    """The deformable convolution of torchvision's ``deform_conv2d`` (stride 1, no dilation, groups or mask) as one
    ``grid_sample`` of all kernel taps followed by a 1x1 convolution.

    Why: torchvision's CPU kernel loops over columns; on CPU this form is about 3x faster forwards and 6x faster
    forwards and backwards (a 128-channel layer on 16x32 maps), with the same bilinear sampling and zeros outside
    the map. Offsets are torchvision's layout: (N, 2 * kh * kw, h, w), a (dy, dx) pair per tap, taps row-major.
    """
    n, c, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    taps = kh * kw
    ky, kx = torch.meshgrid(torch.arange(kh, dtype=x.dtype, device=x.device),
                            torch.arange(kw, dtype=x.dtype, device=x.device), indexing="ij")
    rows = torch.arange(h, dtype=x.dtype, device=x.device).view(1, 1, h, 1) + (ky.reshape(1, taps, 1, 1) - padding)
    cols = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, 1, w) + (kx.reshape(1, taps, 1, 1) - padding)
    offset = offset.view(n, taps, 2, h, w)
    y = rows + offset[:, :, 0]
    x_at = cols + offset[:, :, 1]
    # pixel centres -> grid_sample's [-1, 1] (align_corners=False), every tap stacked along the height
    grid = torch.stack(((2 * x_at + 1) / w - 1, (2 * y + 1) / h - 1), dim=-1).view(n, taps * h, w, 2)
    sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return F.conv2d(sampled.view(n, c * taps, h, w), weight.reshape(out_channels, c * taps, 1, 1))


class DeformConvBNReLU(nn.Module):
    """Deformable 3x3 conv (torchvision ``DeformConv2d``) whose sampling offsets are predicted from its input by a
    zero-initialised conv, so training starts as a plain conv.

    Eager runs compute it with :func:`sampled_deform_conv2d` (same result, several times faster on CPU); an ONNX
    export traces torchvision's op, which becomes one ONNX ``DeformConv``.
    """

    def __init__(self, in_channels: int, out_channels: int, k: int = 3) -> None:
        super().__init__()
        self.offset = nn.Conv2d(in_channels, 2 * k * k, kernel_size=k, padding=k // 2)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        self.conv = DeformConv2d(in_channels, out_channels, kernel_size=k, padding=k // 2, bias=False)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        self.norm = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def deform(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return self.conv(x, offset)
        return sampled_deform_conv2d(x, offset, self.conv.weight, self.conv.padding[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = self.offset(x)
        autocasting = x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(x.device.type)
        if autocasting:  # keep the sampling positions and the layer in fp32, as torchvision's kernel did
            with torch.autocast(x.device.type, enabled=False):
                return self.relu(self.norm(self.deform(x.float(), offset.float())))
        return self.relu(self.norm(self.deform(x, offset)))


class F2F(Forecaster):
    """A stack of conv(-BN-ReLU) layers on the concatenated past, plus an output conv (optionally residual).

    ``layers``: (kind, out_channels, kernel) per hidden layer, kind "conv" or "deform".
    """

    def __init__(
        self,
        layers: Sequence[tuple[str, int, int]],
        in_channels: int = 128,
        num_past: int = 4,
        residual: bool = True,
    ) -> None:
        super().__init__(in_channels, num_past)
        self.residual = residual
        body: list[nn.Module] = []
        channels = in_channels * num_past
        for kind, out_channels, k in layers:
            unit = DeformConvBNReLU if kind == "deform" else ConvBNReLU
            body.append(unit(channels, out_channels, k))
            channels = out_channels
        self.body = nn.Sequential(*body)
        self.out = nn.Conv2d(channels, in_channels, kernel_size=3, padding=1)
        if residual:
            nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, past: torch.Tensor) -> torch.Tensor:
        last = self.last_frame(past)
        delta = self.out(self.body(past))
        return last + delta if self.residual else delta


def conv_f2f(in_channels: int = 128, num_past: int = 4, width: int = 128, depth: int = 8, residual: bool = True) -> F2F:
    """Plain 3x3 convs: first to 2*width, then width; ``depth`` layers including the output conv."""
    layers = [("conv", 2 * width, 3)] + [("conv", width, 3)] * (depth - 2)
    return F2F(layers, in_channels, num_past, residual)


def deform_f2f8(
    in_channels: int = 128, num_past: int = 4, num_deform: int = 4, deformable: bool = True, residual: bool = True
) -> F2F:
    """DeformF2F-8. ``deformable=False`` builds the identical network with plain convs (ablation and tests)."""
    mid = "deform" if deformable else "conv"
    layers = [("conv", 256, 1), ("conv", 128, 3)] + [(mid, 128, 3)] * num_deform
    layers += [("conv", 128, 3)] * (8 - 3 - num_deform)
    return F2F(layers, in_channels, num_past, residual)
