"""Input bags: find the camera and ground-truth topics, validate them, and read frames back (no ROS needed).

Bags come from anywhere: ``swiftcast synth-bag``, ``ros2 bag record`` on a car, other tools. So nothing here
assumes our own conventions beyond sensible defaults: the camera topic is ``--topic`` or the only image topic
(``/camera/image_raw`` wins a tie); ground truth is ``--labels-topic`` or ``/camera/labels`` when present; raw
images in any encoding ``swiftcast.runtime.images`` accepts and ``CompressedImage`` (JPEG/PNG) both work; mcap
and sqlite3 storage, as a bag directory or a bare ``.mcap``/``.db3`` file. Problems are one-line
:class:`~swiftcast.errors.DataError`\\ s naming the bag, the topic and what is wrong.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from swiftcast.errors import DataError
from swiftcast.runtime.images import ImageError, decode_compressed, decode_raw

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED)
DEFAULT_CAMERA_TOPIC = "/camera/image_raw"
DEFAULT_LABELS_TOPIC = "/camera/labels"
LABEL_ENCODINGS = ("mono8", "8UC1")


@dataclass
class BagInfo:
    """What a replay needs to know about its input: a bag, or footage (a video or a folder of images)."""

    path: Path
    storage: str  # "mcap" | "sqlite3" | "video" | "images" (footage, see swiftcast.replay.frames)
    camera_topic: str
    camera_type: str  # IMAGE | COMPRESSED
    encoding: str  # raw encoding (bgr8, ...) or compressed format string (jpeg, png, "bgr8; jpeg compressed bgr8")
    height: int
    width: int
    frames: int
    duration_s: float
    labels_topic: str | None
    label_frames: int
    topics: dict[str, str] = field(default_factory=dict)  # every topic -> type
    fps: float | None = None  # footage: the frame rate its frames are stamped with

    @property
    def is_footage(self) -> bool:
        return self.storage in ("video", "images")

    @property
    def transport(self) -> str:
        """The semseg node's ``input_transport`` for this camera topic."""
        return "compressed" if self.camera_type == COMPRESSED else "raw"

    @property
    def rate_hz(self) -> float:
        return (self.frames - 1) / self.duration_s if self.duration_s > 0 and self.frames > 1 else 0.0

    def describe(self) -> str:
        if self.is_footage:
            what = "video" if self.storage == "video" else "images"
            return (f"{self.path.name}: {what} {self.width}x{self.height}, {self.frames} frames, {self.duration_s:.1f} s "
                    f"at {self.fps:g} fps, played as {self.camera_topic} {self.encoding}; no ground truth")
        gt = f"ground truth {self.labels_topic} ({self.label_frames} maps)" if self.labels_topic else "no ground truth"
        return (
            f"{self.path.name}: {self.camera_topic} {self.encoding} {self.width}x{self.height}, {self.frames} frames, "
            f"{self.duration_s:.1f} s ({self.rate_hz:.1f} Hz), {self.storage}; {gt}"
        )


# --- opening and typing ----------------------------------------------------------------------------------------------


def open_reader(path: Path) -> Reader:
    """An open rosbags Reader, or a DataError saying why ``path`` is not a readable bag."""
    if not path.exists():
        raise DataError(f"bag not found: {path}")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags raises several types; the user needs one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"{path} is not a readable rosbag2 bag (a directory with metadata.yaml, or an .mcap/.db3 file): {first}"
        ) from None
    return reader


def typestore_for(reader: Reader) -> Any:
    """ROS 2 Kilted types plus every custom type the bag itself defines (so foreign bags decode too)."""
    store = get_typestore(Stores.ROS2_KILTED)
    for conn in reader.connections:
        if conn.msgtype not in store.types and conn.msgdef.data:
            try:
                store.register(get_types_from_msg(conn.msgdef.data, conn.msgtype))
            except Exception:  # noqa: BLE001 - an undecodable custom type only matters if we read that topic
                pass
    return store


def storage_of(path: Path) -> str:
    if path.is_dir():
        return "mcap" if any(path.glob("*.mcap")) else "sqlite3"
    return "mcap" if path.suffix == ".mcap" else "sqlite3"


# --- decoding ----------------------------------------------------------------------------------------------------------


def stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def decode_camera(msg: Any, msgtype: str) -> np.ndarray:
    """A camera message as a BGR uint8 (H, W, 3) array; ImageError if it cannot be used."""
    if msgtype == COMPRESSED:
        return decode_compressed(msg.format, np.asarray(msg.data, dtype=np.uint8)).bgr()
    color = decode_raw(msg.encoding, msg.height, msg.width, msg.step, np.asarray(msg.data, dtype=np.uint8),
                       bool(msg.is_bigendian))
    return np.ascontiguousarray(color.bgr())


def decode_label_map(msg: Any) -> np.ndarray:
    """A mono8 trainId map as (H, W) uint8; ImageError if it is not one."""
    if msg.encoding not in LABEL_ENCODINGS:
        raise ImageError("encoding", f"label maps must be mono8, got {msg.encoding!r}")
    data = np.asarray(msg.data, dtype=np.uint8)
    if msg.step < msg.width or data.size != msg.height * msg.step:
        raise ImageError("data_size", f"label map data has {data.size} bytes for {msg.height} x step {msg.step}")
    return np.ascontiguousarray(data.reshape(msg.height, msg.step)[:, : msg.width])


class PackedLabels:
    """A label map kept zlib-compressed in memory (label maps compress 20-100x; a long 2 Mpx drive fits)."""

    __slots__ = ("shape", "_blob")

    def __init__(self, labels: np.ndarray) -> None:
        self.shape = labels.shape
        self._blob = zlib.compress(np.ascontiguousarray(labels, dtype=np.uint8).tobytes(), 1)

    def unpack(self) -> np.ndarray:
        return np.frombuffer(bytearray(zlib.decompress(self._blob)), dtype=np.uint8).reshape(self.shape)  # writable


# --- inspection ----------------------------------------------------------------------------------------------------------


def _pick_camera(path: Path, topics: dict[str, str], topic: str | None, labels_topic: str | None) -> str:
    images = {t: ty for t, ty in topics.items() if ty in IMAGE_TYPES}
    listing = ", ".join(f"{t} [{ty.split('/')[-1]}]" for t, ty in sorted(topics.items())) or "none"
    if topic is not None:
        if topic not in topics:
            raise DataError(f"topic {topic} is not in {path} (topics: {listing})")
        if topic not in images:
            raise DataError(f"topic {topic} in {path} is a {topics[topic]}, not a sensor_msgs Image/CompressedImage")
        return topic
    candidates = [t for t in images if t != labels_topic and "label" not in t.rsplit("/", 1)[-1]]
    if not candidates:
        raise DataError(f"no usable image topic in {path} (topics: {listing}); name one with --topic")
    if DEFAULT_CAMERA_TOPIC in candidates:
        return DEFAULT_CAMERA_TOPIC
    if len(candidates) > 1:
        raise DataError(f"several image topics in {path}: {', '.join(sorted(candidates))}; choose one with --topic")
    return candidates[0]


def inspect_bag(path: str | Path, topic: str | None = None, labels_topic: str | None = None) -> BagInfo:
    """Find and validate the camera (and ground-truth) topics; the first frame of each must decode."""
    path = Path(path)
    reader = open_reader(path)
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        counts: dict[str, int] = {}
        for c in reader.connections:
            counts[c.topic] = counts.get(c.topic, 0) + c.msgcount
        if labels_topic is not None:
            if labels_topic not in topics:
                raise DataError(f"labels topic {labels_topic} is not in {path}")
            if topics[labels_topic] != IMAGE:
                raise DataError(f"labels topic {labels_topic} is a {topics[labels_topic]}, not a mono8 sensor_msgs/Image")
        elif topics.get(DEFAULT_LABELS_TOPIC) == IMAGE:
            labels_topic = DEFAULT_LABELS_TOPIC
        camera = _pick_camera(path, topics, topic, labels_topic)
        if camera == labels_topic:
            raise DataError(f"--topic and --labels-topic are both {camera}")
        if counts.get(camera, 0) == 0:
            raise DataError(f"image topic {camera} in {path} has no messages")
        store = typestore_for(reader)
        first = _first(reader, store, camera)
        try:
            frame = decode_camera(first, topics[camera])
        except ImageError as exc:
            raise DataError(f"unreadable image on {camera} in {path} (first frame): {exc}") from None
        encoding = first.format if topics[camera] == COMPRESSED else first.encoding
        _check_stamps(reader, path, camera)
        if labels_topic is not None:
            if counts.get(labels_topic, 0) == 0:
                raise DataError(f"labels topic {labels_topic} in {path} has no messages")
            try:
                decode_label_map(_first(reader, store, labels_topic))
            except ImageError as exc:
                raise DataError(f"unreadable label map on {labels_topic} in {path}: {exc}") from None
        return BagInfo(
            path=path,
            storage=storage_of(path),
            camera_topic=camera,
            camera_type=topics[camera],
            encoding=str(encoding),
            height=int(frame.shape[0]),
            width=int(frame.shape[1]),
            frames=counts[camera],
            duration_s=reader.duration / 1e9,  # the whole bag's span: no full read needed
            labels_topic=labels_topic,
            label_frames=counts.get(labels_topic, 0) if labels_topic else 0,
            topics=topics,
        )
    finally:
        reader.close()


def _check_stamps(reader: Reader, path: Path, topic: str) -> None:
    """Outputs are matched to frames by header stamp: every camera frame needs its own (non-zero) stamp."""
    stamps = [cdr_stamp_ns(raw) for c, _, raw in reader.messages(connections=[c for c in reader.connections
                                                                            if c.topic == topic])]
    zero = sum(1 for s in stamps if s == 0)
    duplicates = len(stamps) - len(set(stamps))
    if zero > 1 or duplicates:
        raise DataError(
            f"camera frames on {topic} in {path} do not have distinct header stamps ({duplicates} duplicates, {zero} "
            "zero): the replay matches outputs to frames by stamp; re-stamp the bag (e.g. header.stamp = receive time)"
        )


def _first(reader: Reader, store: Any, topic: str) -> Any:
    conns = [c for c in reader.connections if c.topic == topic]
    for conn, _, raw in reader.messages(connections=conns):
        try:
            return store.deserialize_cdr(raw, conn.msgtype)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"cannot decode the first message on {topic}: {exc}") from None
    raise DataError(f"topic {topic} has no messages")


# --- reading back ----------------------------------------------------------------------------------------------------------


def read_label_maps(info: BagInfo) -> dict[int, PackedLabels]:
    """Ground truth of the bag: header stamp -> label map (empty if the bag has none; bad maps are skipped)."""
    if info.labels_topic is None:
        return {}
    out: dict[int, PackedLabels] = {}
    for stamp, msg in _iter_topic(info.path, info.labels_topic):
        try:
            out[stamp] = PackedLabels(decode_label_map(msg))
        except ImageError:
            continue
    return out


def read_camera_frames(info: BagInfo, stamps: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(stamp, BGR frame) in bag order, only for ``stamps`` when given (undecodable frames are skipped)."""
    for stamp, msg in _iter_topic(info.path, info.camera_topic, None if stamps is None else set(stamps)):
        try:
            yield stamp, decode_camera(msg, info.camera_type)
        except ImageError:
            continue


def cdr_stamp_ns(raw: bytes | memoryview) -> int:
    """Header stamp of a CDR message whose first field is a std_msgs/Header, without decoding the rest."""
    fmt = "<iI" if raw[1] & 1 else ">iI"  # encapsulation 0x0001 = little endian
    sec, nanosec = struct.unpack_from(fmt, raw, 4)
    return sec * 1_000_000_000 + nanosec


def _iter_topic(path: Path, topic: str, wanted: set[int] | None = None) -> Iterator[tuple[int, Any]]:
    """(header stamp, decoded message) of one topic; ``wanted`` filters by stamp before decoding."""
    reader = open_reader(path)
    try:
        store = typestore_for(reader)
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in reader.messages(connections=conns):
            stamp = cdr_stamp_ns(raw)
            if wanted is not None and stamp not in wanted:
                continue
            try:
                yield stamp, store.deserialize_cdr(raw, conn.msgtype)
            except Exception:  # noqa: BLE001 - a corrupt message is skipped, as the node skips it
                continue
    finally:
        reader.close()
