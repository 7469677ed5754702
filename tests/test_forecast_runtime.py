"""ForecastRuntime without ROS: checks on features and labels, the history's outage/resume bookkeeping, forecasts
stamped source + k·P from interpolated inputs, and settings that cannot work (named like the node's parameters)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forecast_fixtures import random_forecaster_checkpoint, random_seg_checkpoint
from swiftcast.forecast.history import FeatureHistory
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
                                                                     method="f2mf")}}, "short_checkpoint")]
    for kwargs, setting in cases:
        args = {"checkpoint": models["seg"], **kwargs}
        with pytest.raises(SetupError) as exc:
            ForecastRuntime(**args)
        assert exc.value.setting == setting, (kwargs, str(exc.value))
    said: list[str] = []
    empty = ForecastRuntime(models["seg"], models_dir=models["dir"] / "nothing", warn=said.append)
    assert empty.horizons == [] and len(said) == 2 and "is skipped" in said[0]
