"""Faults, with real processes: nodes killed under `swiftcast stack`, broken model files, oversized input.

- kill -9 the forecast node while the stack runs: segmentation keeps answering every frame; the stack says which
  node died and how, and (``--restart``) restarts it; then kill -9 the semseg node: it is restarted, and the
  forecast node resumes forecasting once its history has refilled, says so in its log and counts it (``resumed``
  in /diagnostics); a parameter update to a corrupted checkpoint on the restarted node is rejected while the old
  model keeps serving. Every step waits on a condition (a log line, labels for a frame, a forecast) with a
  generous deadline, never a fixed sleep: three node start-ups on a loaded 2-core machine take what they take.
- a missing, corrupted, other-architecture or wrong-kind model file: the forecast node refuses to start with one
  line naming the parameter and no traceback (the semseg node's cases are in tests/test_semseg_node.py).
- inputs claiming huge sizes are refused before anything of that size is allocated (tracemalloc).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from forecast_fixtures import random_forecaster_checkpoint
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

NS = 1_000_000_000
P = round(NS / 17)
IMAGE = (48, 80)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny segmentation checkpoint and forecasters for it (short in models/, mid in models/)."""
    tmp = tmp_path_factory.mktemp("faults")
    seg = make_tiny_checkpoint(tmp / "seg")
    models_dir = tmp / "models"
    short = random_forecaster_checkpoint(models_dir / "f2f_short", seg, 3, seed=1)
    mid = random_forecaster_checkpoint(models_dir / "f2f_mid", seg, 9, method="conv_f2f", seed=2)
    return {"seg": seg, "short": short, "mid": mid, "dir": models_dir, "tmp": tmp}


def _corrupt_copy(src, dst):
    shutil.copytree(src, dst)
    weights = dst / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = os.urandom(64)  # same size, damaged payload
    weights.write_bytes(bytes(data))
    return dst


def _other_arch_copy(src, dst, key, value):
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config[key] = value
    (dst / "config.json").write_text(json.dumps(config))
    return dst


# --- oversized input: refused before allocation (no ROS needed) ----------------------------------------------------
def test_oversized_inputs_are_refused_before_allocation():
    from swiftcast.runtime.features import FeatureError, decode_features
    from fuzz_cases import jpeg_header, png_header
    from swiftcast.runtime.images import ImageError, check_size, decode_compressed, decode_raw

    small = bytes(64)
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match="max_input_pixels") as e1:
            decode_raw("bgr8", 4320, 7680, 7680 * 3, small)  # an 8K frame header with 64 bytes of data
        with pytest.raises(ImageError) as e2:
            decode_raw("rgb8", 2**32 - 1, 2**32 - 1, 2**32 - 1, small)
        with pytest.raises(ImageError) as e3:
            decode_compressed("png", png_header(65535, 65535) + small)
        with pytest.raises(ImageError) as e4:
            decode_compressed("jpeg", jpeg_header(8192, 8192) + small + b"\xff\xd9")
        with pytest.raises(FeatureError) as e5:
            decode_features(2**32 - 1, 2**32 - 1, 2**32 - 1, "float32", small)
        with pytest.raises(ImageError) as e6:
            check_size(65535, 65535, 4096 * 4096)  # the forecast node's max_output_pixels check
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert {e.value.reason for e in (e1, e2, e3, e4, e6)} == {"too_large"} and e5.value.reason == "shape"
    assert peak < 1 << 20, f"{peak} bytes allocated while refusing oversized inputs"


# --- model files: the forecast node refuses to start with one line ---------------------------------------------------
@pytest.mark.ros
def test_forecast_node_refuses_bad_model_files_with_one_line(models, tmp_path):
    require_ros()
    from swiftcast.orchestration.rosenv import node_executable

    seg, short = models["seg"], models["short"]
    missing = tmp_path / "no_such_model"
    cases = {
        "checkpoint": [("checkpoint", missing), ("checkpoint", _corrupt_copy(seg, tmp_path / "seg_corrupt")),
                       ("checkpoint", _other_arch_copy(seg, tmp_path / "seg_mnv2", "architecture", "swiftnet_mnv2")),
                       ("checkpoint", short)],  # a forecaster where the segmentation model belongs
        "short_checkpoint": [("short_checkpoint", missing),
                             ("short_checkpoint", _corrupt_copy(short, tmp_path / "short_corrupt")),
                             ("short_checkpoint", _other_arch_copy(short, tmp_path / "short_conv", "architecture",
                                                                   "conv_f2f")),
                             ("short_checkpoint", seg)],  # a segmentation model where a forecaster belongs
    }
    cleanup_fastdds_shm()  # segments left by nodes killed in earlier tests
    procs = []
    for param, runs in cases.items():
        for name, path in runs:
            args = ["-p", f"checkpoint:={seg}", "-p", f"models_dir:={models['dir']}", "-p", f"{name}:={path}"]
            cmd = [str(node_executable("forecast_node", "forecast_node")), "--ros-args", "-r", "__node:=forecast",
                   *args]
            # a domain each: the refusing nodes have nothing to say to each other
            procs.append((param, path, NodeProcess(cmd, ros_child_env(allocate_domain_id()))))
    try:
        for param, path, proc in procs:
            try:
                code = proc.wait(180)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{param}={path}: still running after 180 s; its output so far:\n{proc.output()}")
            output = proc.output()
            lines = [line for line in output.splitlines() if line.strip()]
            assert code == 2, f"{param}={path}: exit {code}\n{output}"
            assert len(lines) == 1 and f"parameter '{param}'" in lines[0], f"{param}={path}:\n{output}"
            assert "Traceback" not in output
    finally:
        for _, _, proc in procs:
            proc.stop(signal.SIGKILL)


# --- killed nodes under swiftcast stack ----------------------------------------------------------------------------
STARTED = r"started /perception/{} \(pid (\d+)\)"


def _pids(output: str, node: str) -> list[int]:
    return [int(p) for p in re.findall(STARTED.format(node), output)]


class _Camera:
    """Lockstep camera: each frame (stamps P apart, from ``next_ns``) is re-sent until its labels come back."""

    def __init__(self, probe, labels, topic: str) -> None:
        from sensor_msgs.msg import Image

        self.probe, self.labels = probe, labels
        self.pub = probe.publisher(Image, topic)
        self.next_ns = 5_000 * NS
        self.rng = np.random.default_rng(0)

    def frames(self, n: int, timeout: float = 30.0) -> list[int]:
        from sensor_msgs.msg import Image

        stamps = []
        for _ in range(n):
            t, self.next_ns = self.next_ns, self.next_ns + P
            img = self.rng.integers(0, 255, (*IMAGE, 3), dtype=np.uint8)
            msg = Image(height=IMAGE[0], width=IMAGE[1], encoding="rgb8", step=3 * IMAGE[1], data=img.tobytes())
            msg.header.stamp.sec, msg.header.stamp.nanosec = t // NS, t % NS
            msg.header.frame_id = "cam"
            self.probe.publish_until(self.pub, msg, lambda: self.labels.wait_for(
                lambda m: m.header.stamp.sec * NS + m.header.stamp.nanosec == t, 0), timeout=timeout, interval=1.0)
            stamps.append(t)
        return stamps


def _forecast_for(collector, stamps: list[int], timeout: float):
    targets = {t + 3 * P for t in stamps}
    return collector.wait_for(lambda m: m.header.stamp.sec * NS + m.header.stamp.nanosec in targets, timeout)


def _feed_until_forecast(camera: _Camera, forecasts, max_frames: int = 150, deadline_s: float = 300.0):
    """Lockstep frames until a short forecast for one of them arrives: a (re)started node's subscriptions match
    its peers some time after it says ready, and the first frames may not reach it. Returns (stamps, forecast)."""
    stamps: list[int] = []
    deadline = time.monotonic() + deadline_s
    while len(stamps) < max_frames and time.monotonic() < deadline:
        stamps += camera.frames(1, timeout=120)
        got = _forecast_for(forecasts, stamps, 0)
        if got is not None:
            return stamps, got
    return stamps, _forecast_for(forecasts, stamps, 60)  # the last frames' forecasts may still be on their way


def _wait_for_count(stack: NodeProcess, pattern: str, count: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while len(re.findall(pattern, stack.output())) < count:
        assert time.monotonic() < deadline, f"{pattern!r} not seen {count} times:\n{stack.output()[-3000:]}"
        time.sleep(0.2)


@pytest.mark.ros
@pytest.mark.timeout(1800)
def test_killed_nodes_under_the_stack(models, tmp_path):
    """kill -9 forecast: segmentation unaffected, forecast restarted; kill -9 semseg: restarted, forecasts resume
    (logged and counted); a corrupted checkpoint update on the restarted semseg node is rejected."""
    require_ros()
    import yaml
    from diagnostic_msgs.msg import DiagnosticArray
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from sensor_msgs.msg import Image
    from swiftcast_msgs.msg import SemanticForecast

    from ros_utils import REPO

    params = yaml.safe_load((REPO / "launch" / "params" / "perception.yaml").read_text())
    # the learned forecasters: their feature history is what an outage empties and a restart refills
    params["/**/forecast"]["ros__parameters"].update(models_dir=str(models["dir"]), diagnostics_period_s=0.5,
                                                      log_period_s=0.0, short_checkpoint="auto", mid_checkpoint="auto")
    params["/**/semseg"]["ros__parameters"].update(device="cpu", num_threads=1, log_period_s=0.0)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    domain = allocate_domain_id()
    command = [sys.executable, "-m", "swiftcast.cli", "stack", "--checkpoint", str(models["seg"]), "--params",
               str(params_file), "--camera-topic", "/fault/camera", "--restart"]
    with NodeProcess(command, ros_child_env(domain)) as stack, RosProbe(domain) as probe:
        labels = probe.subscribe(Image, "/perception/semseg/labels")
        forecasts = probe.subscribe(SemanticForecast, "/perception/forecast/short")
        diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics")
        camera = _Camera(probe, labels, "/fault/camera")
        stack.wait_for_output(r"ready: /perception/semseg/features -> forecasts short", timeout=300)
        stack.wait_for_output(r"ready: /fault/camera", timeout=300)
        probe.wait_for_subscribers(camera.pub)
        assert _feed_until_forecast(camera, forecasts)[1] is not None, stack.output()[-3000:]

        # 1. kill -9 the forecast node: every camera frame is still segmented, the stack reports and restarts it
        semseg_pid = _pids(stack.output(), "semseg")[-1]
        os.kill(_pids(stack.output(), "forecast")[-1], signal.SIGKILL)
        t0 = time.monotonic()
        camera.frames(8, timeout=120)  # answered while the forecast node is down / restarting
        frames_while_down_s = time.monotonic() - t0
        stack.wait_for_output(r"node /perception/forecast exited on its own \(killed by SIGKILL\)", timeout=120)
        stack.wait_for_output(r"restarting /perception/forecast \(1/3\)", timeout=120)
        assert _pids(stack.output(), "semseg") == [semseg_pid], "the semseg node was touched"
        _wait_for_count(stack, r"ready: /perception/semseg/features", 2)
        assert _feed_until_forecast(camera, forecasts)[1] is not None, stack.output()[-3000:]

        # 2. kill -9 the semseg node: restarted; the forecast node resumes once its history refilled, and says so
        os.kill(semseg_pid, signal.SIGKILL)
        stack.wait_for_output(r"node /perception/semseg exited on its own \(killed by SIGKILL\)", timeout=120)
        stack.wait_for_output(r"restarting /perception/semseg \(1/3\)", timeout=120)
        _wait_for_count(stack, r"ready: /fault/camera", 2)
        camera.next_ns += 30 * NS  # the camera kept running while the node was down: a gap in the stamps
        # until the restarted semseg answers a frame, then until forecasts resume (nine frames of history at least)
        resumed, got = _feed_until_forecast(camera, forecasts)
        assert got is not None, stack.output()[-3000:]
        assert _forecast_for(forecasts, resumed[:9], 0) is None, "forecast without a refilled history"
        stack.wait_for_output(r"forecasting resumed at .*history refilled after \d+ frame", timeout=120)
        counts = diagnostics.wait_for(lambda m: (diagnostic_values(m, "forecast: frames") or {}).get("resumed"), 120)
        assert counts is not None and int(diagnostic_values(counts, "forecast: frames")["resumed"]) >= 1

        # 3. the restarted semseg node rejects a corrupted checkpoint and keeps serving with its model
        client = probe.node.create_client(SetParameters, "/perception/semseg/set_parameters")
        assert client.wait_for_service(timeout_sec=120)
        bad = _corrupt_copy(models["seg"], tmp_path / "corrupt")
        future = client.call_async(SetParameters.Request(parameters=[ParameterMsg(
            name="checkpoint", value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(bad)))]))
        deadline = time.monotonic() + 300
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert future.done(), "no answer to the parameter update"
        result = future.result().results[0]
        assert not result.successful and "checkpoint" in result.reason
        camera.frames(2, timeout=120)
        assert stack.stop(signal.SIGINT, timeout=60) == 0, stack.output()[-3000:]
    output = stack.output()
    assert "Traceback" not in output
    print(f"frames segmented while the forecast node was down: 8 in {frames_while_down_s:.1f} s")
    cleanup_fastdds_shm()
