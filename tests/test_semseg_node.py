"""The semseg node as a real process over real DDS (isolated domain, loopback profile).

Two nodes share the module: one on raw images (/perception), one on compressed images (/comp). Expected labels
are computed in this process straight from the checkpoint (load_checkpoint + transforms + model forward), not with
the runtime's Segmenter, so the whole node path is checked against the core model.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ros_utils import (
    NodeProcess,
    RosProbe,
    allocate_domain_id,
    cleanup_fastdds_shm,
    diagnostic_values,
    make_tiny_checkpoint,
    require_ros,
    ros_child_env,
    semseg_command,
    stamp_is,
)

pytestmark = pytest.mark.ros

MODEL_SIZE = (64, 128)
IMAGE_SIZE = (96, 160)


def _picture(seed: int = 0, size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """An RGB test picture: smooth colour gradients plus noise (varied labels from a random-init model)."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], axis=-1)
    return np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)


class World:
    """Everything the tests of this module share."""

    def __init__(self, tmp: Path) -> None:
        from sensor_msgs.msg import CompressedImage, Image
        from diagnostic_msgs.msg import DiagnosticArray
        from swiftcast_msgs.msg import FeatureMap

        from swiftcast.models import load_checkpoint

        self.checkpoint = make_tiny_checkpoint(tmp / "ckpt", MODEL_SIZE)
        self.model, self.config = load_checkpoint(self.checkpoint)
        domain = allocate_domain_id()
        env = ros_child_env(domain)
        common = ["-p", f"checkpoint:={self.checkpoint}", "-p", "diagnostics_period_s:=0.2", "-p", "log_period_s:=0.0"]
        self.raw = NodeProcess(semseg_command(*common), env)
        self.comp = NodeProcess(semseg_command(*common, "-p", "input_transport:=compressed", namespace="/comp"), env)
        self.probe = RosProbe(domain)
        p = self.probe
        self.labels = p.subscribe(Image, "/perception/semseg/labels")
        self.features = p.subscribe(FeatureMap, "/perception/semseg/features")
        self.overlay = p.subscribe(Image, "/perception/semseg/overlay")
        self.confidence = p.subscribe(Image, "/perception/semseg/confidence")
        self.comp_labels = p.subscribe(Image, "/comp/semseg/labels")
        self.diagnostics = p.subscribe(DiagnosticArray, "/diagnostics")
        self.camera = p.publisher(Image, "/camera/image_raw")
        self.camera_jpeg = p.publisher(CompressedImage, "/camera/image_raw/compressed")
        for proc, pub in ((self.raw, self.camera), (self.comp, self.camera_jpeg)):
            proc.wait_for_output(r"ready: ", timeout=120)
            p.wait_for_subscribers(pub)
        self._stamp = 1000

    def next_stamp(self) -> int:
        self._stamp += 1
        return self._stamp

    @torch.inference_mode()
    def expected_labels(self, rgb: np.ndarray) -> np.ndarray:
        from swiftcast.data.transforms import normalize_rgb, resize_label, resize_rgb

        x = normalize_rgb(resize_rgb(rgb, MODEL_SIZE)).unsqueeze(0)
        small = self.model(x)[0].argmax(0).to(torch.uint8).numpy()
        return resize_label(small, rgb.shape[:2])

    def send(self, pub, msg, collector, timeout: float = 30.0):
        """Publish ``msg`` with a fresh stamp until the output with that stamp arrives; returns it."""
        sec = self.next_stamp()
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, 123
        return self.probe.publish_until(pub, msg, lambda: collector.wait_for(stamp_is(sec, 123), 0), timeout)

    def counts(self, node: str) -> dict[str, str]:
        for m in reversed(self.diagnostics.messages):
            values = diagnostic_values(m, f"{node}: frames")
            if values is not None:
                return values
        return {}

    def close(self) -> None:
        self.probe.close()
        codes = [self.raw.stop(), self.comp.stop()]
        cleanup_fastdds_shm()
        assert codes == [0, 0], f"nodes did not stop cleanly: {codes}\n{self.raw.output()}\n{self.comp.output()}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_ros()
    w = World(tmp_path_factory.mktemp("semseg"))
    yield w
    w.close()


def image_msg(pixels: np.ndarray, encoding: str, frame_id: str = "camera", pad: int = 0):
    from sensor_msgs.msg import Image

    h, w = pixels.shape[:2]
    row = pixels.reshape(h, -1)
    if pad:
        row = np.concatenate([row, np.full((h, pad), 7, np.uint8)], axis=1)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=row.shape[1], data=row.tobytes())
    msg.header.frame_id = frame_id
    return msg


def labels_of(msg) -> np.ndarray:
    from swiftcast_ros.conversions import image_msg_to_array

    return image_msg_to_array(msg)


def test_labels_features_overlay_match_core_model(world):
    from swiftcast.runtime.images import overlay_labels

    rgb = _picture(1)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    out = world.send(world.camera, image_msg(bgr, "bgr8", frame_id="cam_front"), world.labels)

    assert (out.encoding, out.height, out.width, out.step) == ("mono8", 96, 160, 160)
    assert (out.header.stamp.nanosec, out.header.frame_id) == (123, "cam_front")
    expected = world.expected_labels(rgb)
    assert len(np.unique(expected)) > 1, "test picture too uniform to tell labels apart"
    np.testing.assert_array_equal(labels_of(out), expected)

    stamp = stamp_is(out.header.stamp.sec, 123)
    feats = world.features.wait_for(stamp, 10)
    assert feats is not None, "no features for the frame"
    assert (feats.channels, feats.height, feats.width, feats.stride, feats.dtype) == (128, 2, 4, 32, "float16")
    assert (feats.image_height, feats.image_width) == IMAGE_SIZE
    assert feats.model_id == world.config["model_id"] and feats.header.frame_id == "cam_front"
    from swiftcast_ros.conversions import features_from_msg
    from swiftcast.data.transforms import normalize_rgb, resize_rgb

    with torch.inference_mode():
        ref = world.model.features(normalize_rgb(resize_rgb(rgb, MODEL_SIZE)).unsqueeze(0))[0].numpy()
    np.testing.assert_allclose(features_from_msg(feats).astype(np.float32), ref, rtol=1e-2, atol=1e-2)

    overlay = world.overlay.wait_for(stamp, 10)
    assert overlay is not None and (overlay.encoding, overlay.height, overlay.width) == ("bgr8", 96, 160)
    diff = np.abs(labels_of(overlay).astype(int) - overlay_labels(bgr, expected, 0.5).astype(int))
    assert diff.max() <= 1


def test_confidence_is_255_times_the_max_softmax_at_the_camera_size(world):
    from swiftcast.data.transforms import normalize_rgb, resize_label, resize_rgb

    rgb = _picture(5)
    out = world.send(world.camera, image_msg(np.ascontiguousarray(rgb[..., ::-1]), "bgr8", frame_id="cam_c"),
                     world.confidence)
    assert (out.encoding, out.height, out.width, out.header.frame_id) == ("mono8", 96, 160, "cam_c")
    with torch.inference_mode():
        prob = torch.softmax(world.model(normalize_rgb(resize_rgb(rgb, MODEL_SIZE)).unsqueeze(0))[0], 0)
    expected = resize_label((prob.amax(0) * 255).round().to(torch.uint8).numpy(), IMAGE_SIZE)
    got = labels_of(out)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert got.min() >= 255 // 19  # a max over 19 classes is at least 1/19
    labels = world.labels.wait_for(stamp_is(out.header.stamp.sec, 123), 10)
    assert labels is not None  # the same frame's labels, same header


def test_encodings_give_the_same_labels(world):
    rgb = _picture(2)
    expected = world.expected_labels(rgb)
    assert not np.array_equal(expected, world.expected_labels(rgb[..., ::-1])), "picture insensitive to channel order"
    alpha = np.full(rgb.shape[:2] + (1,), 200, np.uint8)
    variants = {
        "bgr8": image_msg(rgb[..., ::-1], "bgr8"),
        "rgb8": image_msg(rgb, "rgb8"),
        "rgba8": image_msg(np.concatenate([rgb, alpha], -1), "rgba8"),
        "bgra8": image_msg(np.concatenate([rgb[..., ::-1], alpha], -1), "bgra8"),
        "bgr8 padded rows": image_msg(rgb[..., ::-1], "bgr8", pad=13),
    }
    for name, msg in variants.items():
        out = world.send(world.camera, msg, world.labels)
        np.testing.assert_array_equal(labels_of(out), expected, err_msg=name)
    grey = rgb.mean(-1).astype(np.uint8)
    out = world.send(world.camera, image_msg(grey, "mono8"), world.labels)
    np.testing.assert_array_equal(labels_of(out), world.expected_labels(np.repeat(grey[..., None], 3, -1)))


def test_a_burst_is_not_queued_and_the_newest_frame_is_served(world):
    """Depth-1 input + newest-frame worker: a burst far faster than the model yields far fewer outputs (stale frames
    dropped, not queued) and the last frame of the burst is always answered."""
    rgb = _picture(6)
    msg = image_msg(rgb, "rgb8")
    first = world.next_stamp()
    burst = 30
    for i in range(burst):
        msg.header.stamp.sec, msg.header.stamp.nanosec = first, i
        world.camera.publish(msg)
    last = world.labels.wait_for(stamp_is(first, burst - 1), timeout=30)
    assert last is not None, "the newest frame of the burst was not processed"
    time.sleep(1.0)
    answered = [m for m in world.labels.messages if m.header.stamp.sec == first]
    assert len(answered) < burst / 2, f"{len(answered)} of {burst} burst frames processed: input is queueing"
    counts = world.counts("perception/semseg")
    assert int(counts["frames_in"]) - int(counts["frames_out"]) >= int(counts["frames_dropped"]) >= 0


def test_label_info_reaches_a_late_subscriber(world):
    from swiftcast_msgs.msg import LabelInfo
    from swiftcast_ros.qos import LATCHED_QOS

    from swiftcast.data.labels import CLASS_COLORS_RGB, CLASS_NAMES

    info = world.probe.subscribe(LabelInfo, "/perception/semseg/label_info", LATCHED_QOS).wait_for(timeout=15)
    assert info is not None, "LabelInfo not latched"
    assert list(info.class_names) == list(CLASS_NAMES)
    assert list(info.train_ids) == list(range(19)) and info.ignore_id == 255
    assert [round(c.r * 255) for c in info.colors] == [int(c[0]) for c in CLASS_COLORS_RGB]


def test_compressed_input(world):
    from sensor_msgs.msg import CompressedImage

    rgb = _picture(3)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    for fmt, ext in (("bgr8; jpeg compressed bgr8", ".jpg"), ("png", ".png")):
        ok, buf = cv2.imencode(ext, bgr)
        assert ok
        decoded_rgb = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        msg = CompressedImage(format=fmt, data=buf.tobytes())
        out = world.send(world.camera_jpeg, msg, world.comp_labels)
        assert (out.encoding, out.height, out.width) == ("mono8", 96, 160)
        np.testing.assert_array_equal(labels_of(out), world.expected_labels(decoded_rgb), err_msg=fmt)
    np.testing.assert_array_equal(labels_of(out), world.expected_labels(rgb))  # PNG is lossless


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def test_malformed_frames_are_rejected_counted_and_survived(world):
    from sensor_msgs.msg import CompressedImage, Image

    good = _picture(4)
    ok, jpeg = cv2.imencode(".jpg", good)
    jpeg = jpeg.tobytes()
    raw_cases = [
        ("step", Image(height=8, width=8, encoding="bgr8", step=20, data=bytes(160))),
        ("data_size", Image(height=8, width=8, encoding="bgr8", step=24, data=bytes(100))),
        ("data_size", Image(height=8, width=8, encoding="bgr8", step=24, data=bytes(24 * 8 + 5))),
        ("size", Image(height=0, width=0, encoding="bgr8", step=0, data=b"")),
        ("too_large", Image(height=100_000, width=100_000, encoding="bgr8", step=300_000, data=bytes(64))),
        ("encoding", Image(height=4, width=4, encoding="yuv422", step=8, data=bytes(32))),
        ("encoding", Image(height=4, width=4, encoding="16UC1", step=8, data=bytes(32))),
    ]
    comp_cases = [
        ("format", CompressedImage(format="jpeg", data=np.random.default_rng(0).bytes(500))),
        ("decode", CompressedImage(format="jpeg", data=jpeg[: len(jpeg) // 2])),
        ("decode", CompressedImage(format="jpeg", data=jpeg[:200] + bytes(300) + jpeg[-2:])),
        ("too_large", CompressedImage(format="png", data=_png_header(100_000, 100_000) + bytes(64))),
        ("size", CompressedImage(format="jpeg", data=b"")),
    ]
    for node, pub, labels, cases, valid in (
        ("perception/semseg", world.camera, world.labels, raw_cases, image_msg(good, "rgb8")),
        ("comp/semseg", world.camera_jpeg, world.comp_labels, comp_cases, CompressedImage(format="jpeg", data=jpeg)),
    ):
        for reason, bad in cases:
            key = f"rejected_{reason}"
            before = int(world.counts(node).get(key, 0))
            world.probe.publish_until(pub, bad, lambda: int(world.counts(node).get(key, 0)) > before, timeout=20)
            out = world.send(pub, valid, labels)  # still answering valid input
            assert out.height == good.shape[0]
        counts = world.counts(node)
        assert int(counts["frames_rejected"]) >= len(cases), counts
        assert int(counts["errors"]) == 0, counts
    assert world.raw.alive() and world.comp.alive()
    assert "frame rejected (too_large)" in world.raw.output()  # the throttled warning names the problem


def test_bad_checkpoint_update_is_rejected_and_old_model_serves(world):
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    client = world.probe.node.create_client(SetParameters, "/perception/semseg/set_parameters")
    assert client.wait_for_service(timeout_sec=20)
    request = SetParameters.Request(
        parameters=[
            ParameterMsg(
                name="checkpoint",
                value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="/nonexistent/ckpt"),
            )
        ]
    )
    future = client.call_async(request)
    deadline = time.monotonic() + 30
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    result = future.result().results[0]
    assert not result.successful and "checkpoint" in result.reason
    rgb = _picture(5)
    out = world.send(world.camera, image_msg(rgb, "rgb8"), world.labels)
    np.testing.assert_array_equal(labels_of(out), world.expected_labels(rgb))


def test_bad_startup_parameters_exit_with_one_line(world, tmp_path):
    corrupted = tmp_path / "corrupted"
    shutil.copytree(world.checkpoint, corrupted)
    weights = corrupted / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    other_arch = tmp_path / "other_arch"
    shutil.copytree(world.checkpoint, other_arch)
    config = json.loads((other_arch / "config.json").read_text())
    config["architecture"] = "swiftnet_mnv2"
    (other_arch / "config.json").write_text(json.dumps(config))
    ck = f"checkpoint:={world.checkpoint}"
    cases = {
        "overlay_alpha": ["-p", ck, "-p", "overlay_alpha:=2.0"],
        "input_transport": ["-p", ck, "-p", "input_transport:=mjpeg"],
        "checkpoint": ["-p", "checkpoint:=/no/such/checkpoint"],
        "checkpoint ": ["-p", f"checkpoint:={corrupted}"],
        "checkpoint  ": ["-p", f"checkpoint:={other_arch}"],
    }
    env = ros_child_env(allocate_domain_id())
    procs = {name: NodeProcess(semseg_command(*args), env) for name, args in cases.items()}
    for name, proc in procs.items():
        code = proc.wait(120)
        lines = [line for line in proc.output().splitlines() if line.strip()]
        assert code == 2, f"{name}: exit {code}\n{proc.output()}"
        assert len(lines) == 1 and f"parameter '{name.strip()}'" in lines[0], proc.output()
        proc.stop()


@pytest.mark.parametrize(
    "name, value, problem",
    [
        ("overlay_alpha", -0.1, "out of range"),
        ("overlay_alpha", 1, "expected a double"),
        ("input_transport", "theora", "must be one of raw, compressed"),
        ("feature_dtype", "int8", "must be one of float16, float32"),
        ("max_input_pixels", 0, "out of range"),
        ("input_size", [64], "must be [H, W]"),
        ("device", "tpu", "not a device"),
        ("backend", "tensorrt", "must be one of torch"),
        ("publish_overlay", "yes", "expected a bool"),
        ("num_threads", -1, "out of range"),
        ("checkpoint", "", "empty"),
    ],
)
def test_every_parameter_is_validated(world, name, value, problem):
    """The same declare+validate code the node runs, on an in-process node (no process start per case)."""
    import rclpy
    from rclpy.parameter import Parameter
    from semseg_node.node import PARAMS
    from swiftcast_ros.params import ParameterError, declare_parameters

    overrides = [Parameter("checkpoint", value=str(world.checkpoint)), Parameter(name, value=value)]
    node = rclpy.create_node("param_check", context=world.probe.context, parameter_overrides=overrides)
    try:
        with pytest.raises(ParameterError) as err:
            declare_parameters(node, PARAMS)
        assert str(err.value).startswith(f"parameter '{name}' = {value!r}: ") and problem in str(err.value)
    finally:
        node.destroy_node()
