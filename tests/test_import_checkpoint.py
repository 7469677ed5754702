"""Import of the official SwiftNet release, tested on a state dict with the official names and shapes.

``official_state_dict`` re-derives the names and shapes by walking the official module structure
(orsic/swiftnet: models/resnet/resnet_single_scale.py ResNet + models/util.py SpatialPyramidPooling/_Upsample/
_BNReluConv + models/semseg.py SemsegModel), not by copying a key list.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import pytest
import torch

from swiftcast.cli import main as cli
from swiftcast.models import load_checkpoint

Shape = tuple[int, ...]


def _batch_norm(prefix: str, channels: int) -> Iterator[tuple[str, Shape]]:
    for name in ("weight", "bias", "running_mean", "running_var"):
        yield f"{prefix}.{name}", (channels,)
    yield f"{prefix}.num_batches_tracked", ()


def _bn_relu_conv(prefix: str, cin: int, cout: int, k: int, bias: bool = False) -> Iterator[tuple[str, Shape]]:
    # models/util.py _BNReluConv: modules 'norm', 'relu', 'conv'
    yield from _batch_norm(f"{prefix}.norm", cin)
    yield f"{prefix}.conv.weight", (cout, cin, k, k)
    if bias:
        yield f"{prefix}.conv.bias", (cout,)


def official_names_and_shapes(num_classes: int = 19, num_features: int = 128) -> Iterator[tuple[str, Shape]]:
    yield "backbone.img_mean", (1, 3, 1, 1)
    yield "backbone.img_std", (1, 3, 1, 1)
    yield "backbone.conv1.weight", (64, 3, 7, 7)
    yield from _batch_norm("backbone.bn1", 64)
    inplanes, skip_channels = 64, []
    for layer, (planes, stride) in enumerate(zip((64, 128, 256, 512), (1, 2, 2, 2)), start=1):
        for block in range(2):  # resnet18: [2, 2, 2, 2] BasicBlocks
            prefix = f"backbone.layer{layer}.{block}"
            yield f"{prefix}.conv1.weight", (planes, inplanes, 3, 3)
            yield from _batch_norm(f"{prefix}.bn1", planes)
            yield f"{prefix}.conv2.weight", (planes, planes, 3, 3)
            yield from _batch_norm(f"{prefix}.bn2", planes)
            if block == 0 and (stride != 1 or inplanes != planes):
                yield f"{prefix}.downsample.0.weight", (planes, inplanes, 1, 1)
                yield from _batch_norm(f"{prefix}.downsample.1", planes)
            inplanes = planes
        if layer < 4:
            skip_channels.append(inplanes)
    # upsample blocks are created after layers 1..3 and stored reversed (coarsest first)
    for index, skip in enumerate(reversed(skip_channels)):
        yield from _bn_relu_conv(f"backbone.upsample.{index}.bottleneck", skip, num_features, 1)
        yield from _bn_relu_conv(f"backbone.upsample.{index}.blend_conv", num_features, num_features, 3)
    num_levels, level_size = 3, num_features // 3
    yield from _bn_relu_conv("backbone.spp.spp.spp_bn", inplanes, num_features, 1)
    for level in range(num_levels):
        yield from _bn_relu_conv(f"backbone.spp.spp.spp{level}", num_features, level_size, 1)
    yield from _bn_relu_conv("backbone.spp.spp.spp_fuse", num_features + num_levels * level_size, num_features, 1)
    yield from _bn_relu_conv("logits", num_features, num_classes, 1, bias=True)


def official_state_dict(**kw) -> "OrderedDict[str, torch.Tensor]":
    g = torch.Generator().manual_seed(0)
    state = OrderedDict()
    for name, shape in official_names_and_shapes(**kw):
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(1000)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=g) + 0.5
        else:
            state[name] = torch.randn(shape, generator=g) * 0.1
    state["backbone.img_mean"] = torch.tensor([73.15, 82.90, 72.3]).view(1, 3, 1, 1)
    state["backbone.img_std"] = torch.tensor([47.67, 48.49, 47.73]).view(1, 3, 1, 1)
    return state


def test_import_maps_every_official_tensor(tmp_path, capsys):
    official = official_state_dict()
    src = tmp_path / "model_best.pt"
    torch.save(official, src)
    assert cli(["import-checkpoint", str(src), str(tmp_path / "ckpt")]) == 0
    model, config = load_checkpoint(tmp_path / "ckpt")

    assert config["forecast_decoder_trained"] is False and config["architecture"] == "swiftnet_rn18"
    assert config["normalization"] == {"mean": [73.15, 82.9, 72.3], "std": [47.67, 48.49, 47.73]}
    ours = model.state_dict()
    pairs = {
        "backbone.layer3.0.downsample.1.running_var": "backbone.layer3.0.downsample.1.running_var",
        "spp.bottleneck.conv.weight": "backbone.spp.spp.spp_bn.conv.weight",
        "spp.levels.2.norm.bias": "backbone.spp.spp.spp2.norm.bias",
        "spp.fuse.conv.weight": "backbone.spp.spp.spp_fuse.conv.weight",
        "upsample.0.skip.conv.weight": "backbone.upsample.0.bottleneck.conv.weight",  # the 256-channel skip
        "upsample.2.blend.norm.running_mean": "backbone.upsample.2.blend_conv.norm.running_mean",
        "logits.conv.bias": "logits.conv.bias",
    }
    for our_key, official_key in pairs.items():
        assert torch.equal(ours[our_key], official[official_key]), our_key
    imported = sum(1 for k in official if not k.startswith("backbone.img_"))
    assert imported == sum(1 for k in ours if not k.startswith("forecast_decoder."))
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 19, 64, 96)
    assert cli(["import-checkpoint", str(src), str(tmp_path / "ckpt")]) == 2  # no silent overwrite
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda sd: sd.pop("backbone.layer2.1.conv2.weight"), "missing (backbone.layer2.1.conv2.weight)"),
        (
            lambda sd: sd.__setitem__("border_logits.conv.weight", torch.zeros(2, 128, 1, 1)),
            "unexpected (border_logits.conv.weight)",
        ),
        (
            lambda sd: sd.__setitem__("backbone.spp.spp.spp0.conv.weight", torch.zeros(64, 128, 1, 1)),
            "mis-shaped (file vs model: backbone.spp.spp.spp0.conv.weight (64, 128, 1, 1) vs (42, 128, 1, 1))",
        ),
        (lambda sd: sd.pop("logits.conv.weight"), "not an official single-scale SwiftNet"),
    ],
)
def test_mismatching_files_are_refused_with_the_keys_named(tmp_path, capsys, damage, expected):
    official = official_state_dict()
    damage(official)
    src = tmp_path / "model_best.pt"
    torch.save(official, src)
    assert cli(["import-checkpoint", str(src), str(tmp_path / "ckpt")]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert not (tmp_path / "ckpt").exists()


def test_files_without_batch_counters_still_import(tmp_path):
    official = {k: v for k, v in official_state_dict(num_classes=11).items() if "num_batches_tracked" not in k}
    src = tmp_path / "old_torch.pth"
    torch.save(official, src)
    assert cli(["import-checkpoint", str(src), str(tmp_path / "ckpt")]) == 0
    assert load_checkpoint(tmp_path / "ckpt")[1]["num_classes"] == 11
