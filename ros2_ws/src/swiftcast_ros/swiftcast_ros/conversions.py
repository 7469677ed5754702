"""numpy <-> messages, stamps <-> nanoseconds (no cv_bridge here: it does not exist for these wheels).

Incoming buffers are validated by ``swiftcast.runtime`` (ImageError / FeatureError with a ``reason``); outgoing
arrays are packed with ``tobytes()`` (assigning an ndarray to ``msg.data`` is ~100x slower in rclpy).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import ColorRGBA, Header
from swiftcast_msgs.msg import FeatureMap, LabelInfo, SemanticForecast

from swiftcast.runtime.features import decode_features, encode_features
from swiftcast.runtime.images import DEFAULT_MAX_PIXELS, ColorImage, decode_compressed, decode_raw


def image_msg_to_color(msg: Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> ColorImage:
    """A validated (H, W, 3) view of a sensor_msgs/Image (bgr8, rgb8, bgra8, rgba8, mono8)."""
    return decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data, bool(msg.is_bigendian), max_pixels)


def compressed_msg_to_color(msg: CompressedImage, max_pixels: int = DEFAULT_MAX_PIXELS) -> ColorImage:
    """A decoded sensor_msgs/CompressedImage (JPEG/PNG), size-checked before decoding."""
    return decode_compressed(msg.format, msg.data, max_pixels)


#: a camera message -> validated colour image, refusing frames over ``max_pixels`` (ImageError)
CameraDecoder = Callable[[Any, int], ColorImage]


def camera_input(topic: str, transport: str) -> tuple[str, type, CameraDecoder]:
    """(topic, message type, decoder) of a camera subscription: sensor_msgs/Image on ``topic``, or with transport
    ``compressed`` sensor_msgs/CompressedImage on ``<topic>/compressed`` (image_transport's convention)."""
    if transport == "compressed":
        return topic.rstrip("/") + "/compressed", CompressedImage, compressed_msg_to_color
    return topic, Image, image_msg_to_color


NS = 1_000_000_000


def stamp_to_ns(stamp: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds (exact: stamps are compared and keyed by it)."""
    return int(stamp.sec) * NS + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // NS), nanosec=int(ns % NS))


def ns_to_duration(ns: int) -> Duration:
    return Duration(sec=int(ns // NS), nanosec=int(ns % NS))


def array_to_image_msg(array: np.ndarray, header: Header, encoding: str | None = None) -> Image:
    """(H, W) uint8 -> mono8, (H, W, 3) uint8 -> bgr8 (or the given 3-channel ``encoding``)."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W) or (H, W, C) array, got {array.dtype} {array.shape}")
    height, width = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    if encoding is None:
        encoding = {1: "mono8", 3: "bgr8", 4: "bgra8"}[channels]
    msg = Image()
    msg.header = header
    msg.height, msg.width = height, width
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = width * channels
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def image_msg_to_array(msg: Image) -> np.ndarray:
    """A (H, W) view of a mono8 image or (H, W, C) of an 8-bit colour image, as published (no conversion)."""
    channels = {"mono8": 1, "8UC1": 1, "bgr8": 3, "rgb8": 3, "bgra8": 4, "rgba8": 4}.get(msg.encoding)
    if channels is None:
        raise ValueError(f"image_msg_to_array: unsupported encoding {msg.encoding!r}")
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    return rows.reshape(msg.height, msg.width) if channels == 1 else rows.reshape(msg.height, msg.width, channels)


def features_to_msg(
    features: np.ndarray, header: Header, model_id: str, image_size: Sequence[int], stride: int
) -> FeatureMap:
    """Pack a (C, h, w) float16/float32 array computed for an image of ``image_size`` = (H, W)."""
    dtype, data = encode_features(features)
    msg = FeatureMap()
    msg.header = header
    msg.channels, msg.height, msg.width = (int(v) for v in features.shape)
    msg.stride = int(stride)
    msg.dtype = dtype
    msg.data = data
    msg.model_id = model_id
    msg.image_height, msg.image_width = int(image_size[0]), int(image_size[1])
    return msg


def features_from_msg(msg: FeatureMap, check_finite: bool = True) -> np.ndarray:
    """Validated (C, h, w) array of a FeatureMap (FeatureError naming the problem otherwise)."""
    return decode_features(msg.channels, msg.height, msg.width, msg.dtype, msg.data, check_finite)


def forecast_msg(labels: np.ndarray, confidence: np.ndarray | None, header: Header, source_stamp: Time,
                 horizon_ns: int, model_id: str) -> SemanticForecast:
    """A SemanticForecast stamped ``header`` (the target time): mono8 trainIds, the confidence when given, the
    stamp of the frame it was made from and the horizon."""
    msg = SemanticForecast(header=header, source_stamp=source_stamp, labels=array_to_image_msg(labels, header),
                           horizon=ns_to_duration(horizon_ns), model_id=model_id)
    if confidence is not None:
        msg.confidence = array_to_image_msg(confidence, header)
    return msg


def label_info_msg(
    class_names: Sequence[str], colors_rgb: np.ndarray, ignore_id: int, header: Header | None = None
) -> LabelInfo:
    """The class table (trainId order) with colours as RGBA in 0..1."""
    msg = LabelInfo()
    if header is not None:
        msg.header = header
    msg.class_names = list(class_names)
    msg.train_ids = bytes(range(len(class_names)))
    msg.colors = [
        ColorRGBA(r=float(c[0]) / 255.0, g=float(c[1]) / 255.0, b=float(c[2]) / 255.0, a=1.0)
        for c in np.asarray(colors_rgb)[: len(class_names)]
    ]
    msg.ignore_id = int(ignore_id)
    return msg
