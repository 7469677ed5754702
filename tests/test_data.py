"""Dataset reader (plain and sequence layouts, trainIds / labelIds ground truth), transforms and normalisation."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from swiftcast.data.cityscapes import CityscapesDataset, collate, enumerate_sequences, select_frames
from swiftcast.data.labels import IGNORE_ID
from swiftcast.data.transforms import (
    CITYSCAPES_MEAN,
    CITYSCAPES_STD,
    EvalTransform,
    TrainTransform,
    normalize_rgb,
    parse_size,
    resize_label,
)
from swiftcast.errors import DataError


def test_normalize_rgb() -> None:
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[0, 0] = (255, 0, 10)
    x = normalize_rgb(rgb)
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32
    expected = [(v - m) / s for v, m, s in zip((255, 0, 10), CITYSCAPES_MEAN, CITYSCAPES_STD)]
    assert torch.allclose(x[:, 0, 0], torch.tensor(expected), atol=1e-5)
    mean_px = np.broadcast_to(np.array([73, 83, 72], np.uint8), (2, 2, 3)).copy()
    assert normalize_rgb(mean_px).abs().max() < 0.01
    assert torch.equal(normalize_rgb(rgb, mean=(0, 0, 0), std=(1, 1, 1))[:, 0, 0], torch.tensor([255.0, 0, 10]))
    with pytest.raises(DataError):
        normalize_rgb(np.zeros((4, 4), np.uint8))


def test_parse_size() -> None:
    assert parse_size("512x1024") == (512, 1024)
    for bad in ("512", "ax3", "0x4"):
        with pytest.raises(DataError):
            parse_size(bad)


def test_train_transform_crop_scale_pad_flip() -> None:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 19, (32, 64)).astype(np.uint8)
    rgb = rng.integers(0, 256, (32, 64, 3)).astype(np.uint8)
    t = TrainTransform(crop=(24, 40), size=(32, 64))
    for seed in range(5):
        img, lab = t(rgb, label, np.random.default_rng(seed))
        assert img.shape == (3, 24, 40) and lab.shape == (24, 40) and lab.dtype == torch.int64
        assert set(lab.unique().tolist()) <= set(range(19)) | {IGNORE_ID}
        img2, lab2 = t(rgb, label, np.random.default_rng(seed))  # the seed alone decides the augmentation
        assert torch.equal(img, img2) and torch.equal(lab, lab2)

    # half scale into a full-size crop: 3/4 of the crop is padding (ignore label, mean colour -> ~0)
    small = TrainTransform(crop=(32, 64), size=(32, 64), scale_range=(0.5, 0.5), flip=False)
    img, lab = small(rgb, label, np.random.default_rng(1))
    pad = lab == IGNORE_ID
    assert int(pad.sum()) == 32 * 64 - 16 * 32
    assert img[:, pad].abs().max() < 0.01

    # scale 1, crop = size: the output is the label itself or its mirror image
    flip = TrainTransform(crop=(32, 64), size=(32, 64), scale_range=(1.0, 1.0))
    seen = set()
    for seed in range(8):
        _, lab = flip(rgb, label, np.random.default_rng(seed))
        same, mirrored = np.array_equal(lab.numpy(), label), np.array_equal(lab.numpy(), label[:, ::-1])
        assert same or mirrored
        seen.add(mirrored)
    assert seen == {True, False}


def test_resize_label_is_nearest() -> None:
    label = np.array([[1, 2], [3, IGNORE_ID]], np.uint8)
    up = resize_label(label, (8, 8))
    assert set(np.unique(up)) == {1, 2, 3, IGNORE_ID}
    down = resize_label(np.kron(label, np.ones((4, 4), np.uint8)), (2, 2))
    assert np.array_equal(down, label)


def test_sequence_layout_trainids_and_frames(tiny_cityscapes_factory) -> None:
    root = tiny_cityscapes_factory(frames_per_sequence=4, cities=("alpha",), sequences_per_city=2)
    ds = CityscapesDataset(root, "train")
    assert ds.layout == "leftImg8bit_sequence" and len(ds) == 8 and len(ds.sequences) == 2
    item = ds[0]
    assert item["image"].shape == (3, 64, 128) and item["label"].shape == (64, 128)
    assert ds.frames[0].label_kind == "trainIds"
    assert [f.frame for f in CityscapesDataset(root, "train", frames="every:2").frames] == ["000000", "000002"] * 2
    assert [f.frame for f in CityscapesDataset(root, "train", frames="index:3").frames] == ["000003"] * 2
    for bad in ("every:0", "sometimes", "index:x"):
        with pytest.raises(DataError):
            CityscapesDataset(root, "train", frames=bad)
    # an (index, seed) pair drives the augmentation reproducibly
    aug = CityscapesDataset(root, "train", transform=TrainTransform(crop=(32, 32), size=(64, 128)))
    a, b = aug[(1, 123)], aug[(1, 123)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    batch = collate([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 64, 128) and batch["label"].shape == (2, 64, 128)


def test_label_ids_are_converted_with_the_lut(tiny_cityscapes_factory) -> None:
    both = CityscapesDataset(tiny_cityscapes_factory("both", seed=3), "val")
    only_ids = CityscapesDataset(tiny_cityscapes_factory("ids", seed=3, train_ids=False), "val")
    assert only_ids.frames[0].label_kind == "labelIds"
    for i in range(len(both)):
        _, lab_t = both.load(i)
        _, lab_l = only_ids.load(i)
        assert np.array_equal(lab_t, lab_l)
    assert (lab_t == IGNORE_ID).any()


def test_plain_layout_and_ground_truth_pairing(tiny_cityscapes_factory) -> None:
    plain = CityscapesDataset(tiny_cityscapes_factory("plain", layout="plain", sequences_per_city=2), "train")
    assert plain.layout == "leftImg8bit" and len(plain) == 4
    assert {f.stem for f in plain.frames} == {f"{c}_{s:06d}_000019" for c in ("alpha", "beta") for s in (0, 1)}

    # like real Cityscapes sequences: ground truth only for the 20th frame
    root = tiny_cityscapes_factory("seq", frames_per_sequence=20, cities=("alpha",), gt_frames=lambda p: p == 19)
    ds = CityscapesDataset(root, "train")
    assert [f.frame for f in ds.frames] == ["000019"] and ds.num_without_labels == 19
    assert len(CityscapesDataset(root, "train", require_labels=False)) == 20
    assert CityscapesDataset(root, "train", require_labels=False)[0].get("label") is None
    with pytest.raises(DataError, match="no images with ground truth"):
        CityscapesDataset(root, "train", frames="every:5")


def test_enumerate_sequences_splits_snippets(tiny_cityscapes_factory) -> None:
    root = tiny_cityscapes_factory(frames_per_sequence=6, cities=("alpha",), splits=("val",))
    city = root / "leftImg8bit_sequence" / "val" / "alpha"
    # renumber frames 3..5 -> 100..102: one seq id holding two snippets, as in real Cityscapes val
    for old, new in ((3, 100), (4, 101), (5, 102)):
        os.rename(city / f"alpha_000000_{old:06d}_leftImg8bit.png", city / f"alpha_000000_{new:06d}_leftImg8bit.png")
    seqs = enumerate_sequences(root, "val")
    assert [s.key for s in seqs] == ["alpha_000000_000000", "alpha_000000_000100"]
    assert [f.frame for f in seqs[1].frames] == ["000100", "000101", "000102"]
    assert seqs[0].image_paths[0].name == "alpha_000000_000000_leftImg8bit.png"
    assert [f.frame for f in select_frames(seqs, "index:1")] == ["000001", "000101"]
    assert len(enumerate_sequences(root, "val", sequence_length=2)) == 4


def test_missing_or_empty_folders_are_data_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        CityscapesDataset(tmp_path / "nope", "train")
    with pytest.raises(DataError, match="no images for split"):
        CityscapesDataset(tmp_path, "train")
    (tmp_path / "leftImg8bit" / "train" / "x").mkdir(parents=True)
    with pytest.raises(DataError, match="no \\*_leftImg8bit.png images"):
        CityscapesDataset(tmp_path, "train")


def test_eval_transform_keeps_full_resolution_label(tiny_cityscapes) -> None:
    ds = CityscapesDataset(tiny_cityscapes, "val", transform=EvalTransform((32, 64)))
    item = ds[0]
    assert item["image"].shape == (3, 32, 64) and item["label"].shape == (64, 128)
