"""swiftcast.runtime without ROS: camera buffer decoding/validation, feature wire format, overlay, segmenter."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.runtime.features import FeatureError, decode_features, encode_features
from swiftcast.runtime.images import (
    ImageError,
    compressed_image_size,
    decode_compressed,
    decode_raw,
    overlay_labels,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)


def raw(pixels: np.ndarray, pad: int = 0) -> tuple[int, int, int, bytes]:
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1)
    if pad:
        rows = np.concatenate([rows, np.full((h, pad), 99, np.uint8)], axis=1)
    return h, w, rows.shape[1], rows.tobytes()


@pytest.mark.parametrize(
    "encoding, pixels",
    [
        ("rgb8", RGB),
        ("bgr8", RGB[..., ::-1]),
        ("rgba8", np.concatenate([RGB, np.full((6, 10, 1), 7, np.uint8)], -1)),
        ("bgra8", np.concatenate([RGB[..., ::-1], np.full((6, 10, 1), 7, np.uint8)], -1)),
    ],
)
@pytest.mark.parametrize("pad", [0, 5])
def test_colour_encodings_decode_to_the_same_picture(encoding, pixels, pad):
    h, w, step, data = raw(pixels, pad)
    image = decode_raw(encoding, h, w, step, data)
    assert image.shape == (6, 10)
    np.testing.assert_array_equal(image.rgb(), RGB)
    np.testing.assert_array_equal(image.bgr(), RGB[..., ::-1])


def test_mono_is_replicated_and_byte_order_flag_is_irrelevant_for_8_bit():
    grey = RGB[..., 0]
    h, w, step, data = raw(grey)
    for big_endian in (False, True):
        image = decode_raw("mono8", h, w, step, data, is_bigendian=big_endian)
        np.testing.assert_array_equal(image.rgb(), np.repeat(grey[..., None], 3, -1))


@pytest.mark.parametrize(
    "reason, args",
    [
        ("encoding", ("yuv422", 2, 2, 4, bytes(8))),
        ("encoding", ("16UC1", 2, 2, 4, bytes(8))),
        ("encoding", ("32FC1", 2, 2, 8, bytes(16))),
        ("step", ("bgr8", 2, 4, 11, bytes(22))),
        ("data_size", ("bgr8", 2, 4, 12, bytes(23))),
        ("data_size", ("bgr8", 2, 4, 12, bytes(25))),
        ("size", ("bgr8", 0, 4, 12, b"")),
        ("size", ("rgb8", 3, 0, 0, b"")),
        ("too_large", ("bgr8", 100_000, 100_000, 300_000, bytes(10))),  # refused without allocating 30 GB
    ],
)
def test_bad_raw_frames_name_the_problem(reason, args):
    with pytest.raises(ImageError) as err:
        decode_raw(*args)
    assert err.value.reason == reason
    assert str(err.value)


def test_max_pixels_is_configurable():
    h, w, step, data = raw(RGB)
    with pytest.raises(ImageError, match="max_input_pixels=59"):
        decode_raw("rgb8", h, w, step, data, max_pixels=59)
    assert decode_raw("rgb8", h, w, step, data, max_pixels=60).shape == (6, 10)


def _encode(ext: str, pixels: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, pixels, list(params))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    "ext, params", [(".png", ()), (".jpg", ()), (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))]
)
def test_compressed_round_trip_and_header_size(ext, params):
    bgr = np.ascontiguousarray(np.repeat(np.repeat(RGB[..., ::-1], 8, 0), 8, 1))  # 48x80, smooth enough for JPEG
    data = _encode(ext, bgr, *params)
    assert compressed_image_size(data) == (48, 80)
    image = decode_compressed("bgr8; compressed", data)
    assert image.order == "bgr" and image.shape == (48, 80)
    error = np.abs(image.bgr().astype(int) - bgr.astype(int)).mean()
    assert error == 0 if ext == ".png" else error < 15


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def test_bad_compressed_frames_name_the_problem():
    jpeg = _encode(".jpg", np.ascontiguousarray(RGB))
    png = _encode(".png", np.ascontiguousarray(RGB))
    cases = [
        ("size", b""),
        ("format", RNG.bytes(300)),
        ("decode", jpeg[: len(jpeg) // 2]),  # truncated: no end-of-image marker
        ("decode", jpeg[:2] + RNG.bytes(200) + b"\xff\xd9"),  # garbage after the SOI marker
        ("decode", png[: len(png) - 20]),
        ("decode", b"\x89PNG\r\n\x1a\n" + bytes(4)),
        ("too_large", _png_header(100_000, 100_000) + bytes(100)),
    ]
    for reason, data in cases:
        with pytest.raises(ImageError) as err:
            decode_compressed("jpeg", data)
        assert err.value.reason == reason, (reason, str(err.value))


def test_overlay_blends_class_colours_over_the_image():
    from swiftcast.data.labels import colorize_train_ids

    labels = RNG.integers(0, 19, (6, 10), dtype=np.uint8)
    bgr = np.ascontiguousarray(RGB[..., ::-1])
    np.testing.assert_array_equal(overlay_labels(bgr, labels, 0.0), bgr)
    np.testing.assert_array_equal(overlay_labels(bgr, labels, 1.0), colorize_train_ids(labels))
    half = overlay_labels(bgr, labels, 0.5).astype(int)
    assert np.abs(half - (bgr.astype(int) + colorize_train_ids(labels)) / 2).max() <= 1


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_feature_wire_format_round_trip(dtype):
    feats = RNG.normal(size=(128, 2, 4)).astype(dtype)
    name, data = encode_features(feats)
    assert name == dtype and len(data) == feats.nbytes
    np.testing.assert_array_equal(decode_features(128, 2, 4, name, data), feats)


def test_bad_feature_payloads_name_the_problem():
    data = np.zeros((4, 2, 2), np.float16).tobytes()
    nan = np.full((4, 2, 2), np.nan, np.float32).tobytes()
    for reason, args in [
        ("dtype", (4, 2, 2, "float64", data)),
        ("shape", (0, 2, 2, "float16", b"")),
        ("shape", (1 << 12, 1 << 12, 4, "float16", data)),
        ("data_size", (4, 2, 3, "float16", data)),
        ("non_finite", (4, 2, 2, "float32", nan)),
    ]:
        with pytest.raises(FeatureError) as err:
            decode_features(*args)
        assert err.value.reason == reason


# --- segmenter ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from swiftcast.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("swiftnet_rn18", num_classes=19, backbone_weights=None)
    return save_checkpoint(tmp_path_factory.mktemp("seg") / "ckpt", model, {"input_size": [64, 128]})


def test_segmenter_labels_at_camera_size_and_features(checkpoint):
    import torch

    from swiftcast.data.transforms import normalize_rgb, resize_label, resize_rgb
    from swiftcast.models import load_checkpoint
    from swiftcast.runtime.images import ColorImage
    from swiftcast.runtime.segmenter import Segmenter

    seg = Segmenter(checkpoint)
    rgb = RNG.integers(0, 256, (90, 150, 3), dtype=np.uint8)
    out = seg(rgb)
    assert out.labels.shape == (90, 150) and out.labels.dtype == np.uint8
    assert out.features.shape == seg.feature_shape == (128, 2, 4) and out.features.dtype == np.float16
    model, config = load_checkpoint(checkpoint)
    assert seg.model_id == config["model_id"] and seg.input_size == (64, 128)
    with torch.inference_mode():
        logits = model(normalize_rgb(resize_rgb(rgb, (64, 128))).unsqueeze(0))
    np.testing.assert_array_equal(out.labels, resize_label(logits[0].argmax(0).byte().numpy(), (90, 150)))
    bgr_view = seg(ColorImage(np.ascontiguousarray(rgb[..., ::-1]), "bgr"), want_features=False)
    np.testing.assert_array_equal(bgr_view.labels, out.labels)
    assert bgr_view.features is None

    wide = Segmenter(checkpoint, input_size=[96, 160], feature_dtype="float32", warmup=False)
    assert wide(rgb).features.shape == (128, 3, 5) and wide(rgb).features.dtype == np.float32


def test_segmenter_refuses_what_cannot_work(checkpoint, tmp_path):
    from swiftcast.models import build_forecaster, save_checkpoint
    from swiftcast.runtime.segmenter import Segmenter

    with pytest.raises(CheckpointError, match="not found"):
        Segmenter(tmp_path / "nothing")
    forecaster = save_checkpoint(tmp_path / "fc", build_forecaster("copy_last"))
    with pytest.raises(CheckpointError, match="forecaster"):
        Segmenter(forecaster)
    for kwargs, match in [
        ({"backend": "tensorrt"}, "backend"),
        ({"feature_dtype": "int8"}, "feature dtype"),
        ({"input_size": [16, 16]}, "input size"),
        ({"device": "quantum"}, "not a device"),
    ]:
        with pytest.raises(SwiftcastError, match=match):
            Segmenter(checkpoint, **kwargs)


def test_relative_user_paths_are_searched(tmp_path, monkeypatch):
    from swiftcast.runtime.paths import project_root, resolve_user_path

    (tmp_path / "models" / "x").mkdir(parents=True)
    monkeypatch.setenv("SWIFTCAST_HOME", str(tmp_path))
    assert resolve_user_path("models/x") == (tmp_path / "models" / "x").resolve()
    monkeypatch.delenv("SWIFTCAST_HOME")
    monkeypatch.chdir(tmp_path)
    assert resolve_user_path("models/x") == (tmp_path / "models" / "x").resolve()
    assert resolve_user_path("launch/params/perception.yaml") == project_root() / "launch/params/perception.yaml"


def test_records_keep_checkout_paths_relative(tmp_path, monkeypatch):
    """A shipped record names its models and data the same on every machine; a path elsewhere stays whole."""
    from swiftcast.checkout import recorded_path
    from swiftcast.runtime.paths import project_root, resolve_user_path

    monkeypatch.chdir(tmp_path)
    shipped = project_root() / "models" / "swiftnet_efflite0_synth"
    assert recorded_path(shipped) == "models/swiftnet_efflite0_synth"
    assert resolve_user_path(recorded_path(shipped)) == shipped  # and it resolves back from anywhere
    assert recorded_path("mine/../data") == str((tmp_path / "data").resolve())
