"""The forecast node as a real process over real DDS: feature messages with chosen stamps in, forecasts out.

One node serves the module (tiny random checkpoints: a SwiftNet at 64x128 and a short- and a mid-term F2F whose
output layer is perturbed, so a forecast depends on all four past frames). Every test uses its own, later, time
base, so the history only resets where a test makes the stamps go backwards on purpose. Expected forecasts are
computed in this process with the core SemanticForecaster from the frames the forecasting protocol prescribes; a wrong
choice of past frames would give different labels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forecast_fixtures import random_forecaster_checkpoint
from swiftcast.forecast.motion import DEFAULT_PRESET
from ros_utils import (
    NodeProcess,
    RosProbe,
    allocate_domain_id,
    cleanup_fastdds_shm,
    diagnostic_values,
    make_tiny_checkpoint,
    require_ros,
    ros_child_env,
)

pytestmark = pytest.mark.ros

P = round(1e9 / 17)  # the node's default frame_period_s, in ns
IMAGE = (96, 160)  # camera size: forecasts come back at this size
FEATURE_SHAPE = (128, 2, 4)  # a 64x128 model input at stride 32
NS = 1_000_000_000


def forecast_command(*ros_args: str) -> list[str]:
    from swiftcast.orchestration.rosenv import node_executable

    return [str(node_executable("forecast_node", "forecast_node")), "--ros-args", "-r", "__node:=forecast",
            "-r", "__ns:=/perception", *ros_args]


class World:
    def __init__(self, tmp) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float32
        from swiftcast_msgs.msg import FeatureMap, SemanticForecast

        from swiftcast.forecast.forecaster import SemanticForecaster
        from swiftcast.models import load_checkpoint

        self.seg = make_tiny_checkpoint(tmp / "seg")
        self.short = random_forecaster_checkpoint(tmp / "short", self.seg, 3, seed=1, perturb=0.05)
        self.mid = random_forecaster_checkpoint(tmp / "mid", self.seg, 9, method="conv_f2f", seed=2, perturb=0.05)
        seg_config = load_checkpoint(self.seg)[1]
        self.model_id = seg_config["model_id"]
        self.expected = {"short": SemanticForecaster(self.short, self.seg),
                         "mid": SemanticForecaster(self.mid, self.seg)}
        domain = allocate_domain_id()
        self.node = NodeProcess(forecast_command(
            "-p", f"checkpoint:={self.seg}", "-p", f"short_checkpoint:={self.short}",
            "-p", f"mid_checkpoint:={self.mid}", "-p", "diagnostics_period_s:=0.2", "-p", "log_period_s:=0.0",
        ), ros_child_env(domain))
        self.probe = p = RosProbe(domain)
        self.features = p.publisher(FeatureMap, "/perception/semseg/features")
        self.semseg_labels = p.publisher(Image, "/perception/semseg/labels")
        self.labels = {h: p.subscribe(Image, f"/perception/forecast/{h}/labels") for h in ("short", "mid")}
        self.forecasts = {h: p.subscribe(SemanticForecast, f"/perception/forecast/{h}") for h in ("short", "mid")}
        self.overlay = p.subscribe(Image, "/perception/forecast/short/overlay")
        self.consistency = p.subscribe(Float32, "/perception/forecast/short/consistency")
        self.diagnostics = p.subscribe(DiagnosticArray, "/diagnostics")
        self.node.wait_for_output(r"ready: ", timeout=180)
        p.wait_for_subscribers(self.features)
        p.wait_for_subscribers(self.semseg_labels)
        self.base = 1_000 * NS
        self.rng = np.random.default_rng(0)

    def new_base(self) -> int:
        """A time base later than anything sent so far (no accidental reset)."""
        self.base += 1_000 * NS
        return self.base

    def random_features(self) -> np.ndarray:
        return self.rng.normal(0, 1, FEATURE_SHAPE).astype(np.float16)

    def send(self, stamp: int, features: np.ndarray, model_id: str | None = None, frame_id: str = "cam_front",
             **overrides) -> None:
        from std_msgs.msg import Header
        from swiftcast_ros.conversions import features_to_msg

        header = Header(stamp=_time(stamp), frame_id=frame_id)
        msg = features_to_msg(features, header, model_id or self.model_id, IMAGE, 32)
        for key, value in overrides.items():
            setattr(msg, key, value)
        self.features.publish(msg)

    def wait_forecast(self, horizon: str, target: int, timeout: float = 20.0):
        return self.forecasts[horizon].wait_for(lambda m: _ns(m.header.stamp) == target, timeout)

    def expected_labels(self, horizon: str, past: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return self.expected[horizon](past, IMAGE).labels

    def counts(self) -> dict[str, str]:
        for m in reversed(self.diagnostics.messages):
            values = diagnostic_values(m, "forecast: frames")
            if values is not None:
                return values
        return {}

    def fresh_counts(self, timeout: float = 5.0) -> dict[str, str]:
        """Diagnostics published after now (the node reports every 0.2 s)."""
        self.diagnostics.clear()
        m = self.diagnostics.wait_for(lambda m: diagnostic_values(m, "forecast: frames") is not None, timeout)
        assert m is not None, f"no diagnostics from the forecast node:\n{self.node.output()[-3000:]}"
        return diagnostic_values(m, "forecast: frames")

    def close(self) -> None:
        self.probe.close()
        code = self.node.stop()
        cleanup_fastdds_shm()
        assert code == 0, f"forecast node did not stop cleanly ({code}):\n{self.node.output()}"


def _ns(stamp) -> int:
    return stamp.sec * NS + stamp.nanosec


def _time(ns: int):
    from builtin_interfaces.msg import Time

    return Time(sec=ns // NS, nanosec=ns % NS)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_ros()
    torch.set_num_threads(1)
    w = World(tmp_path_factory.mktemp("forecast_node"))
    yield w
    w.close()


def _labels(msg) -> np.ndarray:
    from swiftcast_ros.conversions import image_msg_to_array

    return image_msg_to_array(msg)


def _agree(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


def _stream(world: World, stamps: list[int], wait_from: int, horizon: str = "short") -> dict[int, object]:
    """Send features at ``stamps``; from index ``wait_from`` on, wait for each frame's forecast before the next
    (the node works on the newest frame only). Returns {index: SemanticForecast or None}."""
    import time

    feats = [world.random_features() for _ in stamps]
    out = {}
    k = 3 if horizon == "short" else 9
    for i, (stamp, f) in enumerate(zip(stamps, feats)):
        world.send(stamp, f)
        if i >= wait_from:
            out[i] = world.wait_forecast(horizon, stamp + k * P)
        else:
            time.sleep(0.03)
    world.feats = feats
    return out


def test_17hz_stream_forecasts_stamped_source_plus_horizon(world: World) -> None:
    base = world.new_base()
    stamps = [base + i * P for i in range(12)]
    got = _stream(world, stamps, wait_from=9)
    feats = world.feats
    for i in range(9, 12):
        msg = got[i]
        assert msg is not None, f"no short forecast for frame {i}:\n{world.node.output()}"
        assert _ns(msg.header.stamp) == stamps[i] + 3 * P and _ns(msg.source_stamp) == stamps[i]
        assert msg.horizon.sec * NS + msg.horizon.nanosec == 3 * P and msg.header.frame_id == "cam_front"
        assert (msg.labels.height, msg.labels.width, msg.labels.encoding) == (*IMAGE, "mono8")
        expected = world.expected_labels("short", [feats[i - 9], feats[i - 6], feats[i - 3], feats[i]])
        wrong = world.expected_labels("short", [feats[i - 3], feats[i - 2], feats[i - 1], feats[i]])
        assert _agree(expected, wrong) < 0.97, "test forecaster insensitive to the past frames"
        assert _agree(_labels(msg.labels), expected) > 0.99
        mid = world.wait_forecast("mid", stamps[i] + 9 * P)
        assert mid is not None and _ns(mid.source_stamp) == stamps[i]
        expected_mid = world.expected_labels("mid", [feats[i - 9], feats[i - 6], feats[i - 3], feats[i]])
        assert _agree(_labels(mid.labels), expected_mid) > 0.99
        # the plain label topic carries the same map with the same stamp
        plain = world.labels["short"].wait_for(lambda m: _ns(m.header.stamp) == stamps[i] + 3 * P, 5)
        assert plain is not None and np.array_equal(_labels(plain), _labels(msg.labels))
    # frames 0..8 lack t-9P: nothing was forecast for them
    early = {stamps[i] + 3 * P for i in range(9)}
    assert not [m for m in world.forecasts["short"].messages if _ns(m.header.stamp) in early]
    overlay = world.overlay.wait_for(lambda m: _ns(m.header.stamp) == stamps[11] + 3 * P, 5)
    assert overlay is not None and (overlay.encoding, overlay.height, overlay.width) == ("bgr8", *IMAGE)


def test_30hz_camera_is_matched_by_time(world: World) -> None:
    base = world.new_base()
    period_30 = round(NS / 30)
    stamps = [base + i * period_30 for i in range(19)]
    # t-9P = 529 ms back = 16 frames at 30 Hz (533 ms); t-6P -> 11 frames; t-3P -> 5 frames
    got = _stream(world, stamps, wait_from=16)
    feats = world.feats
    for i in range(16, 19):
        msg = got[i]
        assert msg is not None, f"no forecast for 30 Hz frame {i}:\n{world.node.output()}"
        assert _ns(msg.header.stamp) == stamps[i] + 3 * P
        expected = world.expected_labels("short", [feats[i - 16], feats[i - 11], feats[i - 5], feats[i]])
        assert _agree(_labels(msg.labels), expected) > 0.99
    early = {stamps[i] + 3 * P for i in range(15)}
    assert not [m for m in world.forecasts["short"].messages if _ns(m.header.stamp) in early]


@pytest.mark.parametrize("rate_hz", [10, 30])
def test_10hz_and_30hz_cameras_get_forecasts_at_both_horizons(world: World, rate_hz: int) -> None:
    """Once enough history exists both horizons forecast every frame; the inputs are what the core history makes
    of this stream (frames within the tolerance, else interpolated between the two around t-kP)."""
    from swiftcast.forecast.history import FeatureHistory
    from swiftcast.forecast.runtime import blend_features

    base = world.new_base()
    period = round(NS / rate_hz)
    first = -(-9 * P // period) + 1  # the first frame with a frame older than t-9P
    stamps = [base + i * period for i in range(first + 3)]
    got = _stream(world, stamps, wait_from=first)
    history: FeatureHistory[np.ndarray] = FeatureHistory(P, round(0.5e9 / 17), max_gap_ns=round(2e9 / 17),
                                                         blend=blend_features)
    for i, (stamp, f) in enumerate(zip(stamps, world.feats)):
        history.insert(stamp, f)
        if i < first:
            continue
        match = history.match(stamp)
        assert match.ok
        if rate_hz == 10:
            assert any(match.interpolated), "a 10 Hz stream has no frame near t-6P"
        for horizon, k in (("short", 3), ("mid", 9)):
            msg = got[i] if horizon == "short" else world.wait_forecast("mid", stamp + k * P)
            assert msg is not None, f"no {horizon} forecast for {rate_hz} Hz frame {i}:\n{world.node.output()}"
            assert _ns(msg.header.stamp) == stamp + k * P and _ns(msg.source_stamp) == stamp
            expected = world.expected_labels(horizon, list(match.items))
            assert _agree(_labels(msg.labels), expected) > 0.99


def test_gap_in_the_history_means_no_forecast(world: World) -> None:
    base = world.new_base()
    before = int(world.fresh_counts().get("waiting_history", 0))
    present = [i for i in range(17) if i not in (3, 4, 5)]
    stamps = [base + i * P for i in present]
    feats = {}
    import time

    for i, stamp in zip(present, stamps):
        feats[i] = world.random_features()
        world.send(stamp, feats[i])
        if i == 15:  # the first frame whose t-9P, t-6P, t-3P (6, 9, 12) are all there
            msg = world.wait_forecast("short", stamp + 3 * P)
            assert msg is not None
            expected = world.expected_labels("short", [feats[6], feats[9], feats[12], feats[15]])
            assert _agree(_labels(msg.labels), expected) > 0.99
        time.sleep(0.03)
    world.wait_forecast("short", base + 16 * P + 3 * P)
    missing = {base + i * P + 3 * P for i in range(9, 15)}  # frames 9..14 need one of 3, 4, 5
    assert not [m for m in world.forecasts["short"].messages if _ns(m.header.stamp) in missing]
    after = int(world.fresh_counts()["waiting_history"])
    assert after - before >= 6 + 6  # frames 0..2, 6..8 (too early) and 9..14 (gap)


def test_backwards_stamps_reset_the_history(world: World) -> None:
    base = world.new_base()
    _stream(world, [base + i * P for i in range(10)], wait_from=9)
    restart = base - 500 * NS  # a bag loop: back in time
    got = _stream(world, [restart + i * P for i in range(10)], wait_from=9)
    assert got[9] is not None and _ns(got[9].header.stamp) == restart + 12 * P
    world.node.wait_for_output("stamp went backwards", timeout=5)
    # right after the reset the old frames no longer count: no forecasts for the restarted frames 0..8
    early = {restart + i * P + 3 * P for i in range(9)}
    assert not [m for m in world.forecasts["short"].messages if _ns(m.header.stamp) in early]
    assert int(world.fresh_counts()["history_resets"]) >= 1


def test_malformed_features_are_rejected_and_counted(world: World) -> None:
    base = world.new_base()
    before = world.fresh_counts()
    good = world.random_features()
    nan = good.copy()
    nan[0, 0, 0] = np.nan
    import time

    bad = [({"dtype": "int8"}, good), ({"data": good.tobytes()[:-2]}, good), ({}, nan),
           ({}, np.zeros((64, 2, 4), np.float16)), ({"model_id": "swiftnet_rn18-someoneelse"}, good),
           ({"image_height": 0}, good)]
    for i, (overrides, features) in enumerate(bad):
        world.send(base + i * P, features, **overrides)
        time.sleep(0.05)  # reliable, depth 5: a burst could overwrite samples not yet taken

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        after = world.fresh_counts()
        if int(after["frames_rejected"]) - int(before.get("frames_rejected", 0)) >= 6:
            break
    for reason, n in (("dtype", 1), ("data_size", 1), ("non_finite", 1), ("shape", 2), ("model_id", 1)):
        key = f"rejected_{reason}"
        assert int(after.get(key, 0)) - int(before.get(key, 0)) == n, (key, before, after)
    assert world.node.alive()
    # and it still forecasts afterwards
    got = _stream(world, [base + (10 + i) * P for i in range(10)], wait_from=9)
    assert got[9] is not None


def test_online_consistency_against_later_labels(world: World) -> None:
    from std_msgs.msg import Header
    from swiftcast_ros.conversions import array_to_image_msg

    base = world.new_base()
    got = _stream(world, [base + i * P for i in range(10)], wait_from=9)
    forecast = _labels(got[9].labels).copy()
    world.consistency.clear()
    # the semseg labels of the target frame (t+3P) arrive later; here they equal the forecast -> mIoU 1
    world.semseg_labels.publish(array_to_image_msg(forecast, Header(stamp=_time(base + 12 * P), frame_id="cam")))
    score = world.consistency.wait_for(timeout=10)
    assert score is not None and score.data == pytest.approx(1.0)
    counts = world.fresh_counts()
    assert int(counts["short_scored"]) >= 1 and counts["short_consistency_miou"] != "n/a"


def test_bad_parameters_stop_the_node_with_one_line(world: World, tmp_path) -> None:
    env = ros_child_env(allocate_domain_id())
    cases = [
        (["-p", f"checkpoint:={world.seg}", "-p", "match_tolerance_s:=0.1"], "parameter 'match_tolerance_s'"),
        (["-p", f"checkpoint:={world.seg}", "-p", f"short_checkpoint:={world.mid}"],
         "parameter 'short_checkpoint'"),
    ]
    for args, message in cases:
        node = NodeProcess(forecast_command(*args), env)
        assert node.wait(120) == 2, node.output()
        assert message in node.output() and "Traceback" not in node.output()
        node.stop()


@pytest.mark.parametrize("forecaster", ["auto", "flow"])
def test_stack_publishes_short_and_mid_forecasts_from_a_camera_stream(world: World, tmp_path, forecaster) -> None:
    """`swiftcast stack` (semseg + forecast, shared parameter file) on a camera stream: forecasts for both horizons,
    stamped source + k*P, and the live consistency score. With 'auto' the learned forecasters run on ONNX Runtime
    (the unit tests cover the torch path; test_onnx compares the two); with 'flow' (the shipped default) the forecast
    node reads the remapped camera topic itself."""
    import shutil
    import sys

    import yaml
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32
    from swiftcast_msgs.msg import SemanticForecast

    from ros_utils import REPO

    models = tmp_path / "models"
    shutil.copytree(world.short, models / "f2f_short")
    shutil.copytree(world.mid, models / "f2f_mid")
    params = yaml.safe_load((REPO / "launch" / "params" / "perception.yaml").read_text())
    params["/**/forecast"]["ros__parameters"].update(models_dir=str(models), diagnostics_period_s=0.5,
                                                     backend="onnxruntime", short_checkpoint=forecaster,
                                                     mid_checkpoint=forecaster)
    params["/**/semseg"]["ros__parameters"].update(device="cpu", num_threads=1)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))

    domain = allocate_domain_id()
    command = [sys.executable, "-m", "swiftcast.cli", "stack", "--checkpoint", str(world.seg), "--params",
               str(params_file), "--camera-topic", "/test/camera"]
    env = {**ros_child_env(domain), "SWIFTCAST_CACHE_DIR": str(tmp_path / "cache")}
    with NodeProcess(command, env) as stack, RosProbe(domain) as probe:
        camera = probe.publisher(Image, "/test/camera")
        labels = probe.subscribe(Image, "/perception/semseg/labels")
        forecasts = {h: probe.subscribe(SemanticForecast, f"/perception/forecast/{h}") for h in ("short", "mid")}
        score = probe.subscribe(Float32, "/perception/forecast/short/consistency")
        stack.wait_for_output(r"ready: /perception/semseg/features -> forecasts short .* mid", timeout=240)
        probe.wait_for_subscribers(camera)
        rng = np.random.default_rng(0)
        base = 5_000 * NS
        for i in range(13):
            stamp = base + i * P
            img = rng.integers(0, 255, (*IMAGE, 3), dtype=np.uint8)
            msg = Image(height=IMAGE[0], width=IMAGE[1], encoding="rgb8", step=3 * IMAGE[1], data=img.tobytes())
            msg.header.stamp, msg.header.frame_id = _time(stamp), "cam"
            probe.publish_until(camera, msg, lambda: labels.wait_for(lambda m: _ns(m.header.stamp) == stamp, 0),
                                timeout=30)
        for h, k in (("short", 3), ("mid", 9)):
            got = forecasts[h].wait_for(lambda m: _ns(m.header.stamp) == base + (9 + k) * P, 20)
            assert got is not None, f"no {h} forecast from the stack:\n{stack.output()[-3000:]}"
            assert _ns(got.source_stamp) == base + 9 * P and (got.labels.height, got.labels.width) == IMAGE
        consistency = score.wait_for(timeout=20)  # the labels of frame 12 scored the forecast made at frame 9
        assert consistency is not None and 0.0 <= consistency.data <= 1.0
        assert stack.stop(timeout=30) == 0, stack.output()
    assert "Traceback" not in stack.output()
    if forecaster == "auto":
        assert "exporting forecaster+decoder" in stack.output()  # it really ran on onnxruntime
    else:
        assert f"flow-extrapolation-{DEFAULT_PRESET}" in stack.output()


def _cell_labels(i: int) -> np.ndarray:
    """trainIds constant on the 6x5 camera pixels of each cell of the model's stride-4 grid (16x32 for 64x128), so
    the labels F2MF warps and the forecast resized back to the camera size are exactly these."""
    small = np.random.default_rng(50 + i).integers(0, 19, (16, 32), dtype=np.uint8)
    return np.repeat(np.repeat(small, IMAGE[0] // 16, 0), IMAGE[1] // 32, 1)


def test_f2mf_under_models_dir_forecasts_both_horizons_from_features_and_labels(tmp_path) -> None:
    """auto picks F2MF (over DeformF2F) when one is there for the segmentation model; each frame is forecast once
    its features and its semseg/labels have both arrived, in either order. Untrained F2MF (zero motion, the warped
    branch dominating) forecasts the labels of frame t."""
    import time

    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from swiftcast_msgs.msg import FeatureMap, SemanticForecast
    from swiftcast_ros.conversions import array_to_image_msg, features_to_msg

    from swiftcast.models import read_config

    require_ros()
    seg = make_tiny_checkpoint(tmp_path / "seg")
    models = tmp_path / "models"
    random_forecaster_checkpoint(models / "deform_short", seg, 3)
    ids = {h: read_config(random_forecaster_checkpoint(models / f"f2mf_{h}", seg, k, method="f2mf",
                                                       seed=k))["model_id"] for h, k in (("short", 3), ("mid", 9))}
    domain = allocate_domain_id()
    node = NodeProcess(forecast_command("-p", f"checkpoint:={seg}", "-p", f"models_dir:={models}", "-p",
                                        "backend:=torch", "-p", "score:=false", "-p", "diagnostics_period_s:=0.2",
                                        "-p", "log_period_s:=0.0", "-p", "short_checkpoint:=auto", "-p",
                                        "mid_checkpoint:=auto"),
                       {**ros_child_env(domain), "SWIFTCAST_CACHE_DIR": str(tmp_path / "cache")})
    probe = RosProbe(domain)
    try:
        features = probe.publisher(FeatureMap, "/perception/semseg/features")
        labels = probe.publisher(Image, "/perception/semseg/labels")
        out = {h: probe.subscribe(SemanticForecast, f"/perception/forecast/{h}") for h in ("short", "mid")}
        diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics")
        node.wait_for_output(r"ready: ", timeout=240)
        probe.wait_for_subscribers(features)
        probe.wait_for_subscribers(labels)
        model_id = read_config(seg)["model_id"]
        rng = np.random.default_rng(0)
        base = 1_000 * NS
        for i in range(13):
            header = Header(stamp=_time(base + i * P), frame_id="cam_front")
            feats = features_to_msg(rng.normal(0, 1, FEATURE_SHAPE).astype(np.float16), header, model_id, IMAGE, 32)
            sends = [lambda: features.publish(feats)]
            if i != 10:  # frame 10's labels never come
                sends.append(lambda: labels.publish(array_to_image_msg(_cell_labels(i), header)))
            for send in (sends if i % 2 else sends[::-1]):  # odd frames: features first; even: labels first
                send()
            if i < 9 or i == 10:
                time.sleep(0.05)
                continue
            for h, k in (("short", 3), ("mid", 9)):
                got = out[h].wait_for(lambda m: _ns(m.header.stamp) == base + (i + k) * P, timeout=60)
                assert got is not None, f"no {h} forecast for frame {i}:\n{node.output()[-3000:]}"
                assert got.model_id == ids[h] and _ns(got.source_stamp) == base + i * P
                np.testing.assert_array_equal(_labels(got.labels), _cell_labels(i))
        assert not any(_ns(m.header.stamp) == base + 13 * P for m in out["short"].messages)  # frame 10
        diagnostics.clear()
        m = diagnostics.wait_for(lambda m: diagnostic_values(m, "forecast: frames") is not None, 5)
        counts = diagnostic_values(m, "forecast: frames")
        assert int(counts.get("missing_labels", 0)) == 1 and int(counts.get("errors", 0)) == 0, counts
    finally:
        probe.close()
        code = node.stop()
        cleanup_fastdds_shm()
    assert code == 0, node.output()
