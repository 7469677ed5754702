"""F2F forecasters: input convention, shapes, zero-initialised deformable offsets, and that training works."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import deform_conv2d

from swiftcast.errors import SwiftcastError
from swiftcast.models import FORECASTERS, build_forecaster, stack_past
from swiftcast.models.f2f import DeformConvBNReLU, sampled_deform_conv2d


def past_frames(n: int = 2, h: int = 5, w: int = 7, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 128, h, w, generator=g) for _ in range(4)]


@pytest.mark.parametrize("name", [n for n in FORECASTERS if n != "oracle"])
def test_shapes_and_input_convention(name):
    frames = past_frames()
    model = build_forecaster(name).eval()
    with torch.no_grad():
        out = model(stack_past(frames))
    assert out.shape == frames[-1].shape
    if name == "copy_last" or name in ("conv_f2f", "deform_f2f8"):  # residual nets start as copy-last
        assert torch.equal(out, frames[-1])
    with pytest.raises(ValueError, match="oldest first"):
        model(frames[-1])


def test_oracle_returns_the_true_future_and_only_that():
    oracle = build_forecaster("oracle")
    future = torch.randn(2, 128, 5, 7)
    assert oracle.needs_future and oracle(stack_past(past_frames()), future=future) is future
    with pytest.raises(ValueError, match="future"):
        oracle(stack_past(past_frames()))
    with pytest.raises(SwiftcastError, match="unknown forecaster"):
        build_forecaster("crystal_ball")


def test_deform_f2f8_has_eight_layers_and_zero_offsets():
    model = build_forecaster("deform_f2f8")
    deform = [m for m in model.modules() if isinstance(m, DeformConvBNReLU)]
    assert len(model.body) + 1 == 8 and len(deform) == 4
    for layer in deform:
        assert not layer.offset.weight.any() and not layer.offset.bias.any()


@pytest.mark.parametrize("size", [(5, 7), (1, 4), (3, 1)])
def test_sampled_deform_conv_equals_torchvisions_values_and_gradients(size):
    # offsets of several cells send taps off the map, where both must read zeros
    torch.manual_seed(0)
    x = torch.randn(2, 6, *size, requires_grad=True)
    offset = (3 * torch.randn(2, 18, *size)).requires_grad_()
    weight = torch.randn(5, 6, 3, 3, requires_grad=True)
    ours = sampled_deform_conv2d(x, offset, weight, padding=1)
    theirs = deform_conv2d(x, offset, weight, padding=1)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    for a, b in zip(torch.autograd.grad(ours.square().sum(), (x, offset, weight)),
                    torch.autograd.grad(theirs.square().sum(), (x, offset, weight))):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def _random_output_layer(model: torch.nn.Module) -> None:
    # the residual output conv starts at zero, which would make any comparison trivially equal
    torch.nn.init.normal_(model.out.weight, std=0.05)


def test_deformable_net_equals_the_plain_conv_net_at_init():
    torch.manual_seed(0)
    deform = build_forecaster("deform_f2f8")
    _random_output_layer(deform)
    plain = build_forecaster("deform_f2f8", deformable=False)
    missing, unexpected = plain.load_state_dict(deform.state_dict(), strict=False)
    assert not missing and all(".offset." in k for k in unexpected)
    x = stack_past(past_frames())
    deform.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(deform(x), plain(x), rtol=1e-4, atol=1e-5)
        for layer in deform.modules():  # and the deformable path is live: shifted offsets change the output
            if isinstance(layer, DeformConvBNReLU):
                layer.offset.bias.fill_(0.5)
        assert not torch.allclose(deform(x), plain(x), atol=1e-3)


def test_a_few_adam_steps_lower_the_feature_mse():
    torch.manual_seed(0)
    frames = past_frames(n=4, h=6, w=8)
    past = stack_past(frames)
    target = torch.roll(frames[-1], shifts=1, dims=-1)  # the scene moved one feature cell to the right
    model = build_forecaster("deform_f2f8").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(past), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    offsets = [m.offset.weight for m in model.modules() if isinstance(m, DeformConvBNReLU)]
    assert all(w.abs().sum() > 0 for w in offsets), "the zero-initialised offsets must learn"


def test_decode_labels_is_the_argmax_at_the_decoders_stride():
    """The one decode of the node and eval-forecast: logits at stride 4 (the same map the full-resolution path
    upsamples), argmax there, nearest resize of the uint8 labels; decode_scale < 1 decodes a smaller image."""
    import numpy as np

    from swiftcast.data.transforms import resize_label
    from swiftcast.forecast.forecaster import decode_labels
    from swiftcast.forecast.decoder import build_forecast_decoder
    from swiftcast.models.upsample import upsample

    torch.manual_seed(0)
    decoder = build_forecast_decoder(128, 19).eval()
    feats = torch.randn(2, 128, 2, 4)
    image, camera = (64, 128), (96, 200)
    with torch.no_grad():
        coarse = decoder(feats, out_size=image, upsample_logits=False)
        assert coarse.shape == (2, 19, 16, 32)
        torch.testing.assert_close(decoder(feats, out_size=image), upsample(coarse, image))
    labels, conf = decode_labels(decoder, feats, image, camera)
    assert labels.shape == (2, *camera) and labels.dtype == np.uint8 and conf is None
    for i in range(2):
        np.testing.assert_array_equal(labels[i], resize_label(coarse[i].argmax(0).to(torch.uint8).numpy(), camera))
    same, conf = decode_labels(decoder, feats, image, camera, confidence=True)
    np.testing.assert_array_equal(same, labels)
    assert conf.shape == (2, *camera) and conf.dtype == np.uint8 and conf.min() >= 255 // 19
    half, _ = decode_labels(decoder, feats, image, camera, scale=0.5)
    assert half.shape == (2, *camera)
    with pytest.raises(SwiftcastError, match="decode scale"):
        decode_labels(decoder, feats, image, camera, scale=0.0)


def test_a_deformable_layer_counts_the_macs_of_the_dense_conv_of_its_shape():
    from swiftcast.models.info import count_gmacs

    with torch.device("meta"):
        deform = build_forecaster("deform_f2f8").eval()
        plain = build_forecaster("deform_f2f8", deformable=False).eval()
        offsets = sum(m.offset.weight[0].numel() * m.offset.out_channels for m in deform.modules()
                      if isinstance(m, DeformConvBNReLU))
    shape = (1, 512, 8, 16)
    # the same network plus the offset convolutions (each 18 outputs of a 3x3 conv on every cell)
    assert count_gmacs(deform, shape) == pytest.approx(count_gmacs(plain, shape) + offsets * 8 * 16 / 1e9)
