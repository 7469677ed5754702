"""An official SwiftNet release -> a SwiftCast checkpoint (``swiftcast import-checkpoint SRC OUT``).

Converts the state dict of the orsic/swiftnet single-scale ResNet-18 Cityscapes model (``SemsegModel`` wrapping
``resnet_single_scale.ResNet``; ``weights/rn18_single_scale/model_best.pt``). Our modules mirror the official ones
one to one, so the conversion is a renaming; each of our names is mapped to the official name it must come from
and anything missing, unexpected or of another shape is refused with the offending keys named.

The release has no skip-less forecast decoder, so neither has the imported checkpoint; add one with
``swiftcast train --stage decoder --init OUT`` before decoding forecasts with it.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path
from typing import Mapping

import torch

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.models.checkpoint import CONFIG_NAME, read_config, save_checkpoint
from swiftcast.models.registry import build_model
from swiftcast.models.weights import load_state_dict_file, state_dict_mismatch

ARCHITECTURE = "swiftnet_rn18"
#: the official SPP BatchNorm momentum (PyTorch convention), kept so fine-tuning behaves like the original
OFFICIAL_SPP_BN_MOMENTUM = 0.005
#: input normalisation of the official code: buffers in the model, on RGB 0..255 divided by img_scale
_NORMALIZATION_BUFFERS = ("backbone.img_mean", "backbone.img_std", "backbone.img_scale")

#: our name -> official name (first matching rule wins); None: not part of the release
_RULES: tuple[tuple[str, str | None], ...] = (
    (r"^backbone\.", "backbone."),  # conv1, bn1, layer1..4: torchvision names in both
    (r"^spp\.bottleneck\.", "backbone.spp.spp.spp_bn."),
    (r"^spp\.levels\.(\d+)\.", r"backbone.spp.spp.spp\1."),
    (r"^spp\.fuse\.", "backbone.spp.spp.spp_fuse."),
    (r"^upsample\.(\d+)\.skip\.", r"backbone.upsample.\1.bottleneck."),
    (r"^upsample\.(\d+)\.blend\.", r"backbone.upsample.\1.blend_conv."),
    (r"^logits\.", "logits."),
)


def official_name(key: str) -> str | None:
    """The official state-dict name our parameter ``key`` comes from (None: not in the official release)."""
    for pattern, replacement in _RULES:
        if re.match(pattern, key):
            return None if replacement is None else re.sub(pattern, replacement, key)
    raise KeyError(f"no official counterpart rule for {key}")


def _normalization(official: Mapping[str, torch.Tensor]) -> dict[str, list[float]] | None:
    if "backbone.img_mean" not in official or "backbone.img_std" not in official:
        return None
    scale = official.get("backbone.img_scale", torch.ones(1)).flatten()
    # official: (x / scale - mean) / std  ==  (x - mean * scale) / (std * scale)
    mean = (official["backbone.img_mean"].flatten() * scale).tolist()
    std = (official["backbone.img_std"].flatten() * scale).tolist()
    # float32 buffers: 4 decimals recover the values the official config was written with
    return {"mean": [round(v, 4) for v in mean], "std": [round(v, 4) for v in std]}


def convert_official(official: Mapping[str, torch.Tensor]) -> tuple[torch.nn.Module, dict[str, list[float]] | None]:
    """Build our swiftnet_rn18 and load the official weights into it."""
    if "logits.conv.weight" not in official:
        raise CheckpointError(
            "not an official single-scale SwiftNet state dict: no 'logits.conv.weight' "
            f"(first keys: {', '.join(list(official)[:3])})"
        )
    num_classes = int(official["logits.conv.weight"].shape[0])
    # the official blocks' in-place ReLU makes their skips and SPP input post-ReLU: build ours the same way
    model = build_model(ARCHITECTURE, num_classes=num_classes, spp_bn_momentum=OFFICIAL_SPP_BN_MOMENTUM,
                        post_relu_skips=True)
    ours = model.state_dict()
    sources = {key: official_name(key) for key in ours}
    expected = {src: ours[key].shape for key, src in sources.items() if src is not None}
    given = {k: v for k, v in official.items() if k not in _NORMALIZATION_BUFFERS}
    for src in expected:  # files from torch < 0.4.1 have no BN batch counters
        if src.endswith("num_batches_tracked") and src not in given:
            given[src] = torch.zeros((), dtype=torch.long)
    problem = state_dict_mismatch(expected, given)
    if problem:
        raise CheckpointError(f"does not match the official single-scale SwiftNet ResNet-18 (official names): {problem}")
    converted = {key: (given[src] if src is not None else ours[key]) for key, src in sources.items()}
    model.load_state_dict(
        {k: v.to(ours[k].dtype) if v.is_floating_point() else v for k, v in converted.items()}, strict=True
    )
    return model, _normalization(official)


def import_checkpoint(src: str | Path, out: str | Path, force: bool = False) -> dict:
    """Convert the official file ``src`` into the checkpoint directory ``out``; returns its config."""
    src, out = Path(src), Path(out)
    if (out / CONFIG_NAME).exists() and not force:
        raise SwiftcastError(f"{out} already holds a checkpoint; pass --force to overwrite it")
    official = load_state_dict_file(src)
    try:
        model, normalization = convert_official(official)
    except CheckpointError as exc:
        raise CheckpointError(f"{src}: {exc}") from None
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    config = {
        "input_size": [1024, 2048],
        "source": {"official": "orsic/swiftnet rn18_single_scale", "file": src.name, "sha256": digest},
        "training": {
            "command": shlex.join(["swiftcast", "import-checkpoint", str(src), str(out)]),
            "data": "Cityscapes train (official SwiftNet release; not retrained here)",
        },
        "metrics": {},
    }
    if normalization is not None:
        config["normalization"] = normalization
    save_checkpoint(out, model, config)
    return read_config(out)

