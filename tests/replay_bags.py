"""Bags for the replay tests, written with rosbags the way other tools write them (not with our own code), and an
independent numpy scorer to check ``metrics.json`` against."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from swiftcast.rosbag_types import typestore_with_swiftcast_msgs

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"


def typestore():
    """ROS 2 Kilted types + swiftcast_msgs (the project's shared rosbags type store)."""
    return typestore_with_swiftcast_msgs()


def header(ts, stamp: int, frame_id: str = "camera"):
    time_ = ts.types["builtin_interfaces/msg/Time"](sec=stamp // NS, nanosec=stamp % NS)
    return ts.types["std_msgs/msg/Header"](stamp=time_, frame_id=frame_id)


def image(ts, stamp: int, array: np.ndarray, encoding: str):
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    return ts.types[IMAGE](header=header(ts, stamp), height=h, width=w, encoding=encoding, is_bigendian=0,
                           step=w * channels, data=np.ascontiguousarray(array).reshape(-1))


def scene(i: int, size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(RGB picture, trainId labels): coloured blocks that drift right, some ignore pixels."""
    h, w = size
    labels = np.zeros((h, w), np.uint8)
    for k in range(6):
        x0 = (k * w // 6 + 2 * i) % w
        labels[:, x0 : x0 + w // 6 + 1] = (3 * k + i // 4) % 19
    labels[: h // 6, :] = 10  # sky
    labels[-2:, :5] = 255
    rgb = (np.array([[37 * c % 256, 91 * c % 256, 53 * c % 256] for c in range(256)], np.uint8)[labels]
           + rng.integers(0, 25, (h, w, 3), dtype=np.uint8))
    return rgb, labels


def write_camera_bag(
    path: Path,
    frames: int = 10,
    size: tuple[int, int] = (45, 77),
    encoding: str = "rgb8",
    compressed: str | None = None,
    ground_truth: bool = True,
    storage: str = "mcap",
    rate_hz: float = 17.0,
    camera_topic: str | None = None,
    extra_topics: bool = True,
) -> list[int]:
    """A drive bag: camera (Image in ``encoding`` or CompressedImage ``jpeg``/``png``), optional /camera/labels
    (mono8 trainIds) and /camera/camera_info; returns the frame stamps."""
    ts = typestore()
    rng = np.random.default_rng(0)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    topic = camera_topic or ("/camera/image_raw/compressed" if compressed else "/camera/image_raw")
    stamps = []
    with Writer(path, version=9, storage_plugin=plugin) as w:
        cam = w.add_connection(topic, COMPRESSED if compressed else IMAGE, typestore=ts)
        gt = w.add_connection("/camera/labels", IMAGE, typestore=ts) if ground_truth else None
        info = w.add_connection("/camera/camera_info", "sensor_msgs/msg/CameraInfo", typestore=ts) if extra_topics else None
        for i in range(frames):
            stamp = T0 + round(i * NS / rate_hz)
            stamps.append(stamp)
            rgb, labels = scene(i, size, rng)
            if compressed:
                ok, buf = cv2.imencode("." + compressed, rgb[..., ::-1])
                assert ok
                msg = ts.types[COMPRESSED](header=header(ts, stamp), format=compressed, data=buf.reshape(-1))
                w.write(cam, stamp, ts.serialize_cdr(msg, COMPRESSED))
            else:
                pixels = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "mono8": rgb[..., 1]}[encoding]
                w.write(cam, stamp, ts.serialize_cdr(image(ts, stamp, pixels, encoding), IMAGE))
            if gt is not None:
                w.write(gt, stamp, ts.serialize_cdr(image(ts, stamp, labels, "mono8"), IMAGE))
            if info is not None:
                ci = ts.types["sensor_msgs/msg/CameraInfo"](
                    header=header(ts, stamp), height=size[0], width=size[1], distortion_model="plumb_bob",
                    d=np.zeros(5), k=np.array([60.0, 0, size[1] / 2, 0, 60.0, size[0] / 2, 0, 0, 1]),
                    r=np.eye(3).reshape(-1), p=np.zeros(12), binning_x=0, binning_y=0,
                    roi=ts.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                                     do_rectify=False),
                )
                w.write(info, stamp, ts.serialize_cdr(ci, "sensor_msgs/msg/CameraInfo"))
    return stamps


# --- a recording as bag_replay writes it ------------------------------------------------------------------------------


def write_recording(path: Path, frames: list[int], own: dict, forecasts: list[tuple[str, int, int, np.ndarray]]) -> None:
    """An outputs.mcap as bag_replay writes it: /replay/played (publish at stamp+1 ms), labels (+30 ms), forecasts."""
    ts = typestore()
    sf = "swiftcast_msgs/msg/SemanticForecast"
    with Writer(path.parent / "tmpbag", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        played = w.add_connection("/replay/played", "std_msgs/msg/Header", typestore=ts)
        labels = w.add_connection("/perception/semseg/labels", "sensor_msgs/msg/Image", typestore=ts)
        conns = {h: w.add_connection(f"/perception/forecast/{h}", sf, typestore=ts) for h in ("short", "mid")}
        for s in frames:
            w.write(played, s + NS // 1000, ts.serialize_cdr(header(ts, s), "std_msgs/msg/Header"))
            if s in own:
                w.write(labels, s + 30 * NS // 1000, ts.serialize_cdr(image(ts, s, own[s], "mono8"), "sensor_msgs/msg/Image"))
        for h, source, horizon, arr in forecasts:
            dur = ts.types["builtin_interfaces/msg/Duration"](sec=0, nanosec=horizon)
            msg = ts.types[sf](
                header=header(ts, source + horizon), source_stamp=header(ts, source).stamp, horizon=dur,
                labels=image(ts, source + horizon, arr, "mono8"), confidence=image(ts, 0, np.zeros((0, 0), np.uint8), "mono8"),
                model_id="f2f-test",
            )
            w.write(conns[h], source + 50 * NS // 1000, ts.serialize_cdr(msg, sf))
    (path.parent / "tmpbag" / "tmpbag.mcap").rename(path)


# --- reading recordings independently ------------------------------------------------------------------------------


def read_topic(path: Path, topic: str) -> list[tuple[int, object]]:
    """(bag timestamp, decoded message) of one topic, with types registered from the bag's own definitions."""
    ts = get_typestore(Stores.ROS2_KILTED)
    out = []
    with Reader(path) as r:
        for c in r.connections:
            if c.msgtype not in ts.types:
                ts.register(get_types_from_msg(c.msgdef.data, c.msgtype))
        conns = [c for c in r.connections if c.topic == topic]
        for c, t, raw in r.messages(connections=conns):
            out.append((t, ts.deserialize_cdr(raw, c.msgtype)))
    return out


def stamp_of(msg) -> int:
    """Header stamp of a message (or of a bare std_msgs/Header)."""
    stamp = getattr(msg, "header", msg).stamp
    return stamp.sec * NS + stamp.nanosec


def label_array(msg) -> np.ndarray:
    return np.asarray(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width]


# --- an independent scorer (numpy only) -----------------------------------------------------------------------------


def confusion(pairs: Iterable[tuple[np.ndarray, np.ndarray]], n: int = 19) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    for pred, gt in pairs:
        keep = gt.reshape(-1) != 255
        g, p = gt.reshape(-1)[keep].astype(np.int64), pred.reshape(-1)[keep].astype(np.int64)
        m += np.bincount(g * n + p, minlength=n * n).reshape(n, n)
    return m


def ious(m: np.ndarray) -> np.ndarray:
    tp = np.diag(m).astype(float)
    denom = m.sum(0) + m.sum(1) - tp
    out = np.full(len(tp), np.nan)
    out[denom > 0] = tp[denom > 0] / denom[denom > 0]
    return out


def mean_iou(values: np.ndarray) -> float | None:
    v = values[~np.isnan(values)]
    return float(v.mean()) if v.size else None
