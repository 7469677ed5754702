"""The forecasting protocol of Šarić et al. (GCPR 2019): frame indices, horizons, training windows, and the evaluator's frame choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from swiftcast.data.cityscapes import Frame
from swiftcast.data.labels import NUM_CLASSES
from swiftcast.errors import SwiftcastError
from swiftcast.eval.forecast import COPY_LAST, ORACLE, copy_last, evaluate_protocol, format_table, gap_closed, oracle
from swiftcast.metrics import confusion_matrix, summarize
from swiftcast.forecast.features import SequenceFeatures
from swiftcast.forecast.protocol import (
    FRAME_PERIOD_NS,
    HORIZONS,
    TARGET_INDEX,
    get_horizon,
    protocol_window,
    sample_windows,
    training_windows,
)


def test_protocol_frames_match_the_seed() -> None:
    # the DeformF2F paper, 1-based: target = 20th frame; short 8,11,14,17; mid 2,5,8,11
    short, mid = protocol_window("short"), protocol_window("mid")
    assert TARGET_INDEX == 19
    assert [i + 1 for i in short.inputs] == [8, 11, 14, 17] and short.target + 1 == 20
    assert [i + 1 for i in mid.inputs] == [2, 5, 8, 11] and mid.target + 1 == 20
    assert short.last == 16 and mid.last == 10  # copy-last copies frame 17 / frame 11


def test_horizons() -> None:
    assert HORIZONS["short"].frames == 3 and HORIZONS["mid"].frames == 9
    # 3 and 9 frames at 17 Hz: the paper's "180 ms" and "540 ms"
    assert round(HORIZONS["short"].milliseconds) == 176 and round(HORIZONS["mid"].milliseconds) == 529
    assert HORIZONS["mid"].duration_ns() == 9 * FRAME_PERIOD_NS
    assert HORIZONS["short"].duration_ns(33_333_333) == 99_999_999
    assert get_horizon(9) is HORIZONS["mid"] and get_horizon("short") is HORIZONS["short"]
    with pytest.raises(SwiftcastError, match="unknown forecasting horizon"):
        get_horizon("long")


@pytest.mark.parametrize("horizon, count", [("short", 18), ("mid", 12)])
def test_training_windows_cover_every_valid_window(horizon: str, count: int) -> None:
    windows = training_windows(30, horizon)
    k = HORIZONS[horizon].frames
    assert len(windows) == count
    assert windows[0].inputs == (0, 3, 6, 9) and windows[-1].target == 29
    for w in windows:
        assert w.target - w.last == k and np.all(np.diff(w.inputs) == 3) and min(w.inputs) >= 0
    assert protocol_window(horizon) in windows


@pytest.mark.parametrize("horizon", ["short", "mid"])
def test_samples_per_sequence(horizon: str) -> None:
    assert sample_windows(30, horizon, None) == training_windows(30, horizon)
    one = sample_windows(30, horizon, 1)
    assert one == [protocol_window(horizon)]
    two = sample_windows(30, horizon, 2)
    assert protocol_window(horizon) in two and len(two) == 2
    assert abs(two[0].target - two[1].target) >= 6  # not a near-duplicate of the protocol window


def _frames(n: int) -> list[Frame]:
    return [Frame("city", "000001", f"{i:06d}", Path(f"/nonexistent/city_000001_{i:06d}_leftImg8bit.png"))
            for i in range(n)]


def test_copy_last_with_a_perfect_model_scores_gt_t_against_gt_target() -> None:
    """With features = one-hot ground truth and an identity decoder (a perfect model), copy-last must score
    exactly GT(t) against GT(target) and the oracle 100 % - so the evaluator picks the paper's frames."""
    rng = np.random.default_rng(0)
    sequences, labels = [], {}
    for s in range(3):
        # a scene that changes every frame: a band of "car" (13) sliding over "road" (0), some ignore pixels
        gts = []
        for i in range(30):
            gt = np.zeros((16, 32), np.uint8)
            gt[4:12, (i + 3 * s) % 32 : (i + 3 * s) % 32 + 6] = 13
            gt[0, : rng.integers(1, 8)] = 255
            gts.append(gt)
        frames = [Frame(f"c{s}", "000001", f"{i:06d}", Path(f"/nonexistent/{s}_{i}.png")) for i in range(30)]
        feats = torch.stack([F.one_hot(torch.from_numpy(g).long().clamp(max=NUM_CLASSES - 1), NUM_CLASSES)
                             .permute(2, 0, 1).half() for g in gts])
        sequences.append(SequenceFeatures(f"c{s}", frames, feats))
        labels.update({f.stem: g for f, g in zip(frames, gts)})

    def decode(features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        assert tuple(features.shape[-2:]) == size
        return features.argmax(1).to(torch.uint8)  # one-hot "features" -> the labels they encode

    methods = {ORACLE: {h: oracle for h in HORIZONS}, COPY_LAST: {h: copy_last for h in HORIZONS}}
    results = evaluate_protocol(sequences, lambda f: labels[f.stem], decode, methods, progress=False)

    assert results[ORACLE]["short"]["miou"] == pytest.approx(1.0)
    for horizon in ("short", "mid"):
        t = protocol_window(horizon).last
        cm = sum(confusion_matrix(labels[s.frames[t].stem], labels[s.frames[TARGET_INDEX].stem]) for s in sequences)
        expected = summarize(cm)
        assert results[COPY_LAST][horizon]["miou"] == pytest.approx(expected["miou"])
        assert results[COPY_LAST][horizon]["miou_mo"] == pytest.approx(expected["miou_mo"])
        assert results[COPY_LAST][horizon]["num_sequences"] == 3
    # the scene moves, so copy-last is worse at mid term than at short term and below the oracle
    assert results[COPY_LAST]["mid"]["miou"] < results[COPY_LAST]["short"]["miou"] < 1.0
    assert gap_closed(results, ORACLE, "short") == pytest.approx(1.0)
    table = format_table(results)
    assert "short mIoU" in table and "mid mIoU-MO" in table and "Copy last" in table
