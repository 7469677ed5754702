"""ForecastRuntime without ROS: checks on features and labels, the history's outage/resume bookkeeping, forecasts
stamped source + k·P from interpolated inputs, and settings that cannot work (named like the node's parameters)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forecast_fixtures import random_forecaster_checkpoint, random_seg_checkpoint
from swiftcast.forecast.history import FeatureHistory
from swiftcast.forecast.motion import DEFAULT_PRESET
from swiftcast.forecast.protocol import FRAME_PERIOD_NS as P
from swiftcast.forecast.runtime import ForecastRuntime, LabelError, SetupError, blend_features
from swiftcast.runtime.features import FeatureError

IMAGE = (48, 80)
NS = 1_000_000_000
T0 = 1_000 * NS


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("runtime")
    seg = random_seg_checkpoint(tmp / "seg")
    short = random_forecaster_checkpoint(tmp / "short", seg, 3, seed=1, perturb=0.05)
    mid = random_forecaster_checkpoint(tmp / "mid", seg, 9, method="conv_f2f", seed=2, perturb=0.05)
    return {"seg": seg, "short": short, "mid": mid, "dir": tmp}


@pytest.fixture(scope="module")
def runtime(models) -> ForecastRuntime:
    return ForecastRuntime(models["seg"], forecasters={"short": models["short"], "mid": models["mid"]})


def _features(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0, 1, (128, 2, 4)).astype(np.float16)


def test_10hz_stream_forecasts_both_horizons_from_interpolated_inputs(models, runtime) -> None:
    rng = np.random.default_rng(0)
    history: FeatureHistory[np.ndarray] = FeatureHistory(P, blend=blend_features)
    base = T0 + 1_000 * NS
    outputs = []
    for i in range(10):
        stamp, feats = base + i * 100_000_000, _features(rng)
        history.insert(stamp, feats)
        intake = runtime.add_features(stamp, feats, IMAGE, runtime.feature_model_id)
        if i < 5:  # t-9P = 529 ms back: from frame 5 on the frame 500 ms back is within P/2 of it
            assert intake.past is None and [e.counter for e in intake.events] == ["waiting_history"]
            continue
        assert intake.past is not None and "interpolated_inputs" in [e.counter for e in intake.events]
        for got, want in zip(intake.past, history.match(stamp).items):
            np.testing.assert_array_equal(got, want)
        outputs.append(runtime.forecast(intake, confidence=True))
    for f in outputs[-1]:
        assert f.target_ns == f.source_ns + {"short": 3, "mid": 9}[f.horizon] * P
        assert f.labels.shape == IMAGE and f.labels.dtype == np.uint8 and f.confidence.shape == IMAGE
    assert {f.horizon for f in outputs[-1]} == {"short", "mid"}


def test_outage_resume_and_backwards_stamps_are_reported(runtime) -> None:
    rng = np.random.default_rng(1)
    base = T0 + 2_000 * NS
    for i in range(12):
        intake = runtime.add_features(base + i * P, _features(rng), IMAGE)
    assert intake.past is not None
    later = base + 60 * NS  # the semseg node was down for a minute
    events = []
    for i in range(12):
        events += runtime.add_features(later + i * P, _features(rng), IMAGE).events
    counters = [e.counter for e in events]
    assert counters.count("waiting_history") == 9 and counters.count("resumed") == 1
    back = runtime.add_features(base, _features(rng), IMAGE)  # a bag loop
    assert "history_resets" in [e.counter for e in back.events] and len(runtime.history) == 1


@pytest.mark.parametrize("change, reason", [
    ({"model_id": "swiftnet_rn18-another"}, "model_id"),
    ({"features": np.zeros((64, 2, 4), np.float16)}, "shape"),
    ({"image": (0, 80)}, "shape"),
    ({"image": (1 << 15, 1 << 15)}, "too_large"),
    ({"stamp": (2**31) * NS}, "stamp_range"),
])
def test_unusable_features_are_refused_with_a_counter_name(runtime, change, reason) -> None:
    args = {"stamp": T0, "features": np.zeros((128, 2, 4), np.float16), "image": IMAGE,
            "model_id": runtime.feature_model_id, **change}
    with pytest.raises(FeatureError) as exc:
        runtime.add_features(args["stamp"], args["features"], args["image"], args["model_id"])
    assert exc.value.reason == reason


def test_labels_score_forecasts_and_bad_labels_are_refused(runtime) -> None:
    for bad in (np.zeros((2, 3, 3), np.uint8), np.zeros((0, 4), np.uint8), np.full((4, 4), 40, np.uint8)):
        with pytest.raises(LabelError):
            runtime.add_labels(T0, bad)
    rng = np.random.default_rng(2)
    base = T0 + 3_000 * NS
    for i in range(10):
        intake = runtime.add_features(base + i * P, _features(rng), IMAGE)
    short = next(f for f in runtime.forecast(intake) if f.horizon == "short")
    assert runtime.add_labels(short.target_ns, short.labels) == ["short"]
    assert runtime.consistency("short") is not None
    assert runtime.diagnostics()["short_scored"] != "0"


def test_settings_that_cannot_work_name_the_setting(models) -> None:
    cases = [({"tolerance_ns": P}, "match_tolerance_s"),
             ({"checkpoint": models["short"]}, "checkpoint"),
             ({"forecasters": {"short": models["mid"]}}, "short_checkpoint"),
             ({"device": "quantum"}, "device"),
             ({"forecasters": {"short": random_forecaster_checkpoint(models["dir"] / "f2mf", models["seg"], 3,
                                                                     method="f2mf")}, "last_labels": False},
              "short_checkpoint")]
    for kwargs, setting in cases:
        args = {"checkpoint": models["seg"], **kwargs}
        with pytest.raises(SetupError) as exc:
            ForecastRuntime(**args)
        assert exc.value.setting == setting, (kwargs, str(exc.value))
    said: list[str] = []
    empty = ForecastRuntime(models["seg"], models_dir=models["dir"] / "nothing", warn=said.append)
    assert empty.horizons == [] and len(said) == 2 and "is skipped" in said[0]


# --- forecasters that warp the newest frame's labels (F2MF) ---------------------------------------------------------
CAMERA = (96, 192)  # the seg model's 64x128 input: its stride-4 grid is 16x32, 6x6 camera pixels a cell


def _copy_last_f2mf(out, seg_dir, horizon_frames: int):
    """An F2MF checkpoint with zero motion and blend weight 1 (its F2F branch is noise, so it must not leak in)."""
    from swiftcast.models import build_forecaster, read_config, save_checkpoint

    torch.manual_seed(3)
    net = build_forecaster("f2mf")
    with torch.no_grad():
        net.blend.bias.fill_(100.0)
        torch.nn.init.normal_(net.f2f.weight, std=0.05)
    seg = read_config(seg_dir)
    return save_checkpoint(out, net, {"method": "f2mf", "horizon_frames": horizon_frames, "input_size":
                                      seg["input_size"], "feature_model_id": seg["model_id"],
                                      "training": {"finetune": False}})


@pytest.fixture(scope="module")
def f2mf_runtime(models) -> ForecastRuntime:
    """F2MF at the short horizon, ConvF2F at mid (a frame waits for its labels for both)."""
    short = _copy_last_f2mf(models["dir"] / "f2mf_copy_last", models["seg"], 3)
    return ForecastRuntime(models["seg"], forecasters={"short": short, "mid": models["mid"]})


def _labels(i: int) -> np.ndarray:
    """Blocky trainIds at the camera size (12x12 blocks survive the stride-4 grid and the resize back)."""
    small = np.random.default_rng(100 + i).integers(0, 19, (CAMERA[0] // 12, CAMERA[1] // 12), dtype=np.uint8)
    return np.repeat(np.repeat(small, 12, 0), 12, 1)


def _fill_history(runtime: ForecastRuntime, base: int, rng) -> None:
    for i in range(9):
        runtime.add_labels(base + i * P, _labels(i))
        runtime.add_features(base + i * P, _features(rng), CAMERA)


def test_f2mf_forecasts_once_features_and_labels_of_a_frame_are_both_there(f2mf_runtime) -> None:
    rt, rng = f2mf_runtime, np.random.default_rng(5)
    assert rt.needs_labels and rt.take_ready() is None
    base = T0 + 4_000 * NS
    _fill_history(rt, base, rng)
    # labels first: the features complete the frame
    t = base + 9 * P
    assert rt.add_labels(t, _labels(9)) == [] and rt.take_ready() is None
    intake = rt.add_features(t, _features(rng), CAMERA)
    assert intake.past is not None and rt.take_ready() is None
    forecasts = rt.forecast(intake)
    assert {f.horizon for f in forecasts} == {"short", "mid"}
    # zero motion, w = 1: the short forecast is the labels of frame t, exactly
    np.testing.assert_array_equal(next(f for f in forecasts if f.horizon == "short").labels, _labels(9))
    # features first: nothing until the labels come, then the frame is ready once
    t += P
    waiting = rt.add_features(t, _features(rng), CAMERA)
    assert waiting.past is None and "missing_labels" not in [e.counter for e in waiting.events]
    rt.add_labels(t, _labels(10))
    ready = rt.take_ready()
    assert ready is not None and ready.stamp_ns == t and rt.take_ready() is None
    short = next(f for f in rt.forecast(ready, confidence=True) if f.horizon == "short")
    np.testing.assert_array_equal(short.labels, _labels(10))
    assert short.target_ns == t + 3 * P and short.confidence.shape == CAMERA


def test_f2mf_frame_without_labels_is_dropped_and_counted(f2mf_runtime) -> None:
    rt, rng = f2mf_runtime, np.random.default_rng(6)
    base = T0 + 5_000 * NS
    _fill_history(rt, base, rng)
    lost, t = base + 9 * P, base + 10 * P
    assert rt.add_features(lost, _features(rng), CAMERA).past is None  # its labels never come
    assert rt.add_features(t, _features(rng), CAMERA).past is None
    rt.add_labels(t, _labels(3))
    ready = rt.take_ready()
    assert ready.stamp_ns == t and [e.counter for e in ready.events] == ["missing_labels"]
    assert len(rt.forecast(ready)) == 2
    with pytest.raises(LabelError):  # a bad map completes nothing and breaks nothing
        rt.add_labels(t + P, np.full((4, 4), 40, np.uint8))
    # a semseg node that publishes no labels at all: memory stays bounded, every frame is counted once
    counters = []
    for i in range(1, 20):
        intake = rt.add_features(t + i * P, _features(rng), CAMERA)
        assert intake.past is None
        counters += [e.counter for e in intake.events]
    assert counters.count("missing_labels") == 19 - 4 and len(rt._waiting) == 4
    for i in range(30):  # labels of frames that never come: bounded too
        rt.add_labels(t + (100 + i) * P, _labels(i))
    assert len(rt._early_labels) <= 4 and rt.take_ready() is None


def test_f2mf_needs_a_caller_that_feeds_labels(models) -> None:
    """auto prefers F2MF when the caller feeds labels, and keeps to feature-only forecasters otherwise."""
    folder = models["dir"] / "auto_models"
    _copy_last_f2mf(folder / "f2mf_short", models["seg"], 3)
    random_forecaster_checkpoint(folder / "deform_short", models["seg"], 3)
    assert ForecastRuntime(models["seg"], ["short"], models_dir=folder).needs_labels
    plain = ForecastRuntime(models["seg"], ["short"], models_dir=folder, last_labels=False)
    assert not plain.needs_labels and plain.horizons[0].forecaster.checkpoint.endswith("deform_short")


def _scene(dx: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured camera frame (RGB) and its labels with a 'car' (13), the whole scene shifted ``dx`` px right."""
    rng = np.random.default_rng(5)
    import cv2

    texture = cv2.resize(rng.integers(0, 255, (IMAGE[0] // 4, IMAGE[1] // 4), dtype=np.uint8), IMAGE[::-1],
                         interpolation=cv2.INTER_CUBIC)
    labels = np.zeros(IMAGE, np.uint8)
    labels[10:30, 20:40] = 13
    image = np.repeat(np.roll(texture, dx, axis=1)[..., None], 3, axis=2)
    return image, np.roll(labels, dx, axis=1)


def test_flow_extrapolation_needs_frames_and_labels_not_features(models) -> None:
    """A 10 Hz camera panning 1 px per frame: once the frame before is there, both horizons are forecast, the
    car carried on to the right (3P / 9P ahead = 1.8 / 5.3 px at this rate)."""
    runtime = ForecastRuntime(models["seg"], forecasters={"short": "flow", "mid": "flow"})
    assert runtime.needs_frames and not runtime.needs_features
    assert all(h.forecaster.model_id == f"flow-extrapolation-{DEFAULT_PRESET}" for h in runtime.horizons)
    forecasts = {}
    for i in range(6):
        stamp = T0 + i * 100_000_000
        image, labels = _scene(i)
        runtime.add_frame(stamp, image)
        runtime.add_labels(stamp, labels)
        intake = runtime.add_features(stamp, _features(np.random.default_rng(i))[:7], IMAGE)  # any channel count
        assert intake.past == [] and intake.last_labels is not None
        forecasts[i] = {f.horizon: f for f in runtime.forecast(intake)}
    assert forecasts[0] == {} and runtime.flow_unavailable == 1  # the first frame has no past frame (counted once)
    last = forecasts[5]
    assert set(last) == {"short", "mid"}
    for name, f in last.items():
        assert f.labels.shape == IMAGE and f.confidence is None and f.target_ns == f.source_ns + f.offset_ns
        cols = np.nonzero((f.labels == 13).any(axis=0))[0]
        assert cols.min() >= 25 and cols.max() >= 45, (name, cols.min(), cols.max())  # at 25..44 now
    assert runtime.diagnostics()["flow_unavailable"] == str(runtime.flow_unavailable)


def test_flow_mixes_with_learned_horizons_and_bad_flow_settings_name_the_setting(models) -> None:
    runtime = ForecastRuntime(models["seg"], forecasters={"short": "flow", "mid": models["mid"]})
    assert runtime.needs_features and runtime.needs_frames  # mixed: the mid horizon is a learned forecaster
    with pytest.raises(SetupError) as err:
        ForecastRuntime(models["seg"], forecasters={"short": "flow"}, horizons=["short"], flow_preset="slowest")
    assert err.value.setting == "flow_preset"
    with pytest.raises(SetupError) as err:
        ForecastRuntime(models["seg"], forecasters={"short": "flow"}, horizons=["short"], projection_width=8)
    assert err.value.setting == "projection_width"
    with pytest.raises(SetupError) as err:
        ForecastRuntime(models["seg"], forecasters={"short": "flow"}, horizons=["short"], last_labels=False)
    assert err.value.setting == "short_checkpoint"
