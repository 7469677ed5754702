"""Segment photos, folders of images and videos, no ROS needed (``swiftcast segment INPUT... --out DIR``).

The same :class:`~swiftcast.runtime.segmenter.Segmenter` the semseg node calls, with the stack's default checkpoint
(the semseg ``checkpoint`` of launch/params/perception.yaml), so what a user sees here is what the node publishes.

Per image, next to each other in DIR: ``<stem>_labels.png`` (mono8 Cityscapes trainIds at the image's size),
``<stem>_overlay.png`` (class colours over the image) and, with ``--confidence``, ``<stem>_confidence.png``
(255 x the highest class probability: dark = unsure). Per video: ``<stem>_overlay.mp4`` (``.avi`` where this
OpenCV build cannot write mp4) and, with ``--confidence``, ``<stem>_confidence.mp4``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from swiftcast.errors import DataError
from swiftcast.runtime.footage import VideoFrames, is_image_file, list_images, looks_like_bag, read_image

#: (fourcc, file ending) tried in order for output videos
VIDEO_CODECS: tuple[tuple[str, str], ...] = (("mp4v", ".mp4"), ("MJPG", ".avi"))


@dataclass
class Job:
    path: Path
    kind: str  # "image" | "video"
    stem: str
    frames: int = 1
    video: VideoFrames | None = None


def default_checkpoint() -> str:
    """The semseg ``checkpoint`` of the stack's default parameter file (follows it when the default model changes)."""
    import yaml

    from swiftcast.runtime.paths import STACK_PARAMS_FILE, launch_dir

    path = launch_dir() / STACK_PARAMS_FILE
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"cannot read the default parameter file {path} ({exc}); pass --checkpoint") from None
    for key, section in content.items():
        if str(key).rstrip("/").rsplit("/", 1)[-1] == "semseg":
            value = ((section or {}).get("ros__parameters") or {}).get("checkpoint")
            if value:
                return str(value)
    raise DataError(f"{path} names no semseg checkpoint; pass --checkpoint")


def collect(inputs: list[str], fps: float | None) -> list[Job]:
    """What to segment, checked before any model loads (one-line DataError for a bad input)."""
    jobs: list[Job] = []
    for text in inputs:
        path = Path(text)
        if not path.exists():
            raise DataError(f"not found: {path}")
        if path.is_dir():
            if looks_like_bag(path):
                raise DataError(f"{path} is a bag; segment its frames through the stack with 'swiftcast replay'")
            images = list_images(path)
            if not images:
                raise DataError(f"{path} holds no images")
            jobs += [Job(p, "image", p.stem) for p in images]
        elif is_image_file(path):
            jobs.append(Job(path, "image", path.stem))
        else:
            video = VideoFrames(path, fps)  # DataError: not a video, no frames, no frame rate
            jobs.append(Job(path, "video", path.stem, video.frames, video))
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.stem in seen and seen[job.stem] != job.path:
            raise DataError(f"{seen[job.stem]} and {job.path} would write the same outputs ({job.stem}_*); "
                            "rename one or segment them into different --out folders")
        seen[job.stem] = job.path
    return jobs


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise DataError(f"cannot encode {path}")
    buf.tofile(str(path))


def open_video_writer(out_dir: Path, stem: str, fps: float, size: tuple[int, int]) -> tuple[cv2.VideoWriter, Path]:
    """An OpenCV writer for ``<stem>.mp4`` (mp4v), or ``.avi`` (MJPG) where mp4 is not available."""
    h, w = size
    for fourcc, ext in VIDEO_CODECS:
        path = out_dir / f"{stem}{ext}"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
        if writer.isOpened():
            return writer, path
        writer.release()
        path.unlink(missing_ok=True)
    raise DataError(f"this OpenCV build cannot write videos ({', '.join(c for c, _ in VIDEO_CODECS)}) into {out_dir}")


def segment_image(segmenter: Any, job: Job, out_dir: Path, confidence: bool, alpha: float) -> list[Path]:
    from swiftcast.runtime.images import ColorImage, overlay_labels

    bgr = read_image(job.path)
    result = segmenter(ColorImage(bgr, "bgr"), want_features=False, want_confidence=confidence)
    written = [out_dir / f"{job.stem}_labels.png", out_dir / f"{job.stem}_overlay.png"]
    _write_png(written[0], result.labels)
    _write_png(written[1], overlay_labels(bgr, result.labels, alpha))
    if confidence:
        written.append(out_dir / f"{job.stem}_confidence.png")
        _write_png(written[-1], result.confidence)
    return written


def segment_video(segmenter: Any, job: Job, out_dir: Path, confidence: bool, alpha: float, bar: Any) -> list[Path]:
    from swiftcast.runtime.images import ColorImage, overlay_labels

    video = job.video
    assert video is not None
    overlay, overlay_path = open_video_writer(out_dir, f"{job.stem}_overlay", video.fps, (video.height, video.width))
    conf_writer, written = None, [overlay_path]
    if confidence:
        conf_writer, conf_path = open_video_writer(out_dir, f"{job.stem}_confidence", video.fps,
                                                   (video.height, video.width))
        written.append(conf_path)
    try:
        for _, bgr in video:
            if bgr.shape[:2] != (video.height, video.width):  # a size change mid-video: keep the writer's size
                bgr = cv2.resize(bgr, (video.width, video.height), interpolation=cv2.INTER_AREA)
            result = segmenter(ColorImage(bgr, "bgr"), want_features=False, want_confidence=confidence)
            overlay.write(overlay_labels(bgr, result.labels, alpha))
            if conf_writer is not None:
                conf_writer.write(cv2.cvtColor(result.confidence, cv2.COLOR_GRAY2BGR))
            bar.update(1)
    finally:
        overlay.release()
        if conf_writer is not None:
            conf_writer.release()
    return written


def segment_inputs(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    backend: str = "torch",
    precision: str = "fp32",
    size: tuple[int, int] | None = None,
    device: str = "cpu",
    threads: int = 0,
    confidence: bool = False,
    alpha: float = 0.5,
    fps: float | None = None,
    progress: bool = True,
) -> None:
    """Segment image files, image folders and videos into ``out`` (labels and overlays per image, an overlay video
    per video; ``confidence`` adds the confidence maps) with ``checkpoint`` (default: the stack's)."""
    from tqdm import tqdm

    if not 0.0 <= alpha <= 1.0:
        raise DataError(f"--alpha must be between 0 and 1, got {alpha:g}")
    jobs = collect(inputs, fps)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} exists and is not a folder")
    checkpoint = checkpoint or default_checkpoint()

    from swiftcast.runtime.segmenter import Segmenter

    segmenter = Segmenter(checkpoint, device=device, input_size=size, backend=backend,
                          precision=precision, num_threads=threads, log=print)
    out.mkdir(parents=True, exist_ok=True)
    images = sum(1 for j in jobs if j.kind == "image")
    videos = [j for j in jobs if j.kind == "video"]
    total = images + sum(j.frames for j in videos)
    h, w = segmenter.input_size
    print(f"segmenting {images} image(s) and {len(videos)} video(s) with {segmenter.model_id or checkpoint} at "
          f"{h}x{w} ({backend} {precision}) into {out}")
    with tqdm(total=total, unit="frame", desc="segment", disable=not progress) as bar:
        for job in jobs:
            if job.kind == "image":
                segment_image(segmenter, job, out, confidence, alpha)
                bar.update(1)
            else:
                segment_video(segmenter, job, out, confidence, alpha, bar)
    what = "labels, overlays" + (" and confidence" if confidence else "")
    print(f"wrote {what} for {images} image(s) and {len(videos)} video(s) to {out}")
