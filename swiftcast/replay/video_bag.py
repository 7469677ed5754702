"""A video (or a folder of images) written as a rosbag2 mcap bag (``swiftcast bag-from-video VIDEO OUT``).

The bag holds what a camera driver records: ``/camera/image_raw`` (``sensor_msgs/Image`` bgr8 at the video's
size) and ``/camera/camera_info`` (size only: the calibration of a video is unknown, so K, P are zero, the ROS
convention for an uncalibrated camera), both stamped 1/fps apart exactly as ``swiftcast replay`` stamps the video
itself, so replaying the bag or the video gives the same stamps.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from swiftcast.errors import DataError

CAMERA_TOPIC = "/camera/image_raw"
INFO_TOPIC = "/camera/camera_info"
FRAME_ID = "camera"


def _header(store: Any, stamp_ns: int, frame_id: str) -> Any:
    t = store.types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return store.types["std_msgs/msg/Header"](stamp=t, frame_id=frame_id)


def image_cdr(store: Any, stamp_ns: int, bgr: np.ndarray, frame_id: str = FRAME_ID) -> bytes:
    """A BGR uint8 (H, W, 3) frame as a CDR-serialised bgr8 ``sensor_msgs/Image``."""
    h, w = bgr.shape[:2]
    msg = store.types["sensor_msgs/msg/Image"](
        header=_header(store, stamp_ns, frame_id), height=h, width=w, encoding="bgr8", is_bigendian=0, step=w * 3,
        data=np.ascontiguousarray(bgr).reshape(-1))
    return bytes(store.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def camera_info_cdr(store: Any, stamp_ns: int, height: int, width: int, frame_id: str = FRAME_ID) -> bytes:
    """An uncalibrated ``sensor_msgs/CameraInfo`` (size only) as CDR."""
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                          do_rectify=False)
    msg = store.types["sensor_msgs/msg/CameraInfo"](
        header=_header(store, stamp_ns, frame_id), height=height, width=width, distortion_model="",
        d=np.zeros(0), k=np.zeros(9), r=np.zeros(9), p=np.zeros(12), binning_x=0, binning_y=0, roi=roi)
    return bytes(store.serialize_cdr(msg, "sensor_msgs/msg/CameraInfo"))


def write_bag(source: str | Path, out: str | Path, fps: float | None = None, force: bool = False,
              progress: bool = True) -> dict:
    """Write the frames of a video or image folder to an mcap bag; returns a summary."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from tqdm import tqdm

    from swiftcast.rosbag_types import typestore_with_swiftcast_msgs
    from swiftcast.runtime.footage import looks_like_bag, open_footage

    src = Path(source)
    if src.exists() and looks_like_bag(src):
        raise DataError(f"{src} is already a bag")
    frames = open_footage(src, fps)
    out = Path(out)
    if out.exists():
        if not force:
            raise DataError(f"{out} already exists (remove it, choose another OUT, or pass --force)")
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    store = typestore_with_swiftcast_msgs()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = Writer(out, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
    except Exception as exc:  # noqa: BLE001 - rosbags/OS errors: the user needs one line
        raise DataError(f"cannot create bag {out}: {exc}") from None
    written = 0
    try:
        conn_info = writer.add_connection(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=store)
        conn_cam = writer.add_connection(CAMERA_TOPIC, "sensor_msgs/msg/Image", typestore=store)
        for stamp, bgr in tqdm(frames, total=frames.frames, unit="frame", desc="bag-from-video",
                               disable=not progress):
            writer.write(conn_info, stamp, camera_info_cdr(store, stamp, *bgr.shape[:2]))
            writer.write(conn_cam, stamp, image_cdr(store, stamp, bgr))
            written += 1
    finally:
        writer.close()
    return {"bag": str(out), "frames": written, "fps": frames.fps, "size": [frames.height, frames.width],
            "topics": [CAMERA_TOPIC, INFO_TOPIC], "source": frames.describe()}

