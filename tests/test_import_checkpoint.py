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

    assert "forecast_decoder" not in config and config["architecture"] == "swiftnet_rn18"
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
    assert imported == len(ours)
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


# --- exactness: the official forward semantics, written independently with functional ops ------------------------
def _official_bn(x, sd, prefix):
    return torch.nn.functional.batch_norm(x, sd[f"{prefix}.running_mean"], sd[f"{prefix}.running_var"],
                                          sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], False, 0.0, 1e-5)


def _official_bn_relu_conv(x, sd, prefix, bias=False):
    # models/util.py _BNReluConv: BatchNorm -> ReLU(inplace=True) -> conv with padding k // 2
    x = torch.relu_(_official_bn(x, sd, f"{prefix}.norm"))
    w = sd[f"{prefix}.conv.weight"]
    return torch.nn.functional.conv2d(x, w, sd.get(f"{prefix}.conv.bias") if bias else None, padding=w.shape[-1] // 2)


def _official_basic_block(x, sd, prefix, stride):
    """resnet_single_scale.BasicBlock: ``relu = self.relu(out); return relu, out`` with an in-place ReLU."""
    conv = torch.nn.functional.conv2d
    out = torch.relu_(_official_bn(conv(x, sd[f"{prefix}.conv1.weight"], stride=stride, padding=1), sd, f"{prefix}.bn1"))
    out = _official_bn(conv(out, sd[f"{prefix}.conv2.weight"], padding=1), sd, f"{prefix}.bn2")
    identity = x
    if f"{prefix}.downsample.0.weight" in sd:
        identity = _official_bn(conv(x, sd[f"{prefix}.downsample.0.weight"], stride=stride), sd, f"{prefix}.downsample.1")
    out = out + identity
    relu = torch.relu_(out)  # the in-place ReLU: `out` (the returned skip) is overwritten
    return relu, out


def official_forward(sd, image: torch.Tensor) -> torch.Tensor:
    """Logits of the official single-scale SwiftNet RN-18 (ResNet.forward_down/forward_up + SemsegModel)."""
    up = lambda t, size: torch.nn.functional.interpolate(t, size, mode="bilinear", align_corners=False)  # noqa: E731
    x = torch.nn.functional.conv2d(image, sd["backbone.conv1.weight"], stride=2, padding=3)
    x = torch.relu_(_official_bn(x, sd, "backbone.bn1"))
    x = torch.nn.functional.max_pool2d(x, 3, 2, 1)
    skips = []
    for layer, stride in zip(range(1, 5), (1, 2, 2, 2)):
        for block in range(2):
            x, skip = _official_basic_block(x, sd, f"backbone.layer{layer}.{block}", stride if block == 0 else 1)
        skips.append(skip)
    # SpatialPyramidPooling with grids 8, 4, 2 (rows; columns scaled by the aspect ratio)
    top = skips[-1]
    size = top.shape[2:]
    ar = size[1] / size[0]
    x = _official_bn_relu_conv(top, sd, "backbone.spp.spp.spp_bn")
    levels = [x]
    for i, grid in enumerate((8, 4, 2)):
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, (grid, max(1, round(ar * grid))))
        levels.append(up(_official_bn_relu_conv(pooled, sd, f"backbone.spp.spp.spp{i}"), size))
    x = _official_bn_relu_conv(torch.cat(levels, 1), sd, "backbone.spp.spp.spp_fuse")
    for index, skip in enumerate(reversed(skips[:-1])):  # _Upsample: bottleneck(skip) + upsampled x -> blend
        skip = _official_bn_relu_conv(skip, sd, f"backbone.upsample.{index}.bottleneck")
        x = _official_bn_relu_conv(up(x, skip.shape[2:]) + skip, sd, f"backbone.upsample.{index}.blend_conv")
    return up(_official_bn_relu_conv(x, sd, "logits", bias=True), image.shape[2:])


def _realistic_official_state_dict() -> "OrderedDict[str, torch.Tensor]":
    """Official names, properly initialised convs and randomised BatchNorm statistics/affines, so activations stay
    O(1) and pre- and post-ReLU skips differ as much as in a trained model."""
    from swiftcast.models import build_model
    from swiftcast.models.official import official_name

    torch.manual_seed(0)
    model = build_model("swiftnet_rn18", num_classes=19)
    g = torch.Generator().manual_seed(2)
    state = OrderedDict()
    for key, tensor in model.state_dict().items():
        name = official_name(key)
        if name is None:
            continue
        if key.endswith("running_mean") or key.endswith("bias") and "bn" in key.lower() or ".norm.bias" in key:
            tensor = torch.randn(tensor.shape, generator=g) * 0.3
        elif key.endswith("running_var"):
            tensor = torch.rand(tensor.shape, generator=g) + 0.5
        elif key.endswith(".weight") and tensor.dim() == 1:
            tensor = torch.rand(tensor.shape, generator=g) + 0.5
        state[name] = tensor.clone()
    state["backbone.img_mean"] = torch.tensor([73.15, 82.90, 72.3]).view(1, 3, 1, 1)
    state["backbone.img_std"] = torch.tensor([47.67, 48.49, 47.73]).view(1, 3, 1, 1)
    return state


def test_import_is_exact_against_the_official_forward(tmp_path):
    """With randomised BN statistics pre- and post-ReLU skips disagree; the import must match the official logits."""
    official = _realistic_official_state_dict()
    src = tmp_path / "model_best.pt"
    torch.save(official, src)
    assert cli(["import-checkpoint", str(src), str(tmp_path / "imported")]) == 0
    model, config = load_checkpoint(tmp_path / "imported")
    assert config["arch_kwargs"]["post_relu_skips"] is True
    model.eval()
    image = torch.randn(2, 3, 128, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = official_forward(official, image.clone())
        ours = model(image)
    assert (ours - reference).abs().max().item() <= 1e-4
    assert (ours.argmax(1) == reference.argmax(1)).float().mean().item() >= 0.999
    # the project's own pre-ReLU semantics on the same weights really differ: the option is what makes it exact
    from swiftcast.models import build_model

    pre = build_model("swiftnet_rn18", num_classes=19, spp_bn_momentum=0.005)
    pre.load_state_dict(model.state_dict())
    with torch.no_grad():
        pre_logits = pre.eval()(image)
    assert (pre_logits - reference).abs().max().item() > 0.05
    assert (pre_logits.argmax(1) == reference.argmax(1)).float().mean().item() < 0.999
