"""Camera footage that is not a bag: video files and folders of images, read as (stamp, BGR frame) with OpenCV.

Users usually have dashcam or robot videos before they have bags. A video is anything the installed
OpenCV/FFmpeg reads (mp4, avi, mkv, mov, ...); its frames are stamped from the container's frame rate (or
``fps``). A folder holds images of one size, played in name order (numbers in names compare as numbers, so
``frame2`` comes before ``frame10``) at ``fps``, which a folder cannot tell. Stamps start at a fixed instant,
so the same footage always gives the same stamps. Every problem is a one-line :class:`~swiftcast.errors.DataError`
raised when the footage is opened, before anything starts.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from swiftcast.errors import DataError

#: file endings read as images (anything else in a folder is ignored)
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
#: stamp of the first frame of footage: 2025-01-01T00:00:00Z, like ``swiftcast synth-bag``
START_NS: int = 1_735_689_600 * 1_000_000_000
#: frame rates outside this range are what a container says when it does not know its rate
FPS_RANGE: tuple[float, float] = (0.1, 1000.0)

# FFmpeg prints its own complaints about unreadable files to stderr; the DataError says it in one line instead.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def natural_key(name: str) -> list:
    """Sort key comparing digit runs as numbers: frame2 < frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, in name order."""
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p)), key=lambda p: natural_key(p.name))


def check_fps(fps: float | None, what: str) -> float:
    """A usable frame rate, or a DataError telling the user to pass ``--fps``."""
    if fps is None or not math.isfinite(fps) or not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        got = "none" if fps is None else f"{fps:g}"
        raise DataError(f"{what} has no usable frame rate (got {got} fps); pass --fps")
    return float(fps)


def check_user_fps(fps: float | None) -> float | None:
    """``--fps`` as given: None, or a rate in :data:`FPS_RANGE` (DataError otherwise)."""
    if fps is None:
        return None
    if not math.isfinite(fps) or not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        raise DataError(f"--fps must be between {FPS_RANGE[0]:g} and {FPS_RANGE[1]:g}, got {fps:g}")
    return float(fps)


def read_image(path: Path) -> np.ndarray:
    """An image file as a BGR uint8 (H, W, 3) array; DataError if OpenCV cannot read it."""
    data = np.fromfile(str(path), np.uint8) if path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise DataError(f"cannot read image {path} (not an image OpenCV can decode)")
    return image


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file as :func:`read_image` returns it, from its header when possible."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)  # OpenCV applies the EXIF rotation when decoding
        return (w, h) if orientation in (5, 6, 7, 8) else (h, w)
    except Exception:  # noqa: BLE001 - a format PIL does not know: decode it
        return tuple(read_image(path).shape[:2])  # type: ignore[return-value]


class FrameSource:
    """Frames of a recording: iterate for (stamp ns, BGR uint8 (H, W, 3)) in order."""

    kind: str = ""  # "bag" | "video" | "images"
    path: Path
    fps: float
    frames: int
    height: int
    width: int

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError

    def stamp(self, index: int) -> int:
        """Stamp of frame ``index`` (footage: from the frame rate)."""
        return START_NS + round(index * 1e9 / self.fps)

    @property
    def duration_s(self) -> float:
        return (self.frames - 1) / self.fps if self.frames > 1 else 0.0

    def frames_at(self, stamps: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Only the frames with these stamps (the others are skipped, not decoded where possible)."""
        wanted = set(stamps)
        for stamp, frame in self:
            if stamp in wanted:
                yield stamp, frame

    def describe(self) -> str:
        return f"{self.path.name}: {self.kind} {self.width}x{self.height}, {self.frames} frames at {self.fps:g} fps"


class VideoFrames(FrameSource):
    """A video file read with OpenCV (its FFmpeg backend: whatever containers and codecs that build reads)."""

    kind = "video"

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"video not found: {self.path}")
        fps = check_user_fps(fps)
        cap = self._open()
        try:
            ok, first = cap.read()
            if not ok or first is None:
                raise DataError(f"video {self.path} has no frames")
            self.height, self.width = first.shape[:2]
            self.fps = check_fps(fps if fps is not None else cap.get(cv2.CAP_PROP_FPS), f"video {self.path}")
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if count <= 0:  # some containers do not say: count by reading
                count = 1
                while cap.grab():
                    count += 1
            self.frames = count
            fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
            self.codec = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)).strip("\0 ") if fourcc > 0 else ""
        finally:
            cap.release()

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise DataError(f"{self.path} is not a video OpenCV can read (unknown container or codec, or a damaged file)")
        return cap

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        cap = self._open()
        try:
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    return
                if frame.ndim == 2:
                    frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
                yield self.stamp(index), frame
                index += 1
        finally:
            cap.release()

    def frames_at(self, stamps: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        wanted = set(stamps)
        if not wanted:
            return
        last = max(wanted)
        cap = self._open()
        try:
            index = 0
            while self.stamp(index) <= last:
                stamp = self.stamp(index)
                if stamp in wanted:
                    ok, frame = cap.read()
                    if not ok:
                        return
                    yield stamp, frame
                elif not cap.grab():  # skipped frames are not decoded into an array
                    return
                index += 1
        finally:
            cap.release()

    def describe(self) -> str:
        codec = f", {self.codec}" if self.codec else ""
        return (f"{self.path.name}: video {self.width}x{self.height}, {self.frames} frames, {self.duration_s:.1f} s "
                f"at {self.fps:g} fps{codec}")


class ImageFolderFrames(FrameSource):
    """A folder of same-size images, played in name order at ``fps``."""

    kind = "images"

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"image folder not found: {self.path}")
        self.files = list_images(self.path)
        if not self.files:
            raise DataError(f"{self.path} holds no images ({', '.join(IMAGE_SUFFIXES)}) and is not a bag")
        fps = check_user_fps(fps)
        if fps is None:
            raise DataError(f"a folder of images has no frame rate: pass --fps (e.g. --fps 10) for {self.path}")
        self.fps = fps
        self.height, self.width = read_image(self.files[0]).shape[:2]
        for f in self.files[1:]:
            size = image_size(f)
            if size != (self.height, self.width):
                raise DataError(
                    f"images in {self.path} differ in size: {self.files[0].name} is {self.width}x{self.height}, "
                    f"{f.name} is {size[1]}x{size[0]} (a recording has one frame size)"
                )
        self.frames = len(self.files)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return self.frames_at(None)

    def frames_at(self, stamps: Iterable[int] | None) -> Iterator[tuple[int, np.ndarray]]:
        """Frames in name order (only ``stamps``, if given); a file that stopped being readable is skipped, as an
        undecodable frame of a bag is."""
        wanted = None if stamps is None else set(stamps)
        for index, f in enumerate(self.files):
            if wanted is not None and self.stamp(index) not in wanted:
                continue
            try:
                yield self.stamp(index), read_image(f)
            except DataError:
                continue

    def describe(self) -> str:
        return (f"{self.path.name}/: {self.frames} images {self.width}x{self.height}, {self.duration_s:.1f} s "
                f"at {self.fps:g} fps")


def looks_like_bag(path: Path) -> bool:
    """A rosbag2 bag: a folder with metadata.yaml or .mcap/.db3 files, or one such file."""
    if path.is_dir():
        return (path / "metadata.yaml").is_file() or any(path.glob("*.mcap")) or any(path.glob("*.db3"))
    return path.suffix.lower() in (".mcap", ".db3")


def open_footage(path: str | os.PathLike[str], fps: float | None = None) -> FrameSource:
    """A video file or a folder of images (DataError if it is neither or cannot be read)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"not found: {p}")
    return ImageFolderFrames(p, fps) if p.is_dir() else VideoFrames(p, fps)
