"""``swiftcast segment`` on a photo, a folder and videos, and the Segmenter's confidence on both backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from ros_utils import make_tiny_checkpoint

from swiftcast.runtime.images import ColorImage

REPO = Path(__file__).resolve().parents[1]
MODEL_SIZE = (64, 128)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "seg", input_size=MODEL_SIZE)


def picture(seed: int, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], axis=-1)
    return np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)


def segment(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swiftcast.cli", "segment", *args, "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def test_segment_a_photo_a_folder_and_videos(tmp_path, checkpoint):
    from swiftcast.runtime.segmenter import Segmenter

    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), picture(0, (70, 100)))
    folder = tmp_path / "shots"
    folder.mkdir()
    for k in range(2):
        cv2.imwrite(str(folder / f"shot{k}.png"), picture(k + 1, (48, 80)))
    (folder / "notes.txt").write_text("ignored")
    videos = []
    for fourcc, ext in (("MJPG", ".avi"), ("mp4v", ".mp4")):
        path = tmp_path / f"clip_{fourcc}{ext}"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 8.0, (96, 56))
        for k in range(4):
            writer.write(picture(10 + k, (56, 96)))
        writer.release()
        videos.append(path)
    out = tmp_path / "out"
    res = segment(str(photo), str(folder), *map(str, videos), "--out", str(out), "--checkpoint", str(checkpoint),
                  "--confidence", "--threads", "1")
    assert res.returncode == 0, res.stdout + res.stderr

    segmenter = Segmenter(checkpoint, num_threads=1)
    for image_path, stem in ((photo, "photo"), (folder / "shot0.png", "shot0"), (folder / "shot1.png", "shot1")):
        bgr = cv2.imread(str(image_path))
        expected = segmenter(ColorImage(bgr, "bgr"), want_features=False, want_confidence=True)
        labels = cv2.imread(str(out / f"{stem}_labels.png"), cv2.IMREAD_UNCHANGED)
        assert labels.dtype == np.uint8 and labels.shape == bgr.shape[:2]  # mono8 at the input's size
        np.testing.assert_array_equal(labels, expected.labels)
        conf = cv2.imread(str(out / f"{stem}_confidence.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(conf, expected.confidence)
        assert cv2.imread(str(out / f"{stem}_overlay.png")).shape == bgr.shape
    for video in videos:
        for kind in ("overlay", "confidence"):
            cap = cv2.VideoCapture(str(out / f"{video.stem}_{kind}.mp4"))
            assert cap.isOpened(), f"{video.stem}_{kind}.mp4"
            assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (96, 56)
            assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 4 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(8.0)
    assert not list(out.glob("notes*"))


def test_segment_without_confidence_and_the_default_checkpoint_follows_the_parameter_file(tmp_path, checkpoint):
    import yaml

    from swiftcast.runtime.segment import default_checkpoint

    params = yaml.safe_load((REPO / "launch" / "params" / "perception.yaml").read_text())
    assert default_checkpoint() == params["/**/semseg"]["ros__parameters"]["checkpoint"]
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), picture(3, (40, 60)))
    res = segment(str(photo), "--out", str(tmp_path / "o"), "--checkpoint", str(checkpoint), "--size", "32x64")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["p_labels.png", "p_overlay.png"]
    assert "at 32x64" in res.stdout


@pytest.mark.parametrize("case", ["missing", "not a video", "empty folder", "same stem", "bad size"])
def test_segment_bad_input_is_one_line(tmp_path, checkpoint, case):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cv2.imwrite(str(tmp_path / "a" / "x.png"), picture(0, (32, 32)))
    cv2.imwrite(str(tmp_path / "b" / "x.png"), picture(1, (32, 32)))
    (tmp_path / "notes.mov").write_text("not a video")
    (tmp_path / "empty").mkdir()
    args, word = {
        "missing": ([str(tmp_path / "nope.jpg")], "not found"),
        "not a video": ([str(tmp_path / "notes.mov")], "not a video"),
        "empty folder": ([str(tmp_path / "empty")], "no images"),
        "same stem": ([str(tmp_path / "a"), str(tmp_path / "b")], "same outputs"),
        "bad size": ([str(tmp_path / "a"), "--size", "big"], "HxW"),
    }[case]
    res = segment(*args, "--out", str(tmp_path / "out"), "--checkpoint", str(checkpoint))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("swiftcast segment: error: ") and word in lines[0], res.stderr


def test_confidence_is_the_max_softmax_on_both_backends(tmp_path, checkpoint):
    from swiftcast.models import load_checkpoint
    from swiftcast.data.transforms import normalize_rgb, resize_label, resize_rgb
    from swiftcast.runtime.onnx_export import ExportRequest
    from swiftcast.runtime.segmenter import Segmenter

    rgb = picture(7, (45, 77))
    model, _ = load_checkpoint(checkpoint)
    with torch.inference_mode():
        prob = torch.softmax(model(normalize_rgb(resize_rgb(rgb, MODEL_SIZE)).unsqueeze(0))[0], 0)
    expected = resize_label((prob.amax(0) * 255).round().to(torch.uint8).numpy(), (45, 77))
    eager = Segmenter(checkpoint, num_threads=1)(rgb, want_confidence=True)
    ort = Segmenter(checkpoint, backend="onnxruntime", num_threads=1,
                    export=ExportRequest(cache_dir=tmp_path / "onnx"))(rgb, want_confidence=True)
    for result in (eager, ort):
        assert result.confidence.dtype == np.uint8 and result.confidence.shape == (45, 77)
        assert np.abs(result.confidence.astype(int) - expected.astype(int)).max() <= 1
    assert Segmenter(checkpoint, num_threads=1, warmup=False)(rgb).confidence is None  # only when asked for
