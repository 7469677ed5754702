"""Flow extrapolation: zero motion is copy-last, steady motion is carried on, any frame spacing works."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swiftcast.forecast.motion import FlowExtrapolation, FrameMotion, chain_flow, warp_labels

NS = 1_000_000_000


def _texture(height: int = 96, width: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (height // 4, width // 4), dtype=np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def _shifted(image: np.ndarray, dx: int) -> np.ndarray:
    return np.roll(image, dx, axis=1)


def _labels(height: int = 96, width: int = 160) -> np.ndarray:
    labels = np.zeros((height, width), np.uint8)
    labels[30:70, 60:90] = 13  # a car
    return labels


def test_zero_motion_reproduces_the_newest_labels_exactly() -> None:
    image, labels = _texture(), _labels()
    flow = FlowExtrapolation()
    motion = flow.motion(image, image, span=3)
    for horizon in (3, 9):
        assert np.array_equal(flow.forecast(labels, motion, horizon), labels)


def test_steady_motion_is_carried_on_to_the_horizon() -> None:
    """The scene moves 4 px to the right every 3 frames: +3 frames moves the car 4 px, +9 frames 12 px."""
    base, labels = _texture(), _labels()
    flow = FlowExtrapolation("medium")
    motion = flow.motion(_shifted(base, 4), base, span=3)  # newest frame is the shifted one
    now = _shifted(labels, 4)
    for horizon, dx in ((3, 8), (9, 16)):
        ahead = flow.forecast(now, motion, horizon)
        expected = _shifted(labels, dx)
        car, hit = expected == 13, ahead == 13
        assert (car & hit).sum() / (car | hit).sum() > 0.8, horizon


def test_chained_constant_flow_is_a_multiple_of_it() -> None:
    flow = np.zeros((8, 8, 2), np.float32)
    flow[..., 0] = -0.5
    np.testing.assert_allclose(chain_flow(flow, 2.5)[2:6, 2:6, 0], -1.25, atol=1e-5)
    with pytest.raises(ValueError):
        chain_flow(flow, 100.0)


def test_horizons_of_one_motion_share_their_whole_steps() -> None:
    """The mid horizon continues the short one's chain instead of redoing it, with the same result."""
    rng = np.random.default_rng(1)
    flow = cv2.GaussianBlur(rng.normal(0, 3, (32, 48, 2)).astype(np.float32), (0, 0), 3)
    shared: list[np.ndarray] = []
    short = chain_flow(flow, 1.0, shared)
    assert len(shared) == 1
    mid = chain_flow(flow, 3.2, shared)
    assert len(shared) == 3 and shared[0] is short  # the first step was not computed again
    assert np.array_equal(mid, chain_flow(flow, 3.2))  # bit for bit what a chain of its own gives
    assert np.array_equal(short, chain_flow(flow, 1.0))
    with pytest.raises(ValueError):
        shared[1][0, 0, 0] = 0.0  # the shared steps are read-only


def test_displacement_of_another_resolution_is_rescaled() -> None:
    labels = _labels(96, 160)
    half = np.zeros((48, 80, 2), np.float32)
    half[..., 0] = -5.0  # 5 px at half resolution = 10 px
    moved = warp_labels(labels, half)
    assert np.array_equal(moved[:, 70:100], labels[:, 60:90])


def test_frames_at_any_rate_pick_the_past_frame_nearest_to_the_span() -> None:
    period = NS // 10  # a 10 Hz camera; the forecasters' 3P at 17 Hz is 176 ms
    motion = FrameMotion(span_ns=176_470_588)
    base = _texture()
    for k in range(5):
        motion.add_frame(k * period, _shifted(base, 2 * k))
    assert motion.past_stamp(4 * period) == 2 * period  # 200 ms back, the nearest to 176 ms
    m = motion.motion(4 * period)
    assert m is not None and m.span == 2 * period
    assert motion.motion(0) is None  # nothing before the first frame
    assert motion.motion(123) is None  # no frame with that stamp


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="preset"):
        FlowExtrapolation("slow")
    with pytest.raises(ValueError, match="span"):
        FrameMotion(0)
