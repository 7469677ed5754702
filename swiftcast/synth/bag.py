"""A continuous synthetic drive written as a rosbag2 bag (mcap or sqlite3): what ``swiftcast synth-bag`` writes.

Topics, all stamped with the frame time (``header.stamp`` = bag log time, ``frame_id`` = ``camera``), at 17 Hz
(the forecasters' training rate) or ``fps``:

* ``/camera/image_raw`` — ``sensor_msgs/Image`` bgr8 (or, with ``compressed="jpeg"|"png"``,
  ``/camera/image_raw/compressed`` — ``sensor_msgs/CompressedImage``);
* ``/camera/camera_info`` — ``sensor_msgs/CameraInfo`` with the renderer's pinhole intrinsics (no distortion);
* ``/camera/labels`` — ``sensor_msgs/Image`` mono8 trainIds (ground truth, same stamps).

Unlike ``swiftcast synth`` (30-frame snippets), the drive is one world for the whole duration: cruising, braking
to a stop, waiting and pulling off again, through intersections. Deterministic for a seed. The world moves in
seconds, not frames: the same seed and length at another ``fps`` is the same drive sampled at other instants (a
frame at the same time shows the same scene), so the motion per second does not depend on the rate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from swiftcast.errors import SwiftcastError
from swiftcast.synth.sequences import check_size
from swiftcast.synth.world import FPS

#: camera rates ``--fps`` accepts (Hz)
FPS_RANGE: tuple[float, float] = (1.0, 240.0)

CAMERA_TOPIC = "/camera/image_raw"
INFO_TOPIC = "/camera/camera_info"
LABELS_TOPIC = "/camera/labels"
FRAME_ID = "camera"
#: stamp of the first frame: 2025-01-01T00:00:00Z (fixed, so a seed always gives the same bag)
START_NS = 1_735_689_600 * 1_000_000_000
BAG_STREAM = 7  # seed stream of bags, disjoint from the synth splits (1, 2, 3)
JPEG_QUALITY = 90


def _time(store, ns: int):
    return store.types["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def camera_info(store, header, intr) -> object:
    """CameraInfo for an undistorted pinhole camera with intrinsics ``intr`` (OpenCV convention)."""
    k = intr.matrix()
    p = np.zeros((3, 4))
    p[:, :3] = k
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                          do_rectify=False)
    return store.types["sensor_msgs/msg/CameraInfo"](
        header=header, height=intr.height, width=intr.width, distortion_model="plumb_bob", d=np.zeros(5),
        k=k.reshape(9), r=np.eye(3).reshape(9), p=p.reshape(12), binning_x=0, binning_y=0, roi=roi)


def image_msg(store, header, array: np.ndarray, encoding: str) -> object:
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    return store.types["sensor_msgs/msg/Image"](
        header=header, height=h, width=w, encoding=encoding, is_bigendian=0, step=w * channels,
        data=np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def compressed_msg(store, header, bgr: np.ndarray, fmt: str) -> object:
    import cv2

    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]) if fmt == "jpeg" else \
        (".png", [cv2.IMWRITE_PNG_COMPRESSION, 1])
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise SwiftcastError(f"could not encode a frame as {fmt}")
    return store.types["sensor_msgs/msg/CompressedImage"](
        header=header, format=f"bgr8; {fmt} compressed bgr8", data=buf.reshape(-1))


def write_drive_bag(out: Path, seconds: float, seed: int, size: tuple[int, int], storage: str = "mcap",
                    compressed: str | None = None, force: bool = False, progress: bool = True,
                    fps: float = FPS) -> dict:
    """Render a drive of ``seconds`` at ``fps`` frames per second and write it as a bag; returns a summary
    (frames, fps, topics, duration). Frame k shows the world at k / fps seconds."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from tqdm import tqdm

    from swiftcast.rosbag_types import typestore_with_swiftcast_msgs
    from swiftcast.synth.render import Renderer
    from swiftcast.synth.scene import generate_world
    from swiftcast.synth.world import Intrinsics

    if not seconds > 0:
        raise SwiftcastError("--seconds must be positive")
    if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        raise SwiftcastError(f"--fps must be in [{FPS_RANGE[0]:g}, {FPS_RANGE[1]:g}] Hz, got {fps:g}")
    size = check_size(size)
    frames = max(2, int(seconds * fps + 1e-9) + 1)  # frames at 0, 1/fps, ... up to ``seconds``
    out = Path(out)
    if out.exists():
        if not force:
            raise SwiftcastError(f"{out} already exists (remove it, choose another --out, or pass --force)")
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    if not out.parent.exists():
        try:
            out.parent.mkdir(parents=True)
        except OSError as exc:
            raise SwiftcastError(f"cannot create {out.parent}: {exc.strerror or exc}") from None

    store = typestore_with_swiftcast_msgs()
    world_ss, noise_ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, BAG_STREAM]).spawn(2)
    # the world is drawn for the requested length, not the frames: every rate samples the same drive
    world = generate_world(np.random.default_rng(world_ss), float(seconds), drive="drive")
    noise_rng = np.random.default_rng(noise_ss)
    intr = Intrinsics.for_size(*size)
    renderer = Renderer(*size)
    Header = store.types["std_msgs/msg/Header"]
    cam_topic, cam_type = ((CAMERA_TOPIC + "/compressed", "sensor_msgs/msg/CompressedImage") if compressed
                           else (CAMERA_TOPIC, "sensor_msgs/msg/Image"))
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    try:
        writer = Writer(out, version=9, storage_plugin=plugin)
        writer.open()
    except Exception as exc:  # noqa: BLE001 - rosbags/OS errors: the user needs one line
        raise SwiftcastError(f"cannot create bag {out}: {exc}") from None
    try:
        conn_info = writer.add_connection(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=store)
        conn_cam = writer.add_connection(cam_topic, cam_type, typestore=store)
        conn_lab = writer.add_connection(LABELS_TOPIC, "sensor_msgs/msg/Image", typestore=store)
        for k in tqdm(range(frames), unit="frame", desc="synth-bag", disable=not progress):
            t = k / fps
            ns = START_NS + int(round(k * 1e9 / fps))
            rgb, train_ids = world.render(renderer, t, intr)
            bgr = world.postprocess(rgb, t, noise_rng)[:, :, ::-1]
            header = Header(stamp=_time(store, ns), frame_id=FRAME_ID)
            cam = compressed_msg(store, header, bgr, compressed) if compressed else image_msg(store, header, bgr, "bgr8")
            writer.write(conn_info, ns, store.serialize_cdr(camera_info(store, header, intr),
                                                            "sensor_msgs/msg/CameraInfo"))
            writer.write(conn_cam, ns, store.serialize_cdr(cam, cam_type))
            writer.write(conn_lab, ns, store.serialize_cdr(image_msg(store, header, train_ids, "mono8"),
                                                           "sensor_msgs/msg/Image"))
    finally:
        writer.close()
        renderer.release()
    return {"bag": str(out), "frames": frames, "fps": fps, "duration_s": (frames - 1) / fps,
            "topics": {INFO_TOPIC: "sensor_msgs/msg/CameraInfo", cam_topic: cam_type,
                       LABELS_TOPIC: "sensor_msgs/msg/Image"},
            "storage": storage, "size": list(size)}

