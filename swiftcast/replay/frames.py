"""What a replay plays: a rosbag2 bag, a video file or a folder of images, behind one frame-source interface.

:func:`inspect_input` validates any of them up front (one-line DataError) and describes it as a
:class:`~swiftcast.replay.bag.BagInfo`; :func:`open_frames` gives its frames back as (stamp, BGR image), which is
how the report draws camera tiles and how ``bag-from-video`` and the player read footage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from swiftcast.errors import DataError
from swiftcast.replay.bag import DEFAULT_CAMERA_TOPIC, IMAGE, BagInfo, inspect_bag, read_camera_frames
from swiftcast.runtime.footage import FrameSource, check_user_fps, looks_like_bag, open_footage


class BagFrames(FrameSource):
    """The camera topic of a bag (stamps are the messages' header stamps)."""

    kind = "bag"

    def __init__(self, info: BagInfo) -> None:
        self.info = info
        self.path, self.frames, self.height, self.width = info.path, info.frames, info.height, info.width
        self.fps = info.rate_hz or 0.0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return read_camera_frames(self.info)

    def frames_at(self, stamps: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        return read_camera_frames(self.info, stamps)

    def describe(self) -> str:
        return self.info.describe()


def footage_info(source: FrameSource) -> BagInfo:
    """A video or image folder described like a bag: bgr8 frames on /camera/image_raw, no ground truth."""
    return BagInfo(
        path=source.path, storage=source.kind, camera_topic=DEFAULT_CAMERA_TOPIC, camera_type=IMAGE,
        encoding="bgr8", height=source.height, width=source.width, frames=source.frames,
        duration_s=source.duration_s, labels_topic=None, label_frames=0, fps=source.fps,
    )


def inspect_input(path: str | Path, topic: str | None = None, labels_topic: str | None = None,
                  fps: float | None = None) -> BagInfo:
    """Validate a bag, a video or an image folder; DataError (one line) for anything unusable."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p} not found (give a bag, a video file or a folder of images)")
    if looks_like_bag(p):
        if fps is not None:
            raise DataError("--fps is for videos and image folders; a bag's frames keep their own stamps")
        return inspect_bag(p, topic, labels_topic)
    if topic or labels_topic:
        raise DataError(f"--topic and --labels-topic are for bags; {p} is " + ("a folder" if p.is_dir() else "a file"))
    check_user_fps(fps)
    return footage_info(open_footage(p, fps))


def open_frames(info: BagInfo) -> FrameSource:
    """The frames of an input that :func:`inspect_input` accepted."""
    if info.is_footage:
        return open_footage(info.path, info.fps)
    return BagFrames(info)
