"""Confusion matrix / IoU / mIoU / mIoU-MO on hand-computable predictions, and agreement with cityscapesScripts."""

from __future__ import annotations

import json

import cv2
import numpy as np
import torch
import pytest
from conftest import assert_per_class_matches_cityscapes_scripts, cityscapes_scripts_evaluate

from swiftcast.data.labels import CLASS_NAMES, IGNORE_ID, NUM_CLASSES, train_ids_to_label_ids
from swiftcast.metrics import ConfusionMeter, confusion_matrix, format_table, iou_per_class, summarize

ROAD, SIDEWALK, PERSON, CAR = 0, 1, 11, 13

# ground truth / prediction (trainIds), one ignored pixel
GT = np.array([[ROAD, ROAD, PERSON, PERSON], [PERSON, CAR, IGNORE_ID, ROAD]], dtype=np.uint8)
PRED = np.array([[ROAD, PERSON, PERSON, PERSON], [PERSON, ROAD, CAR, SIDEWALK]], dtype=np.uint8)


def test_confusion_matrix_by_hand() -> None:
    cm = confusion_matrix(PRED, GT)
    assert cm.shape == (NUM_CLASSES, NUM_CLASSES) and cm.dtype == np.int64
    expected = {(ROAD, ROAD): 1, (ROAD, PERSON): 1, (ROAD, SIDEWALK): 1, (PERSON, PERSON): 3, (CAR, ROAD): 1}
    for (g, p), n in expected.items():
        assert cm[g, p] == n
    assert cm.sum() == 7  # the ignored pixel (predicted CAR) is not counted anywhere


def test_iou_means_by_hand() -> None:
    m = summarize(confusion_matrix(PRED, GT))
    pc = m["per_class"]
    # road: tp 1, fn 2 (->person, ->sidewalk), fp 1 (car->road) => 1/4
    assert pc["road"] == pytest.approx(1 / 4)
    # person: tp 3, fn 0, fp 1 => 3/4; car: tp 0, fn 1, fp 0 (ignored pixel) => 0
    assert pc["person"] == pytest.approx(3 / 4)
    assert pc["car"] == 0.0
    # sidewalk is absent from the ground truth but predicted once: IoU 0, not NaN (as cityscapesScripts)
    assert pc["sidewalk"] == 0.0
    # classes neither in the ground truth nor predicted are unscored (null) and left out of the means
    assert pc["building"] is None and pc["bicycle"] is None
    assert m["miou"] == pytest.approx((1 / 4 + 3 / 4 + 0 + 0) / 4)
    assert m["miou_mo"] == pytest.approx((3 / 4 + 0) / 2)
    assert m["pixel_accuracy"] == pytest.approx(4 / 7)
    json.dumps(m, allow_nan=False)  # strict JSON: NaN is written as null
    table = format_table(m)
    assert "person" in table and "mIoU-MO" in table and "n/a" in table


def test_meter_accumulates_and_checks_ids() -> None:
    meter = ConfusionMeter()
    meter.update(PRED, GT)
    meter.update(GT, GT)  # a perfect second image
    assert np.array_equal(meter.matrix, confusion_matrix(PRED, GT) + confusion_matrix(GT, GT))
    assert np.isnan(iou_per_class(np.zeros((3, 3)))).all()
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 1]), np.array([0, 40]))
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 1]), np.array([0]))


def test_uint8_maps_count_as_the_general_path() -> None:
    """Label maps (uint8) take a one-bincount path: same counts, same errors, predictions under ignore free."""
    rng = np.random.default_rng(3)
    gt = rng.integers(0, NUM_CLASSES, (37, 53)).astype(np.uint8)
    gt[rng.random(gt.shape) < 0.1] = IGNORE_ID
    pred = rng.integers(0, NUM_CLASSES, gt.shape).astype(np.uint8)
    pred[gt == IGNORE_ID] = 200  # anything goes where the ground truth is ignored
    fast = confusion_matrix(pred, gt)
    assert fast.dtype == np.int64
    assert np.array_equal(fast, confusion_matrix(pred.astype(np.int64), gt.astype(np.int64)))
    assert np.array_equal(fast, confusion_matrix(torch.from_numpy(pred), torch.from_numpy(gt)))
    bad_pred, bad_gt = pred.copy(), gt.copy()
    bad_pred[0, 0], bad_gt[0, 0] = NUM_CLASSES, 0
    with pytest.raises(ValueError, match="prediction"):
        confusion_matrix(bad_pred, bad_gt)
    bad_gt[0, 0] = NUM_CLASSES + 3
    with pytest.raises(ValueError, match="ground truth"):
        confusion_matrix(pred, bad_gt)
    with pytest.raises(ValueError, match="pixels"):
        confusion_matrix(pred[:-1], gt)


def test_equals_cityscapes_scripts_on_png_files(tmp_path) -> None:
    """Random predictions vs random ground truth with void pixels, written as labelIds PNGs."""
    rng = np.random.default_rng(0)
    preds, gts, meter = [], [], ConfusionMeter()
    for i in range(3):
        gt = rng.integers(0, NUM_CLASSES, (24, 40)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.2] = IGNORE_ID
        gt[gt == 7] = 3  # class 7 never in the ground truth...
        pred = rng.integers(0, NUM_CLASSES, gt.shape).astype(np.uint8)
        pred[pred == 18] = 17  # ...and class 18 never anywhere (both prediction and ground truth)
        gt[gt == 18] = 17
        meter.update(pred, gt)
        preds.append(tmp_path / f"c_000000_{i:06d}_pred_labelIds.png")
        gts.append(tmp_path / f"c_000000_{i:06d}_gtFine_labelIds.png")
        cv2.imwrite(str(preds[-1]), train_ids_to_label_ids(pred))
        cv2.imwrite(str(gts[-1]), train_ids_to_label_ids(gt))
    ours = meter.summary()
    ref = cityscapes_scripts_evaluate(preds, gts)
    assert_per_class_matches_cityscapes_scripts(ours, ref, tol=1e-9)
    assert ours["per_class"][CLASS_NAMES[18]] is None  # NaN in both: excluded from the mean
    assert ours["per_class"][CLASS_NAMES[7]] == 0.0  # predicted but absent: 0 in both
    assert ours["miou"] == pytest.approx(ref["averageScoreClasses"], abs=1e-9)
