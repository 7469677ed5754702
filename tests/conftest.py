"""Shared fixtures: a tiny Cityscapes-layout folder written by the test itself (random images and label maps)."""

from __future__ import annotations

import math

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

from swiftcast.data.labels import CLASS_COLORS_RGB, CLASS_NAMES, IGNORE_ID, NUM_CLASSES, train_ids_to_label_ids


def write_tiny_cityscapes(
    root: str | Path,
    layout: str = "sequence",
    splits: tuple[str, ...] = ("train", "val"),
    cities: tuple[str, ...] = ("alpha", "beta"),
    sequences_per_city: int = 1,
    frames_per_sequence: int = 3,
    size: tuple[int, int] = (64, 128),
    seed: int = 0,
    label_ids: bool = True,
    train_ids: bool = True,
    gt_frames: Callable[[int], bool] | None = None,
) -> Path:
    """Write a Cityscapes-layout folder and return its root.

    ``layout``: "sequence" (``leftImg8bit_sequence/``, consecutive frames per sequence) or "plain"
    (``leftImg8bit/``, one frame per sequence id, numbered 000019 like real Cityscapes). Label maps are a coarse grid
    of random classes (some cells void -> ignore), and each image is its label's Cityscapes colour plus noise, so a
    model can actually learn something in a few iterations. ``gt_frames(position)`` chooses which frames of a
    sequence get ground truth (default: all). ``label_ids`` / ``train_ids`` choose which GT files are written.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    h, w = size
    image_dir = "leftImg8bit_sequence" if layout == "sequence" else "leftImg8bit"
    frames = frames_per_sequence if layout == "sequence" else 1
    for split in splits:
        for city in cities:
            (root / image_dir / split / city).mkdir(parents=True, exist_ok=True)
            (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
            for s in range(sequences_per_city):
                grid = rng.integers(0, NUM_CLASSES + 1, size=(4, 8))  # NUM_CLASSES stands for void
                for pos in range(frames):
                    frame = pos if layout == "sequence" else 19
                    stem = f"{city}_{s:06d}_{frame:06d}"
                    cells = np.where(rng.random(grid.shape) < 0.1, rng.integers(0, NUM_CLASSES + 1, grid.shape), grid)
                    train = cv2.resize(cells.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
                    train[train == NUM_CLASSES] = IGNORE_ID
                    colours = np.zeros((256, 3), np.float32)
                    colours[:NUM_CLASSES] = CLASS_COLORS_RGB
                    rgb = colours[train] + rng.normal(0, 20, (h, w, 3))
                    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
                    cv2.imwrite(str(root / image_dir / split / city / f"{stem}_leftImg8bit.png"), rgb[:, :, ::-1])
                    if gt_frames is not None and not gt_frames(pos):
                        continue
                    gt = root / "gtFine" / split / city
                    if train_ids:
                        cv2.imwrite(str(gt / f"{stem}_gtFine_labelTrainIds.png"), train)
                    if label_ids:
                        cv2.imwrite(str(gt / f"{stem}_gtFine_labelIds.png"), train_ids_to_label_ids(train))
    return root


@pytest.fixture
def tiny_cityscapes_factory(tmp_path: Path) -> Callable[..., Path]:
    """``factory(name="data", **options)`` writes a folder under the test's tmp_path (see write_tiny_cityscapes)."""

    def factory(name: str = "data", **options) -> Path:
        return write_tiny_cityscapes(tmp_path / name, **options)

    return factory


@pytest.fixture(scope="session")
def tiny_cityscapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only tiny sequence-layout folder (train + val, 2 cities x 1 sequence x 3 frames, 64x128)."""
    return write_tiny_cityscapes(tmp_path_factory.mktemp("tiny_cityscapes"))


def cityscapes_scripts_evaluate(predictions: list[Path], ground_truths: list[Path]) -> dict:
    """Run cityscapesScripts' own pixel-level evaluator on prediction / gt ``labelIds`` PNG pairs.

    Returns its result dict (``classScores``: name -> IoU with NaN for classes it cannot score,
    ``averageScoreClasses``: their mean over non-NaN classes). Instance-level scores, printing, colours and the
    JSON export are switched off.
    """
    import copy

    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval

    args = copy.copy(cs_eval.args)
    args.evalInstLevelScore = False
    args.evalPixelAccuracy = False
    args.quiet = True
    args.JSONOutput = False
    args.colorized = False
    args.bold = args.nocol = ""
    return cs_eval.evaluateImgLists([str(p) for p in predictions], [str(p) for p in ground_truths], args)


def assert_per_class_matches_cityscapes_scripts(ours: dict, reference: dict, tol: float) -> None:
    """Our per-class IoUs equal cityscapesScripts' ``classScores``: null exactly where it gives NaN (a class with
    TP + FP + FN = 0, absent from the ground truth and never predicted), the same value elsewhere."""
    for name in CLASS_NAMES:
        theirs = reference["classScores"][name]
        if math.isnan(theirs):
            assert ours["per_class"][name] is None, name
        else:
            assert ours["per_class"][name] == pytest.approx(theirs, abs=tol), name


@pytest.fixture(scope="session", autouse=True)
def _private_training_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Decoded training caches of the tests go to a temporary folder, never the user's ~/.cache/swiftcast
    (set in the environment so training subprocesses inherit it)."""
    import os

    os.environ["SWIFTCAST_CACHE"] = str(tmp_path_factory.mktemp("swiftcast-cache"))
