"""SwiftNet models: published size and cost, shapes at awkward sizes, pre-ReLU skips, the skip-less forecast
decoder on their features, backbone initialisation from a local state dict."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.forecast.decoder import SkiplessDecoder, SkiplessSegmentation, build_forecast_decoder
from swiftcast.models import MODELS, build_model

NAMES = list(MODELS)


def gmacs(name: str, size: tuple[int, int]) -> float:
    """MACs of one forward pass, counted on the meta device (shapes only, no compute)."""
    with torch.device("meta"):
        model = build_model(name).eval()
        x = torch.empty(1, 3, *size)
        with FlopCounterMode(display=False) as counter:
            model(x)
    return counter.get_total_flops() / 2e9


def test_swiftnet_rn18_has_the_published_size_and_cost():
    model = build_model("swiftnet_rn18")  # the whole model: the forecast decoder is no part of it
    assert not hasattr(model, "forecast_decoder")
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(11.8e6, rel=0.005)
    assert gmacs("swiftnet_rn18", (1024, 2048)) == pytest.approx(104.0, rel=0.05)


def test_pyramid_costs_more_than_single_scale():
    ratio = gmacs("swiftnet_rn18_pyramid", (512, 1024)) / gmacs("swiftnet_rn18", (512, 1024))
    assert 1.0 < ratio < 1.4  # two extra backbone passes at 1/4 and 1/16 of the pixels


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: build_model(name, num_classes=7).eval() for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [(96, 160), (100, 150)])
def test_shapes_at_sizes_that_are_not_multiples_of_32(models, name, size):
    with torch.no_grad():
        logits, feats = models[name].forward_with_features(torch.randn(1, 3, *size))
        assert logits.shape == (1, 7, *size)
        assert feats.shape == (1, 128, math.ceil(size[0] / 32), math.ceil(size[1] / 32))
        decoder = build_forecast_decoder(128, 7).eval()
        assert decoder(feats, out_size=size).shape == (1, 7, *size)


@pytest.mark.parametrize("name", NAMES)
def test_entry_points_agree(models, name):
    model, x = models[name], torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        logits, feats = model.forward_with_features(x)
        assert torch.equal(model(x), logits)
        assert torch.equal(model.features(x), feats)
        assert build_forecast_decoder(128, 7).eval()(feats).shape == (1, 7, 64, 96)  # default: 32x the features


@pytest.mark.parametrize("name", NAMES)
def test_skips_are_taken_before_the_relu(models, name):
    with torch.no_grad():
        outputs = models[name].backbone(torch.randn(1, 3, 64, 96))
    assert [o.shape[1] for o in outputs] == list(models[name].backbone.out_channels)
    for out in outputs:
        assert (out < 0).any(), "a post-ReLU map would have no negative values"


def test_parameter_groups_split_backbone_from_head(models):
    model = models["swiftnet_rn18"]
    groups = model.parameter_groups()
    backbone, head = ({id(p) for p in groups[k]} for k in ("backbone", "head"))
    assert not backbone & head
    assert backbone | head == {id(p) for p in model.parameters()}
    assert backbone == {id(p) for p in model.backbone.parameters()}


def test_decoder_stage_trains_the_decoder_on_frozen_features():
    torch.manual_seed(0)
    model = build_model("swiftnet_rn18", num_classes=5).requires_grad_(False)
    net = SkiplessSegmentation(model, build_forecast_decoder(128, 5))
    net.train()  # a training loop calling train() must not unfreeze the BN statistics
    frozen_bn = model.backbone.bn1
    stats_before = frozen_bn.running_mean.clone()
    assert not frozen_bn.training and not model.spp.training and net.forecast_decoder.training

    loss = net(torch.randn(2, 3, 64, 64)).square().mean()
    loss.backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in net.forecast_decoder.parameters())
    assert torch.equal(frozen_bn.running_mean, stats_before)


@pytest.mark.parametrize("widths, conv_stride", [((128, 128, 128), 4), ((64, 32, 16), 4), ((64, 64), 8), ((32,), 16)])
def test_skipless_decoder_widths_set_cost_not_the_output_grid(widths, conv_stride):
    """Any decoder shape hands back logits at stride 4 (what decode_labels and the -FT loss read) and full-size
    logits on request; narrower decoders cost less (MACs counted by the conv weights at each stride)."""
    decoder = SkiplessDecoder(128, 19, widths=widths).eval()
    assert decoder.conv_stride == conv_stride and decoder.widths == widths
    feats = torch.randn(1, 128, 3, 5)  # an input of 70x150 -> features ceil(70/32) x ceil(150/32)
    with torch.inference_mode():
        assert decoder(feats, (70, 150), upsample_logits=False).shape == (1, 19, 18, 38)
        assert decoder(feats, (70, 150)).shape == (1, 19, 70, 150)
    with pytest.raises(ValueError, match="1 to 3"):
        SkiplessDecoder(128, 19, widths=(64, 32, 16, 8))


def test_lite_decoder_costs_a_fraction_of_the_full_one():
    def macs(widths):
        decoder, total, stride = SkiplessDecoder(128, 19, widths=widths), 0, 32
        for blend in decoder.blends:
            stride //= 2
            w = blend.blend.conv.weight
            total += w.numel() * (256 // stride) * (512 // stride)
        return total

    assert macs((64, 32, 16)) < 0.1 * macs((128, 128, 128))


def _torchvision_resnet18_state(seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return torchvision.models.resnet18().state_dict()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_backbone_weights_from_a_local_torchvision_state_dict(tmp_path, suffix):
    state = _torchvision_resnet18_state()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    model = build_model("swiftnet_rn18", backbone_weights=path)
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])

    pyramid = build_model("swiftnet_rn18_pyramid", backbone_weights=path)
    for scale_bn in pyramid.backbone.layer2[0].downsample[1].bns:  # every scale starts from the same statistics
        assert torch.equal(scale_bn.weight, state["layer2.0.downsample.1.weight"])


def test_bad_backbone_weights_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        build_model("swiftnet_rn18", backbone_weights=tmp_path / "missing.pth")
    wrong = tmp_path / "mnv2.pth"
    torch.save(torchvision.models.mobilenet_v2().state_dict(), wrong)
    with pytest.raises(CheckpointError, match="does not fit the backbone") as info:
        build_model("swiftnet_rn18", backbone_weights=wrong)
    assert "\n" not in str(info.value)
    with pytest.raises(SwiftcastError, match="unknown model"):
        build_model("swiftnet_rn1000")


def test_imagenet_weights_unavailable_is_a_clear_error(monkeypatch):
    def offline(self, *args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline)
    with pytest.raises(CheckpointError, match="--backbone-weights PATH"):
        build_model("swiftnet_rn18", backbone_weights="imagenet")
