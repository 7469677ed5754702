"""The fast training paths: bf16 chosen from the CPU's features, the decoded uint8 cache, photometric augmentation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from swiftcast import hardware
from swiftcast.cli import main as cli
from swiftcast.data.cityscapes import CityscapesDataset
from swiftcast.data.transforms import PhotometricAugment, resize_label, resize_rgb
from swiftcast.errors import SwiftcastError
from swiftcast.train.losses import ohem_cross_entropy


@pytest.mark.parametrize("features, expected", [
    (["avx2", "fma"], "fp32"),
    (["avx2", "avx512f", "avx512_vnni"], "fp32"),
    (["avx2", "avx512f", "avx512_bf16"], "bf16"),
    (["avx2", "avx512f", "amx_bf16", "amx_int8"], "bf16"),
])
def test_auto_precision_follows_the_cpu(monkeypatch, features, expected):
    monkeypatch.setattr(hardware, "cpu_description", lambda: {"model": "Some CPU", "features": features})
    assert hardware.resolve_precision("auto", torch.device("cpu")) == expected
    assert hardware.resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert hardware.resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(SwiftcastError, match="unknown precision"):
        hardware.resolve_precision("fp16", torch.device("cpu"))


def test_cpu_description_names_the_model():
    description = hardware.cpu_description()
    assert description["model"] and isinstance(description["features"], list)


def test_decoded_cache_holds_the_resized_frames(tiny_cityscapes, tmp_path):
    dataset = CityscapesDataset(tiny_cityscapes, "train")
    expected = [dataset.load(i) for i in range(len(dataset))]
    dataset.use_cache((32, 64), root=tmp_path, progress=False)
    for i, (rgb, label) in enumerate(expected):
        cached_rgb, cached_label = dataset.load(i)
        assert np.array_equal(cached_rgb, resize_rgb(rgb, (32, 64)))
        assert np.array_equal(cached_label, resize_label(label, (32, 64)))
    made = list((tmp_path / "train").iterdir())
    again = CityscapesDataset(tiny_cityscapes, "train")
    again.use_cache((32, 64), root=tmp_path, progress=False)  # opened, not made again
    assert list((tmp_path / "train").iterdir()) == made and again.cache.folder == made[0]


def test_photometric_augmentation_is_seeded_and_keeps_the_shape():
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    aug = PhotometricAugment()
    a, b = aug(rgb, np.random.default_rng(5)), aug(rgb, np.random.default_rng(5))
    assert a.shape == rgb.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert any(not np.array_equal(aug(rgb, np.random.default_rng(s)), rgb) for s in range(4))


def test_bf16_training_with_cache_and_strong_augmentation(tiny_cityscapes, tmp_path):
    out = tmp_path / "ckpt"
    code = cli(["train", "--data", str(tiny_cityscapes), "--model", "swiftnet_efflite0", "--out", str(out),
                "--iters", "2", "--batch-size", "2", "--size", "64x128", "--crop", "64x64", "--workers", "0",
                "--threads", "2", "--save-every", "0", "--precision", "bf16", "--augment", "strong", "--loss", "ohem"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["precision"] == "bf16" and config["training"]["augment"] == "strong"
    assert config["training"]["loss"].startswith("OHEM")
    assert config["training"]["hardware"]["cpu"] and "cpu_features" in config["training"]["hardware"]
    assert config["normalization"] == {"mean": [127.0] * 3, "std": [128.0] * 3}
    assert any(Path(os.environ["SWIFTCAST_CACHE"], "train").iterdir())


def test_ohem_averages_over_the_hard_pixels_only():
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 0] = 10.0  # class 0 is predicted everywhere with p ~ 1
    labels = torch.tensor([[[0, 0], [1, 255]]])  # two easy pixels, one hard, one ignored
    hard = torch.nn.functional.cross_entropy(logits[..., 1:, :1], labels[..., 1:, :1])
    assert torch.isclose(ohem_cross_entropy(logits, labels, 255, min_kept_fraction=0.1), hard)
    # an easy batch still trains on its hardest pixels
    easy = torch.tensor([[[0, 0], [0, 255]]])
    assert ohem_cross_entropy(logits, easy, 255, min_kept_fraction=0.5) > 0
    assert ohem_cross_entropy(logits, torch.full((1, 2, 2), 255), 255) == 0
