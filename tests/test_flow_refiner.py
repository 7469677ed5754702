"""The flow refiner: an untrained one is exactly flow extrapolation, its fast label rule is the argmax it stands
for, its checkpoints are checked like every other, the runtime and eval-forecast use it, and train-flow-refiner
trains, resumes and refuses what cannot work."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from forecast_fixtures import random_forecaster_checkpoint, random_seg_checkpoint, write_moving_objects
from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.forecast.motion import FlowExtrapolation, Motion
from swiftcast.forecast.refine import (
    FlowRefinement,
    RefinedFlowForecaster,
    as_batch,
    discover_refiners,
    grid_size,
    refiner_inputs,
)
from swiftcast.forecast.runtime import ForecastRuntime, SetupError
from swiftcast.models import read_config, save_checkpoint
from swiftcast.models.registry import build_refiner

SIZE = (64, 128)


def _refiner_checkpoint(out, seg, seed: int | None = None):
    """A refiner for ``seg``'s labels: untrained (zero head: plain flow extrapolation) or with random head weights."""
    net = build_refiner("flow_refiner", num_classes=19, widths=[8, 8, 8, 8])
    if seed is not None:
        torch.manual_seed(seed)
        with torch.no_grad():
            net.head.weight.normal_(0, 2.0)
            net.head.bias.normal_(0, 2.0)
    config = {"seg_model_id": read_config(seg)["model_id"], "input_size": list(SIZE)}
    return save_checkpoint(out, net, config)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("refiner")
    seg = random_seg_checkpoint(tmp / "seg", SIZE)
    models_dir = tmp / "models"
    return {"seg": seg, "dir": models_dir, "zero": _refiner_checkpoint(models_dir / "refiner_zero", seg),
            "random": _refiner_checkpoint(tmp / "refiner_random", seg, seed=3)}


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, Motion]:
    labels = np.repeat(np.repeat(rng.integers(0, 19, (8, 16)), 8, 0), 8, 1).astype(np.uint8)
    flow = np.stack(np.broadcast_arrays(np.float32(-2.5), np.float32(1.0)), -1) * np.ones((*SIZE, 1), np.float32)
    flow += rng.normal(0, 0.3, flow.shape).astype(np.float32)
    return labels, Motion(flow, 3.0)


def test_an_untrained_refiner_is_exactly_flow_extrapolation(models) -> None:
    rng = np.random.default_rng(0)
    refinement = FlowRefinement(models["zero"], read_config(models["seg"])["model_id"])
    for horizon in (3.0, 9.0, 4.5):
        labels, motion = _scene(rng)
        np.testing.assert_array_equal(refinement(labels, motion, horizon),
                                      FlowExtrapolation.forecast(labels, motion, horizon))


def test_the_label_rule_is_the_argmax_of_warped_scores_plus_residual(models) -> None:
    refinement = FlowRefinement(models["random"])
    labels, motion = _scene(np.random.default_rng(1))
    inputs = refiner_inputs(labels, motion, 9.0, SIZE)
    warped, disp, flow, steps = as_batch([inputs])
    net = refinement.net
    with torch.no_grad():
        from swiftcast.models.flow_refiner import class_fractions

        fractions, _ = class_fractions(warped[:, ::2, ::2], 19, disp.shape[-2:])
        residual = net.residual(fractions, disp, flow, steps)
        onehot = torch.nn.functional.one_hot(warped.long(), 19).permute(0, 3, 1, 2).float()
        scores = net.scale * onehot + torch.nn.functional.interpolate(residual, size=SIZE, mode="nearest")
    refined = net.refine(warped, disp, flow, steps)
    np.testing.assert_array_equal(refined.numpy(), scores.argmax(1).numpy())
    assert (refined != warped.long()).any()  # the random head does change labels


def test_labels_of_another_size_come_back_at_their_size(models) -> None:
    refinement = FlowRefinement(models["random"])
    labels, motion = _scene(np.random.default_rng(2))
    big = np.repeat(np.repeat(labels, 2, 0), 2, 1)
    out = refinement(big, motion, 3.0)
    assert out.shape == big.shape and out.dtype == np.uint8
    with pytest.raises(ValueError, match="multiple of 8"):
        grid_size((60, 128))


def test_checkpoints_are_checked(models, tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        FlowRefinement(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="not of"):
        FlowRefinement(models["zero"], "swiftnet_rn18-000000000000")
    forecaster = random_forecaster_checkpoint(tmp_path / "f2f", models["seg"], 3)
    with pytest.raises(CheckpointError, match="not a flow refiner"):
        FlowRefinement(forecaster)
    assert discover_refiners(models["dir"], read_config(models["seg"])["model_id"]) == [models["zero"]]
    assert discover_refiners(models["dir"], "another-model") == []


def test_the_runtime_refines_every_flow_horizon(models) -> None:
    runtime = ForecastRuntime(models["seg"], forecasters={"short": "flow", "mid": "flow"},
                              flow_refiner=models["random"])
    assert all(isinstance(h.forecaster, RefinedFlowForecaster) for h in runtime.horizons)
    assert runtime.horizons[0].forecaster.refinement is runtime.horizons[1].forecaster.refinement
    auto = ForecastRuntime(models["seg"], forecasters={"short": "flow", "mid": "flow"}, models_dir=models["dir"],
                           flow_refiner="auto")
    assert auto.refinement is not None and auto.refinement.model_id == read_config(models["zero"])["model_id"]
    plain = ForecastRuntime(models["seg"], forecasters={"short": "flow", "mid": "flow"},
                            models_dir=models["dir"] / "nothing", flow_refiner="auto")
    assert plain.refinement is None and not isinstance(plain.horizons[0].forecaster, RefinedFlowForecaster)
    with pytest.raises(SetupError) as err:
        ForecastRuntime(models["seg"], forecasters={"short": "flow"}, horizons=["short"], flow_refiner=models["seg"])
    assert err.value.setting == "flow_refiner"

    # a live stream at 17 Hz: once a frame 3P back is there, both horizons are forecast at the camera size
    rng = np.random.default_rng(4)
    for i in range(5):
        stamp = 1_000_000_000_000 + i * 58_823_529
        runtime.add_frame(stamp, rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8))
        runtime.add_labels(stamp, rng.integers(0, 19, SIZE).astype(np.uint8))
        forecasts = runtime.forecast(runtime.add_features(stamp, np.zeros((1, 2, 4), np.float16), SIZE))
    assert {f.horizon for f in forecasts} == {"short", "mid"}
    assert all(f.labels.shape == SIZE and f.labels.dtype == np.uint8 for f in forecasts)


def _train_args(data, out, **changes) -> argparse.Namespace:
    args = dict(data=str(data), seg_model=None, flow_preset="ultrafast", out=str(out), iters=4, batch_size=2,
                lr=2e-3, min_lr=1e-5, wd=1e-4, seed=0, resume=False, stop_at=None, save_every=2, val_every=0,
                no_val=False, cache_dir=None, device="cpu", threads=1, precision="fp32", class_weights="balanced")
    args.update(changes)
    return argparse.Namespace(**args)


def test_training_writes_a_refiner_the_runtime_loads_and_resumes_exactly(models, tmp_path) -> None:
    from swiftcast.train.flow_refiner import run_training

    data = tmp_path / "data"
    write_moving_objects(data, splits=("train", "val"), sequences=1, size=SIZE, seed=0)
    out = tmp_path / "refiner"
    first = run_training(_train_args(data, out, seg_model=str(models["seg"]), stop_at=2))
    assert first.iteration == 2
    done = run_training(_train_args(data, out, seg_model=str(models["seg"]), resume=True))
    assert done.iteration == 4 and done.last_val is not None and "t+9" in done.last_val
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "flow_refiner" and len(config["training"]["resumed_with"]) == 1
    FlowRefinement(out, read_config(models["seg"])["model_id"])

    from swiftcast.eval.forecast import FLOW, REFINED_FLOW, evaluate_forecasting

    evaluation = evaluate_forecasting(data, seg_model=models["seg"], forecasters=[], flow_refiner=out,
                                      device="cpu", progress=False)
    assert {FLOW, REFINED_FLOW} <= set(evaluation.results)
    assert evaluation.to_json()["checkpoints"][REFINED_FLOW] == {"short": str(out), "mid": str(out)}
    plain = evaluate_forecasting(data, seg_model=models["seg"], forecasters=[], models_dir=tmp_path / "none",
                                 device="cpu", progress=False)
    assert REFINED_FLOW not in plain.results and FLOW in plain.results
    with pytest.raises(SwiftcastError, match="different options"):
        run_training(_train_args(data, out, seg_model=str(models["seg"]), resume=True, iters=8))
    with pytest.raises(SwiftcastError, match="already holds"):
        run_training(_train_args(data, out, seg_model=str(models["seg"])))
    with pytest.raises(SwiftcastError, match="unknown flow preset"):
        run_training(_train_args(data, tmp_path / "other", seg_model=str(models["seg"]), flow_preset="slowest"))
