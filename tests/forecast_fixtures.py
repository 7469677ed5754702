"""Tiny driving-like sequences for the forecasting tests: objects sliding over a flat two-class background.

Every sequence is 30 frames (the Cityscapes snippet length) at a small size, with ground truth for every frame, so
the protocol of Šarić et al. (target = frame 20) applies unchanged. Objects move at a constant velocity, which gives a
forecaster something learnable and the explanation test a known place to look.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from swiftcast.data.labels import CLASS_COLORS_RGB

ROAD, BUILDING, PERSON, CAR = 0, 2, 11, 13


@dataclass(frozen=True)
class MovingObject:
    train_id: int
    height: int
    width: int
    y: int  # top row (constant)
    x0: float  # left column at frame 0
    vx: float  # columns per frame

    def box(self, frame: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of the object at ``frame`` (bottom/right exclusive)."""
        x = int(round(self.x0 + self.vx * frame))
        return self.y, x, self.y + self.height, x + self.width


def render(objects: list[MovingObject], frame: int, size: tuple[int, int], rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """RGB image and trainId label of one frame."""
    h, w = size
    label = np.full((h, w), ROAD, np.uint8)
    label[: h // 2] = BUILDING
    for obj in objects:
        top, left, bottom, right = obj.box(frame)
        label[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = obj.train_id
    rgb = CLASS_COLORS_RGB[label].astype(np.float32) + rng.normal(0, 6, (h, w, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8), label


def write_moving_objects(
    root: str | Path,
    splits: tuple[str, ...] = ("train", "val"),
    sequences: int = 2,
    frames: int = 30,
    size: tuple[int, int] = (64, 128),
    seed: int = 0,
) -> dict[str, list[MovingObject]]:
    """Write ``leftImg8bit_sequence`` + ``gtFine`` (trainIds) folders; returns the objects of every sequence by
    ``<city>_<seq>`` (positions follow from :meth:`MovingObject.box`)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    h, w = size
    layout: dict[str, list[MovingObject]] = {}
    for split in splits:
        city = f"{split}city"
        img_dir = root / "leftImg8bit_sequence" / split / city
        gt_dir = root / "gtFine" / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        gt_dir.mkdir(parents=True, exist_ok=True)
        for s in range(sequences):
            speed = float(rng.uniform(0.6, 1.0)) * (1 if rng.random() < 0.5 else -1)
            car_x0 = w * 0.2 if speed > 0 else w * 0.6
            objects = [
                MovingObject(CAR, h // 4, w // 8, h // 2, car_x0, speed),
                MovingObject(PERSON, h // 4, w // 16, h // 2 - h // 8, w - car_x0 - w // 16, -speed / 2),
            ]
            seq = f"{s:06d}"
            layout[f"{city}_{seq}"] = objects
            for i in range(frames):
                rgb, label = render(objects, i, size, rng)
                stem = f"{city}_{seq}_{i:06d}"
                cv2.imwrite(str(img_dir / f"{stem}_leftImg8bit.png"), rgb[:, :, ::-1])
                cv2.imwrite(str(gt_dir / f"{stem}_gtFine_labelTrainIds.png"), label)
    return layout


def random_seg_checkpoint(out: str | Path, size: tuple[int, int] = (64, 128), seed: int = 0) -> Path:
    """A randomly initialised SwiftNet-RN18 checkpoint with a forecast decoder (eval-mode BN statistics are the
    defaults)."""
    from swiftcast.forecast.decoder import build_forecast_decoder
    from swiftcast.models import build_model, save_checkpoint

    torch.manual_seed(seed)
    model, decoder = build_model("swiftnet_rn18"), build_forecast_decoder()
    with torch.no_grad():  # random weights give huge logits; smaller ones keep the softmax away from saturation
        decoder.logits.conv.weight.mul_(0.05)
    return save_checkpoint(out, model, {"input_size": list(size)}, decoder=decoder)


def random_forecaster_checkpoint(out: str | Path, seg_dir: str | Path, horizon_frames: int = 3,
                                 method: str = "deform_f2f8", seed: int = 0, perturb: float = 0.0) -> Path:
    """An untrained forecaster checkpoint for ``seg_dir``'s features; ``perturb`` > 0 adds noise to its output conv
    (untrained F2F is exactly copy-last, which would hide bugs that mix up the past frames)."""
    from swiftcast.models import build_forecaster, read_config, save_checkpoint

    torch.manual_seed(seed)
    net = build_forecaster(method)
    if perturb:
        with torch.no_grad():
            for p in net.out.parameters():
                p.add_(torch.randn_like(p) * perturb)
    seg = read_config(seg_dir)
    config = {"method": method, "horizon_frames": horizon_frames, "feature_model_id": seg["model_id"],
              "input_size": seg["input_size"], "training": {"finetune": False}}
    return save_checkpoint(out, net, config)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run the module with one torch thread: on a shared 2-core machine, two spinning OpenMP threads per process
    make small CPU ops ~10x slower. Restored afterwards so other test modules are unaffected."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
