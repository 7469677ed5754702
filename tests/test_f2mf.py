"""F2MF: correlations, warping, the fine-level forecast (zero motion = copy-last of the single-frame model, a known
motion shifts the labels), the runtime forecaster with the last frame's labels, training, evaluation and export."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from forecast_fixtures import (  # noqa: F401 (one_torch_thread is an autouse fixture)
    one_torch_thread,
    random_forecaster_checkpoint,
    random_seg_checkpoint,
    write_moving_objects,
)
from swiftcast.cli import main as cli
from swiftcast.models import build_forecaster, build_model, read_config, stack_past
from swiftcast.models.f2mf import local_correlation, one_hot_labels, resize_motion, warp


def _past(n: int = 2, h: int = 2, w: int = 4, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 128, h, w, generator=g) for _ in range(4)]


def _blocky_labels(n: int, h: int, w: int, block: int = 4, seed: int = 0) -> torch.Tensor:
    """Random trainIds constant on ``block`` x ``block`` cells (so nearest resizes keep them exactly)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.randint(0, 19, (n, h // block, w // block), generator=g)
    return small.repeat_interleave(block, 1).repeat_interleave(block, 2).to(torch.uint8)


def _set_heads(net, dx: float = 0.0, dy: float = 0.0, blend: float = 100.0) -> None:
    """A constant motion (dx, dy) in feature pixels and blend logit (100: w = 1 in float32)."""
    with torch.no_grad():
        net.motion.bias.copy_(torch.tensor([dx, dy]))
        net.blend.bias.fill_(blend)
        torch.nn.init.normal_(net.f2f.weight, std=0.05)  # the F2F branch is not copy-last: it must not leak in


def test_build_shapes_and_init() -> None:
    net = build_forecaster("f2mf").eval()
    assert net.needs_last_labels and net.swiftcast_spec["architecture"] == "f2mf"
    frames = _past()
    with torch.no_grad():
        out = net(stack_past(frames))
        motion, f2f, blend = net.heads(stack_past(frames))
    assert out.shape == frames[-1].shape and motion.shape == (2, 2, 2, 4) and blend.shape == (2, 1, 2, 4)
    assert not motion.any() and torch.equal(f2f, frames[-1])  # zero motion, F2F = copy-last at init
    assert torch.all(torch.sigmoid(blend) > 0.85)  # the warped branch dominates
    torch.testing.assert_close(out, frames[-1], rtol=0, atol=1e-5)  # so the features start as copy-last
    with pytest.raises(ValueError, match="oldest first"):
        net(frames[-1])


def test_local_correlation_peaks_at_the_displacement() -> None:
    a = torch.randn(1, 16, 9, 11)
    b = torch.roll(a, shifts=(1, -2), dims=(2, 3))  # b(y, x) = a(y - 1, x + 2)
    corr = local_correlation(a, b, radius=3)
    assert corr.shape == (1, 49, 9, 11)
    best = corr[0, :, 3:6, 3:7].argmax(0)  # interior pixels (no wrap-around)
    assert torch.all(best == (-1 + 3) * 7 + (2 + 3))


def test_warp_with_an_integer_motion_shifts_and_resize_motion_scales() -> None:
    x = torch.randn(1, 3, 6, 8)
    motion = torch.zeros(1, 2, 6, 8)
    motion[:, 0] = -2.0  # every output pixel reads 2 columns to its left: the content moves right by 2
    torch.testing.assert_close(warp(x, motion)[..., 2:], x[..., :-2])
    torch.testing.assert_close(warp(x, torch.zeros_like(motion)), x, rtol=0, atol=1e-5)
    fine = resize_motion(motion, (48, 64))
    assert fine.shape == (1, 2, 48, 64) and torch.allclose(fine[:, 0], torch.tensor(-16.0))


@pytest.fixture(scope="module")
def decoder() -> torch.nn.Module:
    from swiftcast.forecast.decoder import build_forecast_decoder

    torch.manual_seed(0)
    return build_forecast_decoder(128, 19).eval()


def test_zero_motion_with_w_1_is_copy_last_of_the_single_frame_model_exactly(decoder) -> None:
    from swiftcast.forecast.forecaster import fine_decoder, labels_from_logits, predict_fine

    net = build_forecaster("f2mf").eval()
    _set_heads(net, 0.0, 0.0)
    image = (64, 128)
    last = torch.randint(0, 19, (2, 16, 32), dtype=torch.uint8)  # any labels, on the decoder's stride-4 grid
    past = torch.stack(_past(), dim=1)
    with torch.no_grad():
        probs = predict_fine(net, decoder, past, last, image)
    assert probs.shape == (2, 19, 16, 32)
    assert torch.equal(probs.argmax(1).to(torch.uint8), last)
    labels, _ = labels_from_logits(probs, (16, 32))
    np.testing.assert_array_equal(labels, last.numpy())
    # and at initialisation (w ~ 0.88, zero motion) the labels are already those of frame t
    fresh = build_forecaster("f2mf").eval()
    with torch.no_grad():
        out = fresh(stack_past(_past()), last_fine=last, decode=fine_decoder(decoder, image))
    assert torch.equal(out.argmax(1).to(torch.uint8), last)


@pytest.mark.parametrize("dx,dy", [(-1.0, 0.0), (0.5, -0.25)])
def test_a_constant_motion_shifts_the_labels_by_the_right_number_of_pixels(decoder, dx, dy) -> None:
    from swiftcast.forecast.forecaster import predict_fine

    net = build_forecaster("f2mf").eval()
    _set_heads(net, dx, dy)
    last = _blocky_labels(1, 16, 32, block=2, seed=1)
    with torch.no_grad():
        labels = predict_fine(net, decoder, torch.stack(_past(n=1), dim=1), last, (64, 128)).argmax(1)
    # features 2x4 -> stride-4 grid 16x32: one feature pixel is 8 fine pixels
    sx, sy = int(-dx * 8), int(-dy * 8)  # backward motion: content moves by minus the displacement
    h, w = 16, 32
    src = last[0, max(0, -sy) : h - max(0, sy), max(0, -sx) : w - max(0, sx)].long()
    dst = labels[0, max(0, sy) : h - max(0, -sy), max(0, sx) : w - max(0, -sx)]
    assert torch.equal(dst, src)


def test_one_hot_and_probability_inputs_agree(decoder) -> None:
    from swiftcast.forecast.forecaster import fine_decoder

    net = build_forecaster("f2mf").eval()
    _set_heads(net, 0.3, -0.6, blend=0.5)
    last = torch.randint(0, 19, (1, 16, 32))
    past = stack_past(_past(n=1))
    decode = fine_decoder(decoder, (64, 128))
    with torch.no_grad():
        a = net.forecast_fine(past, last, decode)
        b = net.forecast_fine(past, one_hot_labels(last, 19), decode)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a.sum(1), torch.ones(1, 16, 32))  # a blend of two distributions is one
    with pytest.raises(ValueError, match="fine output"):
        net.forecast_fine(past, last[:, :8], decode)


# --- checkpoints, runtime, training, evaluation -------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("f2mf")
    write_moving_objects(root / "data", splits=("train", "val"), sequences=2, size=(64, 128), seed=0)
    seg = random_seg_checkpoint(root / "seg", size=(64, 128), seed=0)
    return {"root": root, "data": root / "data", "seg": seg}


def _train(world: dict, out: Path, *extra: str, iters: int = 2) -> int:
    argv = ["train-forecast", "--data", str(world["data"]), "--seg-model", str(world["seg"]), "--out", str(out),
            "--iters", str(iters), "--batch-size", "4", "--method", "f2mf", *extra]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["swiftcast", *argv])
        return cli(argv)


def test_feature_cache_holds_the_single_frame_labels_at_stride_4(world: dict, tmp_path: Path, monkeypatch) -> None:
    from swiftcast.data.transforms import label_to_tensor  # noqa: F401 (same import path as training)
    from swiftcast.forecast import features as features_mod
    from swiftcast.forecast.features import load_features, load_segmenter
    from swiftcast.train.forecast import labels_at_size

    seg = load_segmenter(world["seg"])
    cache = tmp_path / "cache"
    plain = load_features(world["data"], "val", seg, cache, progress=False)
    assert plain.sequences[0].labels is None
    with_labels = load_features(world["data"], "val", seg, cache, progress=False, with_labels=True)
    s = with_labels.sequences[0]
    assert s.labels.shape == (30, 16, 32) and s.labels.dtype == torch.uint8
    assert torch.equal(s.features, plain.sequences[0].features)
    # the labels are the full model's argmax at the input size, taken at each 4x4 cell's centre
    x = seg.preprocess(with_labels.dataset.load(with_labels._frame_index()[s.frames[5].stem])[0])
    with torch.no_grad():
        full = seg.model(x.to(seg.device)).argmax(1)[0].to(torch.uint8).numpy()
    np.testing.assert_array_equal(s.labels[5].numpy(), labels_at_size(full, (16, 32)))
    index = json.loads((cache / "index.json").read_text())
    entry = next(iter(index["models"].values()))["val"]
    assert entry["labels"]["size"] == [16, 32]

    def no_extraction(*args, **kwargs):
        raise AssertionError("extracted again although the cache is current")

    monkeypatch.setattr(features_mod, "extract_sequence", no_extraction)
    again = load_features(world["data"], "val", seg, cache, progress=False, with_labels=True)
    assert torch.equal(again.sequences[1].labels, with_labels.sequences[1].labels)


def test_train_mse_finetune_eval_and_card(world: dict, capsys) -> None:
    from swiftcast.forecast.forecaster import load_forecaster_checkpoint, method_label

    mse = world["root"] / "f2mf_short"
    assert _train(world, mse, "--horizon", "short", "--precision", "bf16") == 0
    config = read_config(mse)
    assert config["method"] == "f2mf" and method_label(config) == "F2MF"
    assert config["training"]["precision"] == "bf16" and config["training"]["loss"].startswith("MSE")
    assert "F2MF" in config["metrics"]["val"]  # validated at the fine level

    ft = world["root"] / "f2mf_short_ft"
    assert _train(world, ft, "--horizon", "short", "--finetune", "--init", str(mse), "--precision", "fp32") == 0
    config = read_config(ft)
    assert method_label(config) == "F2MF-FT" and "fine-level blend" in config["training"]["loss"]
    net, _ = load_forecaster_checkpoint(ft, read_config(world["seg"])["model_id"])
    assert net.needs_last_labels

    out_json = world["root"] / "eval.json"
    capsys.readouterr()
    rc = cli(["eval-forecast", "--data", str(world["data"]), "--seg-model", str(world["seg"]), "--forecasters",
              str(mse), str(ft), "--horizons", "short", "--json", str(out_json), "--quiet"])
    assert rc == 0
    rows = [line.split("  ")[0] for line in capsys.readouterr().out.splitlines()]
    assert "F2MF" in rows and "F2MF-FT" in rows
    result = json.loads(out_json.read_text())
    assert set(result["results"]) == {"Oracle", "Copy last", "Oracle (single frame)", "Copy last (single frame)",
                                      "Flow extrapolation", "F2MF", "F2MF-FT"}
    assert len(result["results"]["F2MF"]["short"]["per_class"]) == 19
    assert result["checkpoints"]["F2MF"]["short"] == str(mse.resolve())  # outside the checkout: whole

    from swiftcast.model_card import render_forecaster_card

    card = render_forecaster_card(config, result, "f2mf_short_ft")
    assert "F2MF-FT" in card and "fine-level blend" in card


def test_runtime_forecaster_takes_the_last_frames_labels(world: dict, tmp_path: Path) -> None:
    from swiftcast.errors import SwiftcastError
    from swiftcast.forecast.forecaster import SemanticForecaster, default_forecaster

    models = tmp_path / "models"
    seg_id = read_config(world["seg"])["model_id"]
    random_forecaster_checkpoint(models / "deform_short", world["seg"], 3)
    random_forecaster_checkpoint(models / "f2mf_short", world["seg"], 3, method="f2mf")
    # callers that cannot pass the last labels never get F2MF; those that can get it first
    assert default_forecaster(models, seg_id, 3).name == "deform_short"
    assert default_forecaster(models, seg_id, 3, with_last_labels=True).name == "f2mf_short"

    fc = SemanticForecaster(models / "f2mf_short", world["seg"])
    assert fc.needs_last_labels
    past = [np.random.default_rng(i).normal(size=(128, 2, 4)).astype(np.float16) for i in range(4)]
    camera = _blocky_labels(1, 96, 192, block=12, seed=3)[0].numpy()  # the published labels, camera size
    out = fc(past, (96, 192), confidence=True, last_labels=camera)
    # untrained: zero motion and w > 1/2, so the forecast is the last frame's labels
    np.testing.assert_array_equal(out.labels, camera)
    assert out.confidence.shape == (96, 192) and out.confidence.dtype == np.uint8
    with pytest.raises(ValueError, match="last_labels"):
        fc(past, (96, 192))
    with pytest.raises(SwiftcastError, match="decode scale"):
        SemanticForecaster(models / "f2mf_short", world["seg"], decode_scale=0.0)


def test_onnxruntime_runs_f2mf_as_one_graph_with_the_labels_of_torch(world: dict, tmp_path: Path) -> None:
    """Forecaster, decoder, warp (GridSample) and blend exported as one graph taking the stride-4 labels of frame
    t: >= 99.9 % label agreement with torch for a motion that varies over the image and a real blend, cached."""
    from swiftcast.forecast.forecaster import SemanticForecaster
    from swiftcast.models import save_checkpoint

    torch.manual_seed(4)
    net = build_forecaster("f2mf")
    _set_heads(net, 0.4, -0.3, blend=0.0)
    with torch.no_grad():
        torch.nn.init.normal_(net.motion.weight, std=0.02)
        torch.nn.init.normal_(net.blend.weight, std=0.05)
    seg = read_config(world["seg"])
    ckpt = save_checkpoint(tmp_path / "f2mf_moving", net, {"method": "f2mf", "horizon_frames": 3, "input_size":
                                                           seg["input_size"], "feature_model_id": seg["model_id"]})
    said: list[str] = []
    fast = SemanticForecaster(ckpt, world["seg"], backend="onnxruntime", cache_dir=tmp_path / "onnx", log=said.append)
    eager = SemanticForecaster(ckpt, world["seg"])
    assert fast.needs_last_labels and any("exporting" in line for line in said)
    rng = np.random.default_rng(7)
    agree = []
    for i in range(3):
        past = [rng.normal(size=(128, 2, 4)).astype(np.float16) for _ in range(4)]
        camera = _blocky_labels(1, 96, 192, block=6, seed=10 + i)[0].numpy()
        want = eager(past, (96, 192), confidence=True, last_labels=camera)
        got = fast(past, (96, 192), last_labels=camera)
        with_conf = fast(past, (96, 192), confidence=True, last_labels=camera)
        agree += [(got.labels == want.labels).mean(), (with_conf.labels == want.labels).mean()]
        assert np.abs(with_conf.confidence.astype(int) - want.confidence).max() <= 1
        assert not np.array_equal(want.labels, camera)  # the motion moved them
    assert min(agree) >= 0.999, agree
    said.clear()
    SemanticForecaster(ckpt, world["seg"], backend="onnxruntime", cache_dir=tmp_path / "onnx", log=said.append)
    assert not any("exporting" in line for line in said)  # cached: keyed by both model ids and the sizes


def test_feature_level_onnx_export(tmp_path: Path) -> None:
    """The feature-level graph (what export_fp32 makes of every forecaster) exports: GridSample, opset 18."""
    import onnxruntime as ort

    from swiftcast.runtime.onnx_export import export_fp32

    torch.manual_seed(0)
    net = build_forecaster("f2mf").eval()
    _set_heads(net, 0.4, -0.3, blend=0.0)
    path = export_fp32(net, {"kind": "forecaster", "architecture": "f2mf", "model_id": "t"}, tmp_path / "f.onnx",
                       (64, 128))
    past = [x[:1] for x in _past()]
    got = ort.InferenceSession(str(path)).run(None, {f"past_{i}": p.numpy() for i, p in enumerate(past)})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, net(torch.cat(past, 1)).numpy(), atol=1e-4)
