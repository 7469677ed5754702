"""``swiftcast replay``: bags written here with rosbags go through the live stack (real processes, real DDS); the
metrics are recomputed independently (numpy, straight from outputs.mcap and the input bag) and compared."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from replay_bags import (
    NS,
    T0,
    confusion,
    image,
    ious,
    label_array,
    mean_iou,
    read_topic,
    stamp_of,
    typestore,
    write_camera_bag,
    write_recording,
)
from rosbags.rosbag2 import StoragePlugin, Writer
from ros_utils import allocate_domain_id, make_tiny_checkpoint, require_ros

from swiftcast.data.labels import CLASS_NAMES, MOVING_TRAIN_IDS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "seg", input_size=(64, 128))


def replay(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swiftcast.cli", "replay", *args, "--no-progress"],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


def assert_close(actual, expected, tol=1e-9):
    if expected is None or (isinstance(expected, float) and np.isnan(expected)):
        assert actual is None
    else:
        assert actual == pytest.approx(expected, abs=tol)


def recorded(out: Path):
    """played stamp -> publish ns, and stamp -> (receive ns, labels), read with rosbags only."""
    played = {stamp_of(m): t for t, m in read_topic(out / "outputs.mcap", "/replay/played")}
    labels = {stamp_of(m): (t, label_array(m)) for t, m in read_topic(out / "outputs.mcap", "/perception/semseg/labels")}
    return played, labels


# --- through the live stack -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forecast_params(tmp_path_factory, checkpoint) -> Path:
    """A parameter file for the stack with tiny short- and mid-term forecasters for ``checkpoint``."""
    from forecast_fixtures import random_forecaster_checkpoint

    tmp = tmp_path_factory.mktemp("forecasters")
    short = random_forecaster_checkpoint(tmp / "short", checkpoint, 3, seed=1, perturb=0.05)
    mid = random_forecaster_checkpoint(tmp / "mid", checkpoint, 9, method="conv_f2f", seed=2, perturb=0.05)
    params = yaml.safe_load((REPO / "launch" / "params" / "perception.yaml").read_text())
    params["/**/semseg"]["ros__parameters"].update(device="cpu", num_threads=1)
    params["/**/forecast"]["ros__parameters"].update(short_checkpoint=str(short), mid_checkpoint=str(mid))
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def nearest(stamps: list[int], t: int, tol: int) -> int | None:
    best = min(stamps, key=lambda s: abs(s - t))
    return best if abs(best - t) <= tol else None


@pytest.mark.ros
def test_rgb8_odd_size_with_ground_truth_and_forecasts(tmp_path, checkpoint, forecast_params):
    require_ros()
    bag = tmp_path / "drive"
    stamps = write_camera_bag(bag, frames=30, size=(45, 77), encoding="rgb8")
    out = tmp_path / "out"
    res = replay(str(bag), "--out", str(out), "--checkpoint", str(checkpoint), "--params", str(forecast_params),
                 "--rate", "0.5", "--domain-id", str(allocate_domain_id()))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "report:" in res.stdout and "single frame (now)" in res.stdout
    metrics = json.loads((out / "metrics.json").read_text())

    played, labels = recorded(out)
    assert sorted(played) == stamps  # every frame played, warm-up frames not recorded
    own = {s: arr for s, (_, arr) in labels.items() if s in played}
    assert own, "the stack answered no frame"
    assert all(arr.shape == (45, 77) for arr in own.values())
    assert metrics["frames"] == {**metrics["frames"], "published": 30, "answered": len(own), "dropped": 30 - len(own)}

    # single-frame metrics vs the bag's ground truth, recomputed here
    truth = {stamp_of(m): label_array(m) for _, m in read_topic(bag, "/camera/labels")}
    expected = ious(confusion((arr, truth[s]) for s, arr in own.items()))
    for name, value in zip(CLASS_NAMES, expected):
        assert_close(metrics["per_class"][name], value)
    assert_close(metrics["miou"], mean_iou(expected))
    assert_close(metrics["miou_mo"], mean_iou(expected[list(MOVING_TRAIN_IDS)]))
    assert metrics["reference"] == "ground_truth"
    assert metrics["single_frame"]["frames"] == len(own)

    # forecasts: vs the ground truth of their target time, next to copy-last of the same source frame
    tol = round(metrics["tolerance_ms"] * 1e6)
    for h, k in (("short", 3), ("mid", 9)):
        msgs = [m for _, m in read_topic(out / "outputs.mcap", f"/perception/forecast/{h}")]
        assert msgs, f"no {h} forecasts recorded: {res.stdout}"
        pairs = []
        for m in msgs:
            source = m.source_stamp.sec * NS + m.source_stamp.nanosec
            assert stamp_of(m) - source == m.horizon.sec * NS + m.horizon.nanosec  # stamped at the target time
            ref = nearest(list(truth), stamp_of(m), tol)
            if source in own and ref is not None:
                assert ref == stamps[stamps.index(source) + k]  # 17 Hz bag: the target is k frames later
                pairs.append((label_array(m.labels), own[source], truth[ref]))
        got = metrics["horizons"][h]
        assert got["pairs_scored"] == len(pairs) > 0
        fc = ious(confusion((f, gt) for f, _, gt in pairs))
        cl = ious(confusion((c, gt) for _, c, gt in pairs))
        assert_close(got["forecast"]["miou"], mean_iou(fc))
        assert_close(got["copy_last"]["miou"], mean_iou(cl))
        for name, value in zip(CLASS_NAMES, fc):
            assert_close(got["forecast"]["per_class"][name], value)

    # latency: receive - publish on the recorder's clock
    lat = np.array([(labels[s][0] - played[s]) / 1e6 for s in own])
    assert lat.min() > 0
    assert metrics["latency_ms"]["labels"]["p50"] == pytest.approx(np.percentile(lat, 50), abs=0.01)
    assert metrics["latency_ms"]["labels"]["p99"] == pytest.approx(np.percentile(lat, 99), abs=0.01)
    assert metrics["run"]["status"] == "ok" and metrics["run"]["stack_exit"] == 0

    # the report and its figures
    page = (out / "report.html").read_text()
    for fig in ("per_class_iou.png", "latency_hist.png", "latency_timeline.png", "strips.png", "overlay.gif"):
        assert (out / "figures" / fig).stat().st_size > 0
        assert f'data-file="figures/{fig}"' in page
    assert page.count("data:image/png;base64,") >= 4 and "data:image/gif;base64," in page
    assert "src=\"figures/" not in page  # self-contained: nothing loaded from disk
    assert "forecast short (+176 ms)" in page and "forecast mid (+529 ms)" in page


@pytest.mark.ros
def test_compressed_sqlite3_without_ground_truth(tmp_path, checkpoint):
    require_ros()
    bag = tmp_path / "drive_db3"
    write_camera_bag(bag, frames=10, size=(40, 60), compressed="jpeg", ground_truth=False, storage="sqlite3")
    assert list(bag.glob("*.db3"))
    out = tmp_path / "out"
    res = replay(str(bag), "--out", str(out), "--checkpoint", str(checkpoint), "--domain-id", str(allocate_domain_id()),
                 "--rate", "auto")
    assert res.returncode == 0, res.stdout + res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["miou"] is None and metrics["per_class"] is None
    assert metrics["reference"] == "single_frame"
    assert metrics["run"]["bag"]["transport"] == "compressed"
    assert 0 < metrics["run"]["rate_used"] <= 1
    played, labels = recorded(out)
    assert len(played) == 10
    answered = [arr for s, (_, arr) in labels.items() if s in played]
    assert answered and all(arr.shape == (40, 60) for arr in answered)
    assert metrics["frames"]["answered"] == len(answered)
    assert "no ground truth" in (out / "report.html").read_text()
    assert "no ground truth" in res.stdout


@pytest.mark.ros
@pytest.mark.slow
def test_stack_dying_mid_way_gives_a_partial_report(tmp_path, checkpoint):
    require_ros()
    bag = tmp_path / "long"
    write_camera_bag(bag, frames=120, size=(40, 60), ground_truth=True)
    out = tmp_path / "out"
    err = open(tmp_path / "stderr.txt", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "swiftcast.cli", "replay", str(bag), "--out", str(out), "--checkpoint",
         str(checkpoint), "--domain-id", str(allocate_domain_id())],
        stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 240
        pid = None
        while time.monotonic() < deadline and pid is None:
            log = (out / "logs" / "stack.log")
            text = log.read_text() if log.exists() else ""
            progress = re.findall(r"(\d+)/120", (tmp_path / "stderr.txt").read_text())
            match = re.search(r"started /perception/semseg \(pid (\d+)\)", text)
            if match and progress and int(progress[-1]) >= 20:
                pid = int(match.group(1))
            time.sleep(0.2)
        assert pid, "the replay never got going"
        os.kill(pid, signal.SIGKILL)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["status"] == "stack_died"
    assert 0 < metrics["frames"]["answered"] < 120
    assert "Partial result" in (out / "report.html").read_text()
    played, _ = recorded(out)  # the recording was closed properly and is readable
    assert 20 <= len(played) <= 120


# --- clear errors, no ROS needed -------------------------------------------------------------------------------------


@pytest.fixture
def replay_error(capsys):
    """Run the CLI in-process (no subprocess start-up); returns its one-line error."""
    from swiftcast.cli import main

    def run(*args: str) -> str:
        code = main(["replay", *args, "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("swiftcast replay: error:"), err
        return lines[0]

    return run


def test_missing_bag(tmp_path, replay_error):
    line = replay_error(str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert "nope not found" in line and "a bag, a video file or a folder of images" in line


def test_bag_without_image_topic(tmp_path, replay_error):
    ts = typestore()
    with Writer(tmp_path / "strings", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection("/chatter", "std_msgs/msg/String", typestore=ts)
        w.write(c, T0, ts.serialize_cdr(ts.types["std_msgs/msg/String"](data="hi"), "std_msgs/msg/String"))
    line = replay_error(str(tmp_path / "strings"), "--out", str(tmp_path / "o"))
    assert "no usable image topic" in line and "/chatter" in line


def test_unreadable_image(tmp_path, replay_error):
    ts = typestore()
    with Writer(tmp_path / "bad", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        msg = image(ts, T0, np.zeros((4, 6), np.uint16).view(np.uint8).reshape(4, 12), "mono8")
        msg.encoding = "16UC1"  # not a colour or mono8 image
        w.write(c, T0, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    line = replay_error(str(tmp_path / "bad"), "--out", str(tmp_path / "o"))
    assert "unreadable image" in line and "16UC1" in line


def test_frames_without_distinct_stamps(tmp_path, replay_error):
    ts = typestore()
    with Writer(tmp_path / "zero", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        for i in range(3):  # a driver that never sets header.stamp
            w.write(c, T0 + i * NS // 10, ts.serialize_cdr(image(ts, 0, np.zeros((4, 6, 3), np.uint8), "rgb8"),
                                                           "sensor_msgs/msg/Image"))
    assert "distinct header stamps" in replay_error(str(tmp_path / "zero"), "--out", str(tmp_path / "o"))


def test_wrong_topic_checkpoint_params_and_not_a_bag(tmp_path, replay_error):
    bag = tmp_path / "drive"
    write_camera_bag(bag, frames=2)
    assert "/nope is not in" in replay_error(str(bag), "--topic", "/nope", "--out", str(tmp_path / "o"))
    assert "checkpoint" in replay_error(str(bag), "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "o"))
    assert "parameter file" in replay_error(str(bag), "--params", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "o"))
    (tmp_path / "junk.mcap").write_bytes(b"not an mcap file")
    assert "not a readable rosbag2" in replay_error(str(tmp_path / "junk.mcap"), "--out", str(tmp_path / "o"))


# --- forecast scoring from a recording written here (no ROS) -----------------------------------------------------------


@pytest.mark.parametrize("with_truth", [True, False])
def test_forecasts_scored_at_target_time_next_to_copy_last(tmp_path, with_truth):
    from swiftcast.replay.bag import inspect_bag, read_label_maps
    from swiftcast.replay.score import load_outputs, score

    bag = tmp_path / "drive"
    stamps = write_camera_bag(bag, frames=16, size=(30, 50), ground_truth=with_truth)
    rng = np.random.default_rng(1)
    own = {s: rng.integers(0, 19, (30, 50), dtype=np.uint8) for i, s in enumerate(stamps) if i != 5}  # 5 dropped
    horizons = {"short": 3, "mid": 9}
    period = stamps[1] - stamps[0]
    forecasts = []
    for h, k in horizons.items():
        for i in range(0, 16 - k):
            if stamps[i] in own:  # horizon = k periods (+0.4 ms: targets match by nearest stamp)
                forecasts.append((h, stamps[i], k * period + 400_000, rng.integers(0, 19, (30, 50), dtype=np.uint8)))
    write_recording(tmp_path / "outputs.mcap", stamps, own, forecasts)

    info = inspect_bag(bag)
    truth = read_label_maps(info)
    metrics = score(load_outputs(tmp_path / "outputs.mcap"), truth).metrics

    gt = {stamp_of(m): label_array(m) for _, m in read_topic(bag, "/camera/labels")} if with_truth else own
    assert metrics["reference"] == ("ground_truth" if with_truth else "single_frame")
    assert metrics["frames"]["dropped"] == 1
    for h, k in horizons.items():
        pairs = [(f, stamps[stamps.index(src) + k]) for hh, src, _, f in forecasts if hh == h]
        pairs = [(f, stamps[stamps.index(tgt) - k], tgt) for f, tgt in pairs if tgt in gt]
        fc = ious(confusion((f, gt[tgt]) for f, _, tgt in pairs))
        cl = ious(confusion((own[src], gt[tgt]) for _, src, tgt in pairs))
        got = metrics["horizons"][h]
        assert got["pairs_scored"] == len(pairs) > 0
        assert got["horizon_ms"] == pytest.approx(k * period / 1e6 + 0.4, abs=0.1)
        assert_close(got["forecast"]["miou"], mean_iou(fc))
        assert_close(got["copy_last"]["miou"], mean_iou(cl))
        assert_close(got["forecast"]["miou_mo"], mean_iou(fc[list(MOVING_TRAIN_IDS)]))
        for name, value in zip(CLASS_NAMES, cl):
            assert_close(got["copy_last"]["per_class"][name], value)
        assert metrics["latency_ms"][h]["p50"] == pytest.approx(49.0, abs=0.01)  # received 50 ms after source, published +1 ms
    assert metrics["latency_ms"]["labels"]["p50"] == pytest.approx(29.0, abs=0.01)


# --- bags from other tools: inspection without ROS ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, transport, encoding",
    [
        ({"encoding": "bgr8"}, "raw", "bgr8"),
        ({"encoding": "mono8", "ground_truth": False}, "raw", "mono8"),
        ({"compressed": "png", "storage": "sqlite3"}, "compressed", "png"),
        ({"encoding": "rgb8", "camera_topic": "/front/image", "extra_topics": False}, "raw", "rgb8"),
    ],
)
def test_inspect_foreign_bags(tmp_path, kwargs, transport, encoding):
    from swiftcast.replay.bag import inspect_bag, read_camera_frames

    bag = tmp_path / "bag"
    stamps = write_camera_bag(bag, frames=3, size=(21, 34), **kwargs)
    info = inspect_bag(bag)
    assert (info.height, info.width, info.frames) == (21, 34, 3)
    assert info.transport == transport and info.encoding == encoding
    assert info.camera_topic == kwargs.get("camera_topic", "/camera/image_raw/compressed" if transport == "compressed"
                                           else "/camera/image_raw")
    assert (info.labels_topic is not None) == kwargs.get("ground_truth", True)
    frames = dict(read_camera_frames(info))
    assert sorted(frames) == stamps and all(f.shape == (21, 34, 3) for f in frames.values())


def test_several_image_topics_need_a_choice(tmp_path, replay_error):
    from swiftcast.replay.bag import inspect_bag

    ts = typestore()
    with Writer(tmp_path / "two", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        for topic in ("/left/image", "/right/image"):
            c = w.add_connection(topic, "sensor_msgs/msg/Image", typestore=ts)
            w.write(c, T0, ts.serialize_cdr(image(ts, T0, np.zeros((4, 6, 3), np.uint8), "rgb8"), "sensor_msgs/msg/Image"))
    assert "several image topics" in replay_error(str(tmp_path / "two"), "--out", str(tmp_path / "o"))
    assert inspect_bag(tmp_path / "two", topic="/right/image").camera_topic == "/right/image"
