"""``swiftcast synth-bag``: real drives rendered and written with rosbags, read back with rosbags' Reader."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from swiftcast.cli import main as cli_main
from swiftcast.data.labels import NUM_CLASSES
from swiftcast.errors import SwiftcastError
from swiftcast.rosbag_types import typestore_with_swiftcast_msgs
from swiftcast.synth.bag import CAMERA_TOPIC, INFO_TOPIC, LABELS_TOPIC, START_NS, write_drive_bag
from swiftcast.synth.world import FPS, Intrinsics

SIZE = (64, 128)


def _read(bag):
    store = typestore_with_swiftcast_msgs()
    out: dict[str, list] = {}
    with Reader(bag) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        for conn, log_ns, raw in reader.messages():
            out.setdefault(conn.topic, []).append((log_ns, store.deserialize_cdr(raw, conn.msgtype)))
    return types, out


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


@pytest.fixture(scope="module")
def mcap_bag(tmp_path_factory):
    bag = tmp_path_factory.mktemp("bags") / "drive"
    info = write_drive_bag(bag, 0.5, seed=3, size=SIZE, progress=False)
    return bag, info


def test_mcap_bag_has_three_topics_with_matching_stamps(mcap_bag):
    bag, info = mcap_bag
    assert any(bag.glob("*.mcap"))
    types, msgs = _read(bag)
    assert types == {CAMERA_TOPIC: "sensor_msgs/msg/Image", INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
                     LABELS_TOPIC: "sensor_msgs/msg/Image"}
    n = info["frames"]
    assert n == 9 and all(len(v) == n for v in msgs.values())
    stamps = {topic: [_stamp(m) for _, m in v] for topic, v in msgs.items()}
    for topic, v in msgs.items():
        assert [log for log, _ in v] == stamps[topic]  # header stamp = bag log time
        assert all(m.header.frame_id == "camera" for _, m in v)
    assert stamps[CAMERA_TOPIC] == stamps[LABELS_TOPIC] == stamps[INFO_TOPIC]
    assert stamps[CAMERA_TOPIC][0] == START_NS
    assert np.allclose(np.diff(stamps[CAMERA_TOPIC]), 1e9 / FPS, atol=1)
    img = msgs[CAMERA_TOPIC][0][1]
    assert (img.encoding, img.height, img.width, img.step) == ("bgr8", *SIZE, SIZE[1] * 3)
    for _, lab in msgs[LABELS_TOPIC]:
        assert (lab.encoding, lab.height, lab.width, lab.step) == ("mono8", *SIZE, SIZE[1])
        assert np.asarray(lab.data).max() < NUM_CLASSES
    cam = msgs[INFO_TOPIC][0][1]
    np.testing.assert_allclose(cam.k.reshape(3, 3), Intrinsics.for_size(*SIZE).matrix())
    assert (cam.height, cam.width, cam.distortion_model) == (*SIZE, "plumb_bob")
    np.testing.assert_allclose(cam.p.reshape(3, 4)[:, :3], cam.k.reshape(3, 3))
    # frames change over time (the ego drives)
    first, last = (np.asarray(msgs[CAMERA_TOPIC][i][1].data) for i in (0, -1))
    assert np.abs(first.astype(int) - last.astype(int)).mean() > 2


def test_same_seed_gives_identical_bag(mcap_bag, tmp_path):
    bag, _ = mcap_bag
    again = tmp_path / bag.name  # same bag name (it is embedded in the mcap metadata)
    write_drive_bag(again, 0.5, seed=3, size=SIZE, progress=False)
    a, b = next(bag.glob("*.mcap")), next(again.glob("*.mcap"))
    assert a.read_bytes() == b.read_bytes()


def test_sqlite3_bag_with_compressed_images(tmp_path):
    bag = tmp_path / "drive_db"
    write_drive_bag(bag, 0.2, seed=4, size=(48, 80), storage="sqlite3", compressed="jpeg", progress=False)
    assert any(bag.glob("*.db3"))
    types, msgs = _read(bag)
    topic = CAMERA_TOPIC + "/compressed"
    assert types[topic] == "sensor_msgs/msg/CompressedImage" and CAMERA_TOPIC not in types
    for _, msg in msgs[topic]:
        assert "jpeg" in msg.format
        assert cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_COLOR).shape == (48, 80, 3)
    assert [_stamp(m) for _, m in msgs[topic]] == [_stamp(m) for _, m in msgs[LABELS_TOPIC]]


def test_swiftcast_msgs_are_registered_and_roundtrip():
    store = typestore_with_swiftcast_msgs()
    fm_t = store.types["swiftcast_msgs/msg/FeatureMap"]
    hdr = store.types["std_msgs/msg/Header"](stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=2),
                                             frame_id="camera")
    data = np.arange(24, dtype=np.uint8)
    msg = fm_t(header=hdr, channels=3, height=2, width=2, stride=32, dtype="float16", data=data, model_id="m",
               image_height=64, image_width=64)
    back = store.deserialize_cdr(store.serialize_cdr(msg, "swiftcast_msgs/msg/FeatureMap"),
                                 "swiftcast_msgs/msg/FeatureMap")
    assert back.model_id == "m" and back.stride == 32 and np.array_equal(back.data, data)
    assert {"swiftcast_msgs/msg/SemanticForecast", "swiftcast_msgs/msg/LabelInfo"} <= set(store.types)


def test_cli_errors_are_one_line(mcap_bag, capsys):
    bag, _ = mcap_bag
    assert cli_main(["synth-bag", "--out", str(bag), "--seconds", "1"]) == 2  # exists, no --force
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert cli_main(["synth-bag", "--out", str(bag.parent / "x"), "--seconds", "0"]) == 2
    assert cli_main(["synth-bag", "--out", str(bag.parent / "y"), "--size", "10x10"]) == 2


def test_fps_samples_the_same_drive_at_another_rate(mcap_bag, tmp_path):
    """--fps 10: stamps 100 ms apart over the same 0.5 s drive; the first frames (t = 0) of the 10 Hz and the 17 Hz
    bag show the same scene."""
    bag17, _ = mcap_bag  # 0.5 s at 17 Hz: frames at k/17 s
    info = write_drive_bag(tmp_path / "drive10", 0.5, seed=3, size=SIZE, progress=False, fps=10)
    assert info["frames"] == 6 and info["fps"] == 10 and info["duration_s"] == pytest.approx(0.5)
    _, msgs10 = _read(tmp_path / "drive10")
    _, msgs17 = _read(bag17)
    stamps = [_stamp(m) for _, m in msgs10[CAMERA_TOPIC]]
    assert stamps[0] == START_NS and np.allclose(np.diff(stamps), 100_000_000, atol=1)
    labels10 = {_stamp(m): np.asarray(m.data) for _, m in msgs10[LABELS_TOPIC]}
    labels17 = {_stamp(m): np.asarray(m.data) for _, m in msgs17[LABELS_TOPIC]}
    assert np.array_equal(labels10[START_NS], labels17[START_NS])
    assert not np.array_equal(labels10[START_NS], labels10[stamps[-1]])  # and the scene does move
    with pytest.raises(SwiftcastError, match="--fps"):
        write_drive_bag(tmp_path / "bad", 0.5, seed=3, size=SIZE, progress=False, fps=0)


def test_fps_keeps_motion_per_second(tmp_path):
    """Same seed and length at 10 and 20 Hz: frame 2k at 20 Hz and frame k at 10 Hz are the same instant."""
    write_drive_bag(tmp_path / "d10", 0.4, seed=5, size=SIZE, progress=False, fps=10)
    write_drive_bag(tmp_path / "d20", 0.4, seed=5, size=SIZE, progress=False, fps=20)
    _, a = _read(tmp_path / "d10")
    _, b = _read(tmp_path / "d20")
    labels_a = [np.asarray(m.data) for _, m in a[LABELS_TOPIC]]
    labels_b = [np.asarray(m.data) for _, m in b[LABELS_TOPIC]]
    assert len(labels_a) == 5 and len(labels_b) == 9
    for k in range(5):
        assert np.array_equal(labels_a[k], labels_b[2 * k]), f"10 Hz frame {k} != 20 Hz frame {2 * k}"
    assert any(not np.array_equal(labels_a[k], labels_a[k + 1]) for k in range(4))
