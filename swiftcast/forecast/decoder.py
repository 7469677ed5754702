"""The skip-less forecast decoder: forecast features (stride 32) -> logits, and its part of a checkpoint.

Forecast features have no lateral skips, so SwiftNet's ladder cannot decode them; a decoder of their own does. It is
not part of the segmentation model (SwiftNet is SwiftNet, with its published size) but trained on its frozen
features with ``swiftcast train --stage decoder --init CKPT`` and stored next to it in the same checkpoint folder::

    models/swiftnet_efflite0_synth/
        weights.safetensors            the segmentation model
        forecast_decoder.safetensors   this decoder
        config.json                    both; "forecast_decoder": {"num_features": 128, "widths": [64, 32, 16]}

so a folder under ``models/`` stays everything a forecaster's ``feature_model_id`` refers to. A forecaster fine-tuned
together with a copy of this decoder (``swiftcast train-forecast --finetune --tune-decoder``, as Šarić et al.
fine-tune F2F with the upsampling path) carries that copy the same way in its own folder, and it decodes that
forecaster's features (:func:`swiftcast.forecast.forecaster.forecaster_decoder`). The checkpoint's
``model_id`` covers both files (see :mod:`swiftcast.models.checkpoint`). Older folders with the decoder's tensors
inside ``weights.safetensors`` load unchanged; ``swiftcast convert-checkpoint`` rewrites them.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.models.upsample import BNReLUConv, UpsampleBlend, init_head, size_at_stride, upsample


class SkiplessDecoder(nn.Module):
    """Maps stride-32 features to logits without lateral skips (the decoder of forecast features).

    Same structure as the ladder (blend steps doubling the resolution, then BN-ReLU-1x1 logits) but with its own
    weights: it is trained in a second stage with the segmentation model frozen.

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
        self.num_features, self.num_classes = int(num_features), int(num_classes)
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


#: what forecasting code calls the skip-less decoder
ForecastDecoder = SkiplessDecoder


def build_forecast_decoder(
    num_features: int = 128, num_classes: int = 19, widths: Sequence[int] | None = None
) -> SkiplessDecoder:
    """A fresh (randomly initialised) decoder for ``num_features``-channel stride-32 features."""
    return SkiplessDecoder(num_features, num_classes, widths=widths)


def decoder_from_config(config: Mapping[str, Any]) -> SkiplessDecoder:
    """An untrained decoder of the shape a checkpoint config's ``forecast_decoder`` entry describes (a forecaster's
    entry names its ``num_classes``, a segmentation model's come from the model)."""
    entry = config.get("forecast_decoder") or {}
    try:
        return build_forecast_decoder(int(entry.get("num_features", 128)),
                                      int(entry.get("num_classes", config.get("num_classes"))), entry.get("widths"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"forecast_decoder entry {entry!r} cannot be built: {exc}") from None


def load_forecast_decoder(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[SkiplessDecoder, dict[str, Any]]:
    """The forecast decoder of a segmentation checkpoint (eval mode, frozen) and the segmentation config, or one
    CheckpointError line (relative paths resolved per :mod:`swiftcast.runtime.paths`). Also takes a forecaster
    checkpoint that carries its own tuned decoder (then with the forecaster's config)."""
    from swiftcast.models.checkpoint import build_from_config, read_checkpoint
    from swiftcast.models.weights import state_dict_mismatch
    from swiftcast.runtime.paths import resolve_user_path

    resolved = resolve_user_path(path)
    if not resolved.exists():
        raise CheckpointError(f"checkpoint {path} not found (looked at {resolved})")
    config, seg_state, state = read_checkpoint(resolved)
    if config.get("kind") == "forecaster":
        if state is None:
            raise CheckpointError(f"forecaster {resolved} has no forecast decoder of its own (its segmentation "
                                  f"checkpoint's decodes it)")
        return _decoder_with_state(resolved, config, state, device), config
    if config.get("kind") != "segmentation":
        raise CheckpointError(f"checkpoint {resolved} is a {config.get('kind')} checkpoint, not a segmentation model")
    with torch.device("meta"):  # shapes only: the features' model must fit its own weights too
        try:
            seg_shapes = {k: v.shape for k, v in build_from_config(config).state_dict().items()}
        except SwiftcastError as exc:
            raise CheckpointError(f"checkpoint {resolved}: {exc}") from None
    problem = state_dict_mismatch(seg_shapes, seg_state)
    if problem:
        raise CheckpointError(f"{resolved}: weights do not fit architecture {config.get('architecture')}: {problem}")
    if state is None:
        raise CheckpointError(f"checkpoint {resolved} has no forecast decoder; train one with 'swiftcast train "
                              f"--stage decoder --init {path}'")
    return _decoder_with_state(resolved, config, state, device), config


def _decoder_with_state(where: Any, config: Mapping[str, Any], state: Mapping[str, torch.Tensor],
                        device: str | torch.device) -> SkiplessDecoder:
    from swiftcast.models.weights import state_dict_mismatch

    decoder = decoder_from_config(config)
    problem = state_dict_mismatch({k: v.shape for k, v in decoder.state_dict().items()}, state)
    if problem:
        raise CheckpointError(f"{where}: forecast decoder weights do not fit its widths: {problem}")
    decoder.load_state_dict(state, strict=True)
    return decoder.to(device).eval().requires_grad_(False)


def as_decoder(model: nn.Module) -> nn.Module:
    """The decoder itself, also when given a model that still carries one as ``forecast_decoder``."""
    return getattr(model, "forecast_decoder", model)


class SkiplessSegmentation(nn.Module):
    """Image -> frozen segmentation features -> forecast decoder -> logits at input size: what the decoder stage
    trains and ``swiftcast eval --head skipless`` scores. ``train()`` leaves the segmentation model in eval mode."""

    def __init__(self, seg_model: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.seg_model = seg_model
        self.forecast_decoder = decoder

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.seg_model.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forecast_decoder(self.seg_model.features(x), out_size=tuple(x.shape[-2:]))

    def train(self, mode: bool = True) -> "SkiplessSegmentation":
        super().train(mode)
        self.seg_model.train(False)
        return self
