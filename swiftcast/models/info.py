"""Parameters and GMACs of models and checkpoints (``swiftcast model-info``).

MACs are counted with torch's FlopCounterMode on the meta device (shapes only, so full 1024x2048 is instant);
FLOPs / 2 = multiply-accumulates, which is what SwiftNet's paper calls "GFLOPs". Convolutions and matmuls count;
BN, ReLU, pooling and interpolation do not, as usual. A deformable convolution counts like the dense one of its
shape: eager runs sample its taps (``grid_sample``, not counted) and multiply them in one 1x1 convolution.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from swiftcast.errors import SwiftcastError
from swiftcast.models.checkpoint import build_from_config, read_checkpoint
from swiftcast.models.registry import FORECASTERS, SEGMENTATION, build_forecaster, build_model

REFERENCE = "swiftnet_rn18"


def count_gmacs(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """GMACs of one forward pass of ``model`` (built on the meta device) on an input of ``input_shape``."""
    x = torch.empty(*input_shape, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        if getattr(model, "needs_future", False):
            model(x, future=torch.empty(x.shape[0], model.in_channels, *x.shape[2:], device="meta"))
        else:
            model(x)
    return counter.get_total_flops() / 2e9


def _input_shape(config: dict[str, Any], size: tuple[int, int]) -> tuple[int, ...]:
    if config["kind"] == "segmentation":
        return (1, 3, *size)
    kw = config.get("arch_kwargs", {})
    channels = kw.get("in_channels", 128) * kw.get("num_past", 4)
    return (1, channels, math.ceil(size[0] / 32), math.ceil(size[1] / 32))


#: BatchNorm statistics: tensors of a state dict that are no parameters
_BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def describe(target: str, size: tuple[int, int]) -> dict[str, Any]:
    """Parameters and GMACs of a model name or a checkpoint directory."""
    decoder_state = None
    if target in SEGMENTATION or target in FORECASTERS:
        model = build_model(target) if target in SEGMENTATION else build_forecaster(target)
        config = dict(model.swiftcast_spec)
    elif Path(target).exists():
        config, _, decoder_state = read_checkpoint(target)
        model = build_from_config(config)
    else:
        known = ", ".join([*SEGMENTATION, *FORECASTERS])
        raise SwiftcastError(f"{target!r} is neither a model name ({known}) nor a checkpoint path")
    params = sum(p.numel() for p in model.parameters())
    row: dict[str, Any] = {"target": target, "kind": config["kind"], "architecture": config["architecture"]}
    if config["kind"] == "segmentation":
        # the forecast decoder a checkpoint carries is not part of the segmentation model: counted apart
        decoder = None if decoder_state is None else sum(
            v.numel() for k, v in decoder_state.items() if not k.endswith(_BN_BUFFERS))
        row.update(params_m=params / 1e6, decoder_params_m=decoder / 1e6 if decoder is not None else None)
    else:
        row.update(params_m=params / 1e6, decoder_params_m=None)
    with torch.device("meta"):
        row["gmacs"] = count_gmacs(build_from_config(config).eval(), _input_shape(config, size))
    row["input_shape"] = list(_input_shape(config, size))
    return row


def describe_all(targets: Sequence[str], size: tuple[int, int]) -> list[dict[str, Any]]:
    """:func:`describe` of every target (default: every model), segmentation models also relative to REFERENCE."""
    rows = [describe(t, size) for t in (targets or [*SEGMENTATION, *FORECASTERS])]
    reference = describe(REFERENCE, size)["gmacs"]
    for row in rows:
        row["gmacs_vs_" + REFERENCE] = row["gmacs"] / reference if row["kind"] == "segmentation" else None
    return rows


def format_rows(rows: Sequence[dict[str, Any]], size: tuple[int, int]) -> str:
    """The terminal table of :func:`describe_all`'s rows."""
    lines = [f"input {size[0]}x{size[1]} (forecasters: features {math.ceil(size[0] / 32)}x{math.ceil(size[1] / 32)})",
             f"{'model':<28} {'kind':<13} {'params (M)':>10} {'+decoder (M)':>12} {'GMACs':>9} {'vs ' + REFERENCE:>17}"]
    for row in rows:
        decoder = f"{row['decoder_params_m']:.2f}" if row["decoder_params_m"] is not None else "-"
        vs = row["gmacs_vs_" + REFERENCE]
        ratio = f"{vs:.3f}x" if vs is not None else "-"
        lines.append(f"{row['target']:<28} {row['kind']:<13} {row['params_m']:>10.2f} {decoder:>12} "
                     f"{row['gmacs']:>9.2f} {ratio:>17}")
    lines.append("params: the segmentation network; +decoder: the skip-less forecast decoder a checkpoint carries "
                 "next to it. GMACs = FLOPs / 2.")
    return "\n".join(lines)
