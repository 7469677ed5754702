"""The wire format of a feature map (``swiftcast_msgs/FeatureMap``), without ROS.

``data`` holds a (channels, height, width) array, C order, little endian, of ``dtype`` ``float16`` or
``float32``. The producer (semseg node) encodes with :func:`encode_features`; consumers (forecast node, replay)
decode with :func:`decode_features`, which refuses anything inconsistent with a :class:`FeatureError` whose
``reason`` is a stable diagnostics counter name.
"""

from __future__ import annotations

import numpy as np

from swiftcast.errors import DataError

FEATURE_DTYPES: tuple[str, ...] = ("float16", "float32")
#: Upper bound on channels x height x width accepted from the wire (a 2048x4096 image at stride 32 with 512 ch
#: is 4.2 M values); larger claims are refused before allocation.
MAX_FEATURE_VALUES: int = 1 << 24


class FeatureError(DataError):
    """A feature message that cannot be used; ``reason``: dtype, shape, data_size, non_finite."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def encode_features(features: np.ndarray) -> tuple[str, bytes]:
    """(dtype string, little-endian C-order bytes) of a (C, h, w) float16/float32 array."""
    if features.ndim != 3:
        raise FeatureError("shape", f"features must be (C, h, w), got shape {features.shape}")
    name = features.dtype.name
    if name not in FEATURE_DTYPES:
        raise FeatureError("dtype", f"features must be float16 or float32, got {name}")
    return name, np.ascontiguousarray(features, dtype=features.dtype.newbyteorder("<")).tobytes()


def decode_features(
    channels: int, height: int, width: int, dtype: str, data: bytes | bytearray | memoryview, check_finite: bool = True
) -> np.ndarray:
    """Validated (C, h, w) view of a feature buffer (read-only when ``data`` is immutable)."""
    if dtype not in FEATURE_DTYPES:
        raise FeatureError("dtype", f"feature dtype {dtype!r} is not one of {', '.join(FEATURE_DTYPES)}")
    if channels <= 0 or height <= 0 or width <= 0:
        raise FeatureError("shape", f"empty feature map ({channels}x{height}x{width})")
    count = channels * height * width
    if count > MAX_FEATURE_VALUES:
        raise FeatureError("shape", f"feature map {channels}x{height}x{width} exceeds {MAX_FEATURE_VALUES} values")
    np_dtype = np.dtype(dtype).newbyteorder("<")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != count * np_dtype.itemsize:
        raise FeatureError(
            "data_size",
            f"feature data has {buf.size} bytes, expected {channels}x{height}x{width}x{np_dtype.itemsize}"
            f" = {count * np_dtype.itemsize} for {dtype}",
        )
    arr = buf.view(np_dtype).reshape(channels, height, width)
    if check_finite and not np.isfinite(arr).all():
        raise FeatureError("non_finite", "feature map contains NaN or Inf values")
    return arr
