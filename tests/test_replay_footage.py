"""Videos and image folders as replay input, ``swiftcast bag-from-video``, and every bad input as one line.

The footage is written here with OpenCV (MJPG .avi, mp4v .mp4, PNG folders); the replays go through the live stack
(real processes, real DDS) and the metrics are recomputed from outputs.mcap with numpy.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from replay_bags import read_topic, stamp_of, write_camera_bag
from ros_utils import allocate_domain_id, make_tiny_checkpoint, require_ros

from swiftcast.runtime.footage import START_NS

REPO = Path(__file__).resolve().parents[1]
SIZE = (64, 128)  # H, W


def frame(k: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A BGR frame: road below, a green block growing from the left, sky-ish top (varied labels)."""
    h, w = size
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (180, 130, 70)
    img[h // 2 :] = (128, 64, 128)
    img[h // 4 : h // 2, : 8 * k + 8] = (35, 142, 107)
    return img


def write_video(path: Path, fourcc: str, frames: int, fps: float = 10.0, size: tuple[int, int] = SIZE) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (size[1], size[0]))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc}"
    for k in range(frames):
        writer.write(frame(k, size))
    writer.release()
    return path


def write_folder(folder: Path, frames: int, size: tuple[int, int] = SIZE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(frames):  # names that sort wrongly as plain text: frame_2 must come before frame_10
        cv2.imwrite(str(folder / f"frame_{k * 4}.png"), frame(k, size))
    return folder


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swiftcast.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def assert_one_line_error(res: subprocess.CompletedProcess, command: str, *words: str) -> None:
    assert res.returncode != 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"swiftcast {command}: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "seg", input_size=SIZE)


# --- replay through the live stack ------------------------------------------------------------------------------------


def check_replay(out: Path, frames: int, fps: float, size: tuple[int, int] = SIZE) -> dict:
    """Every frame played at the frame-rate stamps, answered at its own size, confidence recorded, metrics right."""
    metrics = json.loads((out / "metrics.json").read_text())
    mcap = out / "outputs.mcap"
    played = sorted(stamp_of(m) for _, m in read_topic(mcap, "/replay/played"))
    assert played == [START_NS + round(k * 1e9 / fps) for k in range(frames)]
    labels = {stamp_of(m): m for _, m in read_topic(mcap, "/perception/semseg/labels") if stamp_of(m) in played}
    assert labels, "the stack answered no frame"
    assert all((m.height, m.width, m.encoding) == (*size, "mono8") for m in labels.values())
    assert metrics["frames"]["published"] == frames
    assert metrics["frames"]["answered"] == len(labels)
    assert metrics["frames"]["dropped"] == frames - len(labels)
    assert metrics["reference"] == "single_frame" and metrics["miou"] is None
    assert metrics["run"]["bag"]["fps"] == pytest.approx(fps)
    confidence = [m for _, m in read_topic(mcap, "/perception/semseg/confidence") if stamp_of(m) in labels]
    assert confidence and all((m.height, m.width, m.encoding) == (*size, "mono8") for m in confidence)
    assert min(int(np.asarray(m.data).min()) for m in confidence) >= 255 // 19
    page = (out / "report.html").read_text()
    assert "confidence" in page and (out / "figures" / "strips.png").stat().st_size > 0
    return metrics


@pytest.mark.ros
@pytest.mark.parametrize("fourcc,ext", [pytest.param("MJPG", ".avi", marks=pytest.mark.slow), ("mp4v", ".mp4")])
def test_replay_a_video(tmp_path, checkpoint, fourcc, ext):
    require_ros()
    video = write_video(tmp_path / f"drive{ext}", fourcc, frames=8, fps=10.0)
    out = tmp_path / "out"
    res = cli("replay", str(video), "--out", str(out), "--checkpoint", str(checkpoint), "--rate", "auto",
              "--domain-id", str(allocate_domain_id()), "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"drive{ext}: video 128x64, 8 frames" in res.stdout and "single frame (now)" in res.stdout
    metrics = check_replay(out, 8, 10.0)
    # forecasts (if any were made) are scored against the stack's own later labels, as for a bag without labels
    assert "no ground truth" in res.stdout and metrics["run"]["bag"]["storage"] == "video"


@pytest.mark.ros
def test_replay_an_image_folder_in_name_order(tmp_path, checkpoint):
    require_ros()
    folder = write_folder(tmp_path / "shots", frames=6, size=(48, 80))
    out = tmp_path / "out"
    res = cli("replay", str(folder), "--fps", "5", "--out", str(out), "--checkpoint", str(checkpoint),
              "--rate", "auto", "--domain-id", str(allocate_domain_id()), "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    check_replay(out, 6, 5.0, size=(48, 80))
    # name order with numbers compared as numbers: frame k is frame_{4k}.png, its green block 8k + 8 wide
    rows = []
    from swiftcast.replay.frames import inspect_input, open_frames

    for stamp, img in open_frames(inspect_input(folder, fps=5.0)):
        rows.append(int((img[16] == (35, 142, 107)).all(axis=1).sum()))
    assert rows == [8 * k + 8 for k in range(6)]


# --- bag-from-video ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fourcc,ext", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_bag_from_video(tmp_path, fourcc, ext):
    video = write_video(tmp_path / f"clip{ext}", fourcc, frames=5, fps=12.5)
    bag = tmp_path / "bag"
    res = cli("bag-from-video", str(video), str(bag), "--no-progress")
    assert res.returncode == 0, res.stderr
    images = read_topic(bag, "/camera/image_raw")
    infos = read_topic(bag, "/camera/camera_info")
    stamps = [START_NS + round(k * 1e9 / 12.5) for k in range(5)]
    assert [stamp_of(m) for _, m in images] == stamps == [t for t, _ in images]
    assert [stamp_of(m) for _, m in infos] == stamps
    assert all((m.height, m.width) == SIZE for _, m in infos)
    cap = cv2.VideoCapture(str(video))
    for _, m in images:
        ok, expected = cap.read()
        assert ok and (m.encoding, m.height, m.width, m.step) == ("bgr8", *SIZE, SIZE[1] * 3)
        np.testing.assert_array_equal(np.asarray(m.data).reshape(*SIZE, 3), expected)
    assert list(bag.glob("*.mcap"))
    # the bag is a valid replay input that describes the same frames
    from swiftcast.replay.bag import inspect_bag

    info = inspect_bag(bag)
    assert (info.frames, info.height, info.width, info.camera_topic) == (5, *SIZE, "/camera/image_raw")
    # --fps overrides the container's rate
    res = cli("bag-from-video", str(video), str(tmp_path / "bag20"), "--fps", "20", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert [stamp_of(m) for _, m in read_topic(tmp_path / "bag20", "/camera/image_raw")][1] == START_NS + 50_000_000


# --- bad input: one line, non-zero exit, no traceback ------------------------------------------------------------------


def _zero_rate_avi(path: Path) -> Path:
    """An MJPG AVI whose header gives a rate of one frame per million seconds (no usable frame rate)."""
    data = bytearray(write_video(path, "MJPG", frames=3).read_bytes())
    i = data.find(b"strh")
    struct.pack_into("<II", data, i + 8 + 20, 1_000_000, 1)  # dwScale, dwRate: fps = rate / scale
    struct.pack_into("<I", data, data.find(b"avih") + 8, 0)  # dwMicroSecPerFrame
    path.write_bytes(bytes(data))
    return path


def _empty_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (SIZE[1], SIZE[0]))
    writer.release()
    if not path.exists():
        path.write_bytes(b"")
    return path


def bad_inputs(tmp: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """case -> (arguments after the command, words the one line must contain)."""
    garbage = tmp / "notes.mp4"
    garbage.write_bytes(b"this is not a video" * 20)
    mixed = write_folder(tmp / "mixed", frames=2)
    cv2.imwrite(str(mixed / "frame_9.png"), frame(0, (32, 48)))
    empty = tmp / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    folder = write_folder(tmp / "ok_folder", frames=2)
    bag = tmp / "bag"
    write_camera_bag(bag, frames=3, size=(32, 48))
    return {
        "missing": ([str(tmp / "nope.mp4")], ("not found", "nope.mp4")),
        "unreadable": ([str(garbage)], ("not a video", "notes.mp4")),
        "empty video": ([str(_empty_video(tmp / "empty.mp4"))], ("empty.mp4",)),
        "zero frame rate": ([str(_zero_rate_avi(tmp / "slow.avi"))], ("frame rate", "--fps")),
        "bad --fps": ([str(folder), "--fps", "0"], ("--fps",)),
        "folder without --fps": ([str(folder)], ("--fps",)),
        "mixed sizes": ([str(mixed), "--fps", "10"], ("differ in size", "frame_9.png", "48x32", "128x64")),
        "no images": ([str(empty), "--fps", "10"], ("no images",)),
        "--fps on a bag": ([str(bag), "--fps", "10"], ("--fps", "bag")),
    }


def test_replay_bad_footage_is_one_line(tmp_path):
    for case, (args, words) in bad_inputs(tmp_path).items():
        res = cli("replay", *args, "--out", str(tmp_path / "out"), "--no-progress", timeout=120)
        try:
            assert_one_line_error(res, "replay", *words)
        except AssertionError as exc:
            raise AssertionError(f"{case}: {exc}") from None
        assert not (tmp_path / "out" / "outputs.mcap").exists()


def test_bag_from_video_bad_input_is_one_line(tmp_path):
    cases = bad_inputs(tmp_path)
    for case in ("unreadable", "empty video", "zero frame rate", "mixed sizes"):
        args, words = cases[case]
        res = cli("bag-from-video", *args, str(tmp_path / f"bag_{case.replace(' ', '_')}"), "--no-progress")
        assert_one_line_error(res, "bag-from-video", *words)
    video = write_video(tmp_path / "v.avi", "MJPG", 2)
    (tmp_path / "exists").mkdir()
    assert_one_line_error(cli("bag-from-video", str(video), str(tmp_path / "exists")), "bag-from-video",
                          "already exists")


def test_help_lists_the_new_commands():
    res = cli("--help")
    assert res.returncode == 0
    for name in ("replay", "segment", "bag-from-video"):
        assert f"\n  {name} " in res.stdout
