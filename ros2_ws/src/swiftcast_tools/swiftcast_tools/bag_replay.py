"""Play a bag's camera topic into the live stack and record everything the stack publishes, in one process.

Player and recorder share one process so every latency is measured on one clock: the recorder writes each
played frame as a ``std_msgs/Header`` on ``/replay/played`` whose bag timestamp is the wall time just before
publishing, and every output message with its receive wall time as bag timestamp (what ``ros2 bag record`` does).
Latency is then ``receive time(output with stamp s) - publish time(frame s)``, computed later by
``swiftcast.replay.score`` from the mcap alone.

Frames are published as the bag's raw CDR bytes on an rclpy publisher of the real type (no decode/encode), at
the recorded rate (bag log times) scaled by ``--rate``, with sensor-data QoS like a camera driver. ``--rate auto``
plays at the recorded rate but sends a frame only once the stack has answered the previous one (or
``--answer-wait`` passed), so a slow CPU processes every frame instead of dropping most; the summary gives the
effective rate. A video (``--video``) or a folder of images (``--images``) is played the same way: each frame
is decoded with OpenCV (:mod:`swiftcast.runtime.footage`) and published as a bgr8 ``sensor_msgs/Image`` at its own
size, stamped 1/``--fps`` apart. Before the
play, a few warm-up copies of the first frame (stamped away from the drive) are sent one by one until the stack
answers: that proves the whole path works and keeps one-off start-up costs out of the measured latencies.

Progress and results go to stdout as JSON lines (``{"event": ...}``) for ``swiftcast replay``; a summary JSON is
written to ``--summary``. SIGINT/SIGTERM stop the play early and still close the mcap properly.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, fields as dataclass_fields
from pathlib import Path
from typing import Any, Callable, Iterator

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg

from swiftcast.errors import SwiftcastError
from swiftcast.rosbag_types import typestore_with_swiftcast_msgs

from swiftcast_ros.qos import SENSOR_QOS

#: Topic on which played frames are recorded (Header: stamp of the frame; bag timestamp = publish wall time).
PLAYED_TOPIC = "/replay/played"
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")

EXIT_OK, EXIT_USAGE, EXIT_NO_STACK, EXIT_INTERRUPTED = 0, 2, 3, 130
AUTO = "auto"


def _rate(text: str) -> float | str:
    if text == AUTO:
        return AUTO
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate must be a positive number or 'auto', got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--rate must be positive, got {text!r}")
    return value


# --- CDR helpers: every message we touch starts with a std_msgs/Header --------------------------------------------


def header_stamp_ns(raw: bytes | memoryview) -> int:
    """Header stamp (ns) of a CDR-serialised message whose first field is ``std_msgs/Header``."""
    fmt = "<iI" if raw[1] & 1 else ">iI"  # encapsulation id 0x0001 = CDR little endian, 0x0000 = big endian
    sec, nanosec = struct.unpack_from(fmt, raw, 4)
    return sec * 1_000_000_000 + nanosec


def with_header_stamp(raw: bytes, stamp_ns: int) -> bytes:
    """A copy of ``raw`` with its header stamp replaced."""
    out = bytearray(raw)
    fmt = "<iI" if out[1] & 1 else ">iI"
    struct.pack_into(fmt, out, 4, stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000)
    return bytes(out)


def message_class(msgtype: str) -> type:
    """rclpy class of ``pkg/msg/Name`` (no rosidl_runtime_py in the pip wheels)."""
    pkg, sub, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{sub}"), name)


def _referenced_types(fields: list) -> set[str]:
    """Message type names used by rosbags field descriptors (``(name, (nodetype, details))``)."""
    names: set[str] = set()

    def visit(desc: tuple) -> None:
        kind, details = desc
        if kind.name == "NAME":
            names.add(details)
        elif kind.name in ("ARRAY", "SEQUENCE"):
            visit(details[0])

    for _, desc in fields:
        visit(desc)
    return names


# --- output bag ----------------------------------------------------------------------------------------------------


class McapRecorder:
    """Thread-safe mcap writer: raw CDR in, one connection per topic, types resolved on demand.

    rosbags writes a bag *directory*; the mcap file inside is moved to ``path`` on close, so the result is one
    self-describing ``.mcap`` file (schemas included) that rosbags, ``ros2 bag`` and Foxglove open directly.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = Path(tempfile.mkdtemp(prefix=".replay_", dir=path.parent))
        self._bagdir = self._tmp / path.stem
        self.typestore = typestore_with_swiftcast_msgs()
        self._writer = Writer(self._bagdir, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._lock = threading.Lock()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.types: dict[str, str] = {}
        self.stamped: dict[str, bool] = {}  # topic -> its messages start with a std_msgs/Header
        self._closed = False

    def ensure_type(self, msgtype: str) -> bool:
        """Make ``msgtype`` known to the typestore (from the installed ``share/<pkg>/msg/*.msg``, recursively)."""
        if msgtype in self.typestore.types:
            return True
        try:
            from ament_index_python.packages import get_package_share_directory

            pkg, _, name = msgtype.split("/")
            text = (Path(get_package_share_directory(pkg)) / "msg" / f"{name}.msg").read_text()
            types = get_types_from_msg(text, msgtype)
        except Exception:  # noqa: BLE001 - an unknown type is skipped (reported), never fatal
            return False
        if not all(self.ensure_type(dep) for dep in _referenced_types(types[msgtype][1])):
            return False
        self.typestore.register(types)
        return True

    def add_topic(self, topic: str, msgtype: str) -> bool:
        with self._lock:
            if self._closed or topic in self._connections:
                return topic in self._connections
            if not self.ensure_type(msgtype):
                return False
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            self.counts[topic] = 0
            self.types[topic] = msgtype
            fields = self.typestore.fielddefs[msgtype][1]
            self.stamped[topic] = bool(fields) and fields[0][1][1] == "std_msgs/msg/Header"
            return True

    def write(self, topic: str, stamp_ns: int, raw: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            self._writer.write(self._connections[topic], stamp_ns, raw)
            self.counts[topic] += 1

    def serialize(self, msg: Any, msgtype: str) -> bytes:
        return bytes(self.typestore.serialize_cdr(msg, msgtype))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
            produced = self._bagdir / f"{self._bagdir.name}.mcap"
            if self.path.exists():
                self.path.unlink()
            shutil.move(str(produced), str(self.path))
            shutil.rmtree(self._tmp, ignore_errors=True)


# --- the node --------------------------------------------------------------------------------------------------------


class ReplayNode(Node):
    """Camera publisher + recorder of every output topic (discovered as the stack's nodes come up)."""

    def __init__(self, args: argparse.Namespace, msgtype: str, recorder: McapRecorder, emit: Callable) -> None:
        super().__init__("bag_replay")
        self.args = args
        self.recorder = recorder
        self.emit = emit
        self.camera_pub = self.create_publisher(message_class(msgtype), args.publish_topic, SENSOR_QOS)
        self.recording = False
        self.ignored_stamps: set[int] = set()
        self.answered: dict[int, int] = {}  # stamp -> receive ns, on the answer topic
        self.played: set[int] = set()  # stamps of the frames of the drive published so far
        self.answered_played = 0  # how many of those were answered
        self.last_output_ns = 0
        self.skipped: dict[str, str] = {}
        self._subs: dict[str, Any] = {}
        self._lock = threading.Lock()
        recorder.add_topic(PLAYED_TOPIC, "std_msgs/msg/Header")
        self.discover()
        self.create_timer(0.5, self.discover)

    # -- topic discovery ------------------------------------------------------------------------------------------
    def wanted(self, topic: str) -> bool:
        if topic in (self.args.topic, self.args.publish_topic, PLAYED_TOPIC):
            return False
        if not self.args.record_overlays and topic.endswith("/overlay"):
            return False  # overlays are computed only when someone listens: recording them would slow the stack
        return topic in self.args.record_topic or any(
            topic == p or topic.startswith(p.rstrip("/") + "/") for p in self.args.record_prefix
        )

    def _qos_for(self, topic: str) -> QoSProfile:
        infos = self.get_publishers_info_by_topic(topic)
        latched = any(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
        best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=50,
            reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        )

    def discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self._subs or topic in self.skipped or not self.wanted(topic):
                continue
            if not self.get_publishers_info_by_topic(topic):
                continue  # only a subscriber so far: wait for the publisher to learn its QoS
            msgtype = types[0]
            try:
                cls = message_class(msgtype)
            except (ImportError, AttributeError, ValueError):
                self.skipped[topic] = f"type {msgtype} not importable"
                continue
            if not self.recorder.add_topic(topic, msgtype):
                self.skipped[topic] = f"type {msgtype} unknown to the bag writer"
                continue
            self._subs[topic] = self.create_subscription(
                cls, topic, lambda raw, t=topic: self.on_message(t, raw), self._qos_for(topic), raw=True
            )
            self.emit({"event": "subscribed", "topic": topic, "type": msgtype})

    def publisher_count(self, topic: str) -> int:
        return self.count_publishers(topic) if topic in self._subs else 0

    def other_subscribers(self, topic: str) -> int:
        """Subscriptions to ``topic`` by nodes other than this one (a node that subscribes last is ready)."""
        return sum(1 for i in self.get_subscriptions_info_by_topic(topic) if i.node_name != self.get_name())

    # -- messages -------------------------------------------------------------------------------------------------
    def on_message(self, topic: str, raw: bytes) -> None:
        received = time.time_ns()
        stamp = header_stamp_ns(raw) if self.recorder.stamped.get(topic) else None
        if topic == self.args.answer_topic and stamp is not None:
            with self._lock:
                if stamp not in self.answered and stamp in self.played:
                    self.answered_played += 1
                self.answered[stamp] = received
        if not self.recording or (stamp is not None and stamp in self.ignored_stamps):
            return
        if stamp is not None and not topic.endswith("label_info") and not topic.startswith("/diagnostics"):
            self.last_output_ns = received  # per-frame outputs only: periodic topics never go quiet
        self.recorder.write(topic, received, raw)

    def answer_time(self, stamp: int) -> int | None:
        with self._lock:
            return self.answered.get(stamp)

    def mark_played(self, stamp: int) -> None:
        with self._lock:
            self.played.add(stamp)
            if stamp in self.answered:  # answered before we noted it (a late duplicate stamp)
                self.answered_played += 1

    def answered_count(self) -> int:
        with self._lock:
            return self.answered_played

    def publish_frame(self, raw: bytes, stamp_ns: int, index: int, record: bool) -> int:
        header_type = self.recorder.typestore.types["std_msgs/msg/Header"]
        time_type = self.recorder.typestore.types["builtin_interfaces/msg/Time"]
        marker = header_type(
            stamp=time_type(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000), frame_id=str(index)
        )
        marker_raw = self.recorder.serialize(marker, "std_msgs/msg/Header")
        sent = time.time_ns()
        self.camera_pub.publish(raw)
        if record:
            self.recorder.write(PLAYED_TOPIC, sent, marker_raw)
        return sent


# --- the play ------------------------------------------------------------------------------------------------------


def camera_connection(reader: Reader, topic: str) -> Any:
    conns = [c for c in reader.connections if c.topic == topic]
    if not conns:
        raise SystemExit(f"bag_replay: error: topic {topic} is not in the bag")
    if conns[0].msgtype not in IMAGE_TYPES:
        raise SystemExit(f"bag_replay: error: topic {topic} has type {conns[0].msgtype}, not an image")
    return conns


class Camera:
    """The frames to play: ``messages()`` yields (recorded time ns, CDR bytes with the header stamp first)."""

    msgtype: str
    total: int
    first_raw: bytes
    first_stamp: int
    end_stamp: int

    def messages(self) -> Iterator[tuple[int, bytes]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class BagCamera(Camera):
    """A bag's camera topic, played as recorded (raw CDR, bag log times)."""

    def __init__(self, path: Path, topic: str) -> None:
        self.reader = Reader(path)
        self.reader.open()
        self.conns = camera_connection(self.reader, topic)
        self.msgtype = self.conns[0].msgtype
        self.total = sum(c.msgcount for c in self.conns)
        first = next(self.reader.messages(connections=self.conns), None)
        if first is None:
            raise SystemExit(f"bag_replay: error: topic {topic} has no messages")
        self.first_raw = bytes(first[2])
        self.first_stamp = header_stamp_ns(self.first_raw)
        self.end_stamp = self.first_stamp + self.reader.duration

    def messages(self) -> Iterator[tuple[int, bytes]]:
        for _, log_ns, raw in self.reader.messages(connections=self.conns):
            yield log_ns, bytes(raw)

    def close(self) -> None:
        self.reader.close()


class FootageCamera(Camera):
    """A video or a folder of images: frames decoded with OpenCV, sent as bgr8 Images stamped from the frame rate."""

    msgtype = "sensor_msgs/msg/Image"

    def __init__(self, path: Path, fps: float | None) -> None:
        from swiftcast.replay.video_bag import FRAME_ID, image_cdr
        from swiftcast.runtime.footage import open_footage

        try:
            self.source = open_footage(path, fps)
        except SwiftcastError as exc:
            raise SystemExit(f"bag_replay: error: {exc}") from None
        self.store = typestore_with_swiftcast_msgs()
        self._cdr = lambda stamp, bgr: image_cdr(self.store, stamp, bgr, FRAME_ID)
        self.total = self.source.frames
        stamp, first = next(iter(self.source))
        self.first_raw, self.first_stamp = self._cdr(stamp, first), stamp
        self.end_stamp = self.source.stamp(self.total - 1)

    def messages(self) -> Iterator[tuple[int, bytes]]:
        for stamp, bgr in self.source:
            yield stamp, self._cdr(stamp, bgr)


def open_camera(args: argparse.Namespace) -> Camera:
    if args.video or args.images:
        return FootageCamera(args.video or args.images, args.fps)
    return BagCamera(args.bag, args.topic)


def run(args: argparse.Namespace, stop: threading.Event, emit: Callable[[dict], None]) -> dict:
    source = args.bag or args.video or args.images
    summary: dict[str, Any] = {"bag": str(source), "topic": args.topic, "rate": args.rate, "status": "ok"}
    camera = open_camera(args)
    try:
        summary.update(msgtype=camera.msgtype, frames_total=camera.total)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        recorder = McapRecorder(args.out)
        node = ReplayNode(args, camera.msgtype, recorder, emit)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            BagPlayer(PlayOptions.from_args(args), camera, node, stop, emit, summary).play()
        finally:
            node.recording = False
            executor.shutdown(timeout_sec=2.0)
            recorder.close()
            summary["topics"] = {t: {"type": recorder.types[t], "count": n} for t, n in recorder.counts.items()}
            summary["skipped_topics"] = dict(node.skipped)
            node.destroy_node()
    finally:
        camera.close()
    return summary


def _wait(condition: Callable[[], bool], timeout: float, stop: threading.Event, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if stop.is_set() or time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


@dataclass
class PlayOptions:
    """The command-line options that pace the play: what marks the stack ready, the warm-up, the rate, the drain."""

    publish_topic: str
    answer_topic: str
    wait_topic: list[str]
    wait_subscribed: list[str]
    stack_timeout: float
    answer_timeout: float
    answer_wait: float
    warmup: int
    rate: float | str
    drain: float
    max_drain: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PlayOptions:
        return cls(**{f.name: getattr(args, f.name) for f in dataclass_fields(cls)})


class BagPlayer:
    """One play of ``camera`` into the stack, in four steps: wait for the stack, warm it up, play the drive, drain.

    Each step notes in ``summary`` how it went; a step that fails sets ``status`` and ``message`` and ends the play
    (the recording made so far is still closed and scored by the caller).
    """

    def __init__(
        self,
        options: PlayOptions,
        camera: Camera,
        node: ReplayNode,
        stop: threading.Event,
        emit: Callable[[dict], None],
        summary: dict[str, Any],
    ) -> None:
        self.options, self.camera, self.node = options, camera, node
        self.stop, self.emit, self.summary = stop, emit, summary

    def play(self) -> None:
        if not self.wait_for_stack():
            return
        time.sleep(0.5)  # let the discovery of the other direction settle (late joiners miss the first message)
        if not self.warm_up():
            return
        self.drive()
        self.drain()

    def wait_for_stack(self) -> bool:
        """The stack is up: our camera has a subscriber and every answer/wait topic a publisher."""
        opts, node = self.options, self.node
        self.emit({"event": "waiting", "what": "stack"})
        wait_topics = [opts.answer_topic, *opts.wait_topic]

        def stack_ready() -> bool:
            return (
                node.camera_pub.get_subscription_count() >= 1
                and all(node.publisher_count(t) for t in wait_topics)
                and all(node.other_subscribers(t) for t in opts.wait_subscribed)
            )

        if _wait(stack_ready, opts.stack_timeout, self.stop):
            return True
        if not self.stop.is_set():
            missing = [t for t in wait_topics if not node.publisher_count(t)]
            unsubscribed = [t for t in opts.wait_subscribed if not node.other_subscribers(t)]
            what = f"no subscriber on {opts.publish_topic}" if not node.camera_pub.get_subscription_count() else ""
            what = what or (f"no publisher on {', '.join(missing)}" if missing else "")
            what = what or f"nothing subscribed to {', '.join(unsubscribed)}"
            self.summary.update(
                status="no_stack", message=f"the stack did not come up within {opts.stack_timeout:g} s ({what})"
            )
        else:
            self.summary.update(status="interrupted", message="stopped while waiting for the stack")
        return False

    def warm_up(self) -> bool:
        """Copies of the first frame stamped away from the drive, one at a time, until each is answered: proves the
        whole path works and keeps one-off start-up costs out of the measured latencies."""
        opts, node, camera, stop = self.options, self.node, self.camera, self.stop
        if camera.first_stamp >= 20_000_000_000:
            base = camera.first_stamp - 10_000_000_000
        else:
            base = camera.end_stamp + 10_000_000_000
        warmup = []
        for k in range(opts.warmup):
            stamp = base + k * 1_000_000
            node.ignored_stamps.add(stamp)
            raw = with_header_stamp(camera.first_raw, stamp)
            deadline = time.monotonic() + (opts.answer_timeout if k == 0 else opts.answer_timeout / 2)
            sent, sends = None, 0
            while node.answer_time(stamp) is None and time.monotonic() < deadline and not stop.is_set():
                sent = node.publish_frame(raw, stamp, -1, record=False)
                sends += 1
                _wait(lambda s=stamp: node.answer_time(s) is not None, 2.0, stop)  # best effort: resend if lost
            answered = node.answer_time(stamp)
            if answered is None:
                if stop.is_set():
                    self.summary.update(status="interrupted", message="stopped during warm-up")
                else:
                    self.summary.update(
                        status="no_answer",
                        message=f"the stack did not answer a warm-up frame on {opts.answer_topic} within "
                        f"{opts.answer_timeout:g} s",
                    )
                return False
            # a resent frame's answer may belong to an earlier copy: its latency is not a measurement
            warmup.append(round((answered - sent) / 1e6, 2) if sends == 1 else None)
            self.emit({"event": "warmup", "index": k, "latency_ms": warmup[-1]})
        self.summary["warmup_latency_ms"] = warmup
        return True

    def drive(self) -> None:
        """The drive, at the recorded rate x ``--rate`` (auto: also never before the previous frame was answered)."""
        opts, node, stop, summary = self.options, self.node, self.stop, self.summary
        lockstep = opts.rate == AUTO
        rate = 1.0 if lockstep else opts.rate
        total = self.camera.total
        node.recording = True
        summary["play_started_ns"] = time.time_ns()
        published, previous, first_pub, first_log, last_log, last_pub = 0, None, None, None, None, None
        stopped = False
        for index, (log_ns, raw) in enumerate(self.camera.messages()):
            if previous is not None:
                prev_stamp, prev_log, prev_pub = previous
                if lockstep:  # the recorded spacing, but never before the previous frame was answered (bounded wait)
                    due = prev_pub + (log_ns - prev_log) / 1e9
                    _wait(lambda s=prev_stamp: node.answer_time(s) is not None, opts.answer_wait, stop, poll=0.002)
                else:  # the recorded schedule, scaled: a late frame does not shift the ones after it
                    due = first_pub + (log_ns - first_log) / 1e9 / rate
                delay = due - time.monotonic()
                if stop.is_set() or (delay > 0 and stop.wait(delay)):
                    stopped = True
            if stopped or stop.is_set():
                summary.update(status="interrupted", message=f"stopped after {published} of {total} frames")
                break
            stamp = header_stamp_ns(raw)
            node.mark_played(stamp)  # before publishing: the answer may come back before publish() returns
            node.publish_frame(raw, stamp, index, record=True)
            now = time.monotonic()
            previous = (stamp, log_ns, now)
            first_pub, first_log = (now, log_ns) if first_pub is None else (first_pub, first_log)
            last_pub, last_log = now, log_ns
            published += 1
            self.emit({"event": "progress", "published": published, "total": total, "answered": node.answered_count()})
        if published > 1 and last_pub > first_pub:
            summary["rate_used"] = round((last_log - first_log) / 1e9 / (last_pub - first_pub), 4)
        self.emit({"event": "rate", "rate": summary.get("rate_used")})
        summary["play_finished_ns"] = time.time_ns()
        summary["frames_published"] = published

    def drain(self) -> None:
        """Wait until the outputs go quiet: forecasts come after the labels of their source frame."""
        node = self.node
        last_pub = time.time_ns()
        _wait(
            lambda: (time.time_ns() - max(node.last_output_ns, last_pub)) / 1e9 > self.options.drain,
            self.options.max_drain,
            self.stop,
            poll=0.1,
        )
        self.summary["frames_answered"] = node.answered_count()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bag_replay", description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--bag", type=Path, help="input rosbag2 (directory, .mcap or .db3)")
    source.add_argument("--video", type=Path, help="input video file (what OpenCV reads), played as bgr8 Images")
    source.add_argument("--images", type=Path, help="input folder of same-size images, played in name order")
    p.add_argument("--fps", type=float, help="frame rate of --video (default: the container's) or --images (required)")
    p.add_argument("--topic", default="/camera/image_raw", help="camera topic to play (Image or CompressedImage)")
    p.add_argument("--publish-topic", help="publish the frames on this topic instead (default: --topic)")
    p.add_argument("--out", type=Path, required=True, help="output .mcap file")
    p.add_argument("--summary", type=Path, help="write the run summary (JSON) here")
    p.add_argument("--rate", type=_rate, default=1.0,
                   help="playback speed factor (1 = recorded rate), or 'auto': the recorded rate, but each frame only "
                   "after the stack answered the previous one (a slow CPU then processes every frame)")
    p.add_argument("--answer-wait", type=float, default=5.0,
                   help="with --rate auto: longest wait (s) for the previous frame's answer before going on")
    p.add_argument("--record-prefix", action="append", default=None, help="record topics under this namespace")
    p.add_argument("--record-topic", action="append", default=None, help="also record this topic")
    p.add_argument("--record-overlays", action="store_true", help="also record */overlay topics")
    p.add_argument("--answer-topic", default="/perception/semseg/labels", help="the stack's per-frame answer")
    p.add_argument("--wait-topic", action="append", default=[], help="wait for a publisher on this topic too")
    p.add_argument("--wait-subscribed", action="append", default=[],
                   help="wait until another node subscribes to this topic (e.g. a node that loads models first)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up frames before the play (not recorded)")
    p.add_argument("--stack-timeout", type=float, default=120.0, help="seconds to wait for the stack to come up")
    p.add_argument("--answer-timeout", type=float, default=120.0, help="seconds to wait for the first answer")
    p.add_argument("--drain", type=float, default=2.0, help="stop once outputs were quiet this long after the play")
    p.add_argument("--max-drain", type=float, default=30.0, help="never wait longer than this after the play")
    args = p.parse_args(argv)
    args.record_prefix = args.record_prefix or ["/perception"]
    args.record_topic = args.record_topic or ["/diagnostics"]
    args.publish_topic = args.publish_topic or args.topic
    if args.warmup < 1:
        p.error("--warmup must be at least 1 (the warm-up proves the stack answers)")
    path = args.bag or args.video or args.images
    if not path.exists():
        p.error(f"{path} not found")
    if args.images and args.fps is None:
        p.error("--images needs --fps")
    if args.out.suffix != ".mcap":
        p.error("--out must name a .mcap file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def emit(event: dict) -> None:
        print(json.dumps(event), flush=True)

    rclpy.init(args=["--ros-args"], signal_handler_options=SignalHandlerOptions.NO)
    try:
        summary = run(args, stop, emit)
    except SystemExit as exc:  # a one-line usage problem raised inside run()
        print(exc, file=sys.stderr, flush=True)
        return EXIT_USAGE
    finally:
        rclpy.try_shutdown()
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2))
    emit({"event": "done", **summary})
    status = summary["status"]
    return {"ok": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(status, EXIT_NO_STACK)


if __name__ == "__main__":
    sys.exit(main())
