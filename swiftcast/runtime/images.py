"""Camera buffers -> uint8 colour arrays, validated before anything big is allocated (no ROS import).

A node on a vehicle receives whatever a driver or a bag puts on the wire. Every check here raises an
:class:`ImageError` whose ``reason`` is a short, stable code (used as a diagnostics counter name) and whose
message names the problem, so a node can log it, count it and skip the frame instead of crashing.

Decoding keeps the camera's channel order (no colour conversion on the hot path); the result says which order
it is in, and the consumer flips channels where it is cheapest (after resizing, in the segmenter). Resizing lives
in :mod:`swiftcast.data.transforms` (``resize_rgb``/``resize_label``) so training and runtime interpolate alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from swiftcast.data.labels import colorize_train_ids
from swiftcast.errors import DataError

ChannelOrder = Literal["rgb", "bgr"]

#: ROS ``sensor_msgs/Image`` encodings we accept: encoding -> (channels in the buffer, channel order).
SUPPORTED_ENCODINGS: dict[str, tuple[int, ChannelOrder]] = {
    "bgr8": (3, "bgr"),
    "rgb8": (3, "rgb"),
    "bgra8": (4, "bgr"),
    "rgba8": (4, "rgb"),
    "mono8": (1, "rgb"),  # grey replicated to 3 channels: any order is right
}

#: Default upper bound on width x height (an 8K frame is 33 Mpx): above this a frame is refused unread.
DEFAULT_MAX_PIXELS: int = 4096 * 4096

#: Diagnostic reason codes an :class:`ImageError` can carry.
REASONS: tuple[str, ...] = ("encoding", "size", "too_large", "step", "data_size", "format", "decode")


class ImageError(DataError):
    """A camera frame that cannot be used; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ColorImage:
    """A (H, W, 3) uint8 image plus the order of its channels."""

    pixels: np.ndarray
    order: ChannelOrder

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])

    def to(self, order: ChannelOrder) -> np.ndarray:
        """The pixels in ``order`` (a view when it already is)."""
        return self.pixels if order == self.order else self.pixels[..., ::-1]

    def rgb(self) -> np.ndarray:
        return self.to("rgb")

    def bgr(self) -> np.ndarray:
        return self.to("bgr")


def check_size(height: int, width: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse empty and oversized frames before any buffer of that size exists."""
    if height <= 0 or width <= 0:
        raise ImageError("size", f"empty image ({width}x{height})")
    if height * width > max_pixels:
        raise ImageError(
            "too_large", f"image {width}x{height} has {height * width} pixels, above max_input_pixels={max_pixels}"
        )


def decode_raw(
    encoding: str,
    height: int,
    width: int,
    step: int,
    data: bytes | bytearray | memoryview | np.ndarray,
    is_bigendian: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ColorImage:
    """Validate and view a raw ``sensor_msgs/Image`` buffer as a (H, W, 3) uint8 image.

    Rows may be padded (``step`` > width x channels). ``is_bigendian`` has no meaning for 8-bit encodings and is
    accepted either way. The returned pixels are a view of ``data`` when no conversion is needed.
    """
    if encoding not in SUPPORTED_ENCODINGS:
        raise ImageError(
            "encoding", f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    del is_bigendian  # 1 byte per channel: byte order is irrelevant
    channels, order = SUPPORTED_ENCODINGS[encoding]
    check_size(height, width, max_pixels)
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageError("step", f"step {step} is smaller than width x channels = {row_bytes} for {encoding}")
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if buf.dtype != np.uint8:
        raise ImageError("data_size", f"image data must be bytes, got an array of {buf.dtype}")
    expected = height * step
    if buf.size != expected:
        raise ImageError(
            "data_size", f"data has {buf.size} bytes, expected height x step = {height} x {step} = {expected}"
        )
    rows = buf.reshape(height, step)[:, :row_bytes]
    pixels = rows.reshape(height, width, channels)
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels == 4:
        pixels = pixels[..., :3]
    return ColorImage(pixels, order)


def compressed_image_size(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(height, width) read from a PNG or JPEG header without decoding it; ImageError if it is neither."""
    head = bytes(data[:32])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(head) < 24 or head[12:16] != b"IHDR":
            raise ImageError("decode", "truncated PNG header")
        width = int.from_bytes(head[16:20], "big")
        height = int.from_bytes(head[20:24], "big")
        return height, width
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(memoryview(data))
    raise ImageError("format", "compressed data is neither JPEG nor PNG")


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: memoryview) -> tuple[int, int]:
    """Walk the JPEG marker segments up to the frame header (SOFn) and read its size."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise ImageError("decode", f"corrupt JPEG: no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:  # standalone markers
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _JPEG_SOF:
            if pos + 9 > n:
                break
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return height, width
        if marker == 0xDA or length < 2:  # scan data before any frame header
            break
        pos += 2 + length
    raise ImageError("decode", "corrupt or truncated JPEG: no frame header")


def decode_compressed(
    fmt: str, data: bytes | bytearray | memoryview | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ColorImage:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG, any image_transport ``format`` string) to BGR.

    The size in the header is checked against ``max_pixels`` before OpenCV allocates anything; a JPEG missing
    its end-of-image marker is refused as truncated (libjpeg would silently return a half-grey picture).
    """
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if buf.size == 0:
        raise ImageError("size", f"empty compressed image (format {fmt!r})")
    raw = memoryview(buf)
    height, width = compressed_image_size(raw)
    check_size(height, width, max_pixels)
    if raw[0] == 0xFF:
        tail = bytes(raw[-64:]).rstrip(b"\x00")
        if not tail.endswith(b"\xff\xd9"):
            raise ImageError("decode", f"truncated JPEG ({buf.size} bytes, no end-of-image marker)")
    pixels = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if pixels is None:
        raise ImageError("decode", f"undecodable {'JPEG' if raw[0] == 0xFF else 'PNG'} ({buf.size} bytes)")
    if pixels.shape[:2] != (height, width):
        raise ImageError("decode", f"decoded size {pixels.shape[1]}x{pixels.shape[0]} != header {width}x{height}")
    return ColorImage(pixels, "bgr")


def overlay_labels(image_bgr: np.ndarray, labels: np.ndarray, alpha: float) -> np.ndarray:
    """Blend the class colours of ``labels`` over a BGR image: ``alpha`` = weight of the colours (0..1)."""
    colours = colorize_train_ids(labels)
    if alpha >= 1.0:
        return np.ascontiguousarray(colours)
    image = np.ascontiguousarray(image_bgr)
    return cv2.addWeighted(colours, float(alpha), image, 1.0 - float(alpha), 0.0)
