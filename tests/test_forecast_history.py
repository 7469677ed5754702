"""The forecast node's time-keyed history: matching by stamp, gaps, other camera rates, resets, bounded memory."""

from __future__ import annotations

import pytest

import numpy as np

from swiftcast.forecast.history import FeatureHistory
from swiftcast.forecast.online import ConsistencyScorer
from swiftcast.forecast.protocol import FRAME_PERIOD_NS, INPUT_OFFSETS

P = FRAME_PERIOD_NS
T0 = 1_700_000_000_000_000_000  # a realistic epoch stamp in ns


def _fill(history: FeatureHistory, stamps: list[int]) -> None:
    for s in stamps:
        history.insert(s, f"frame@{s}")


def test_17hz_stream_matches_exact_frames() -> None:
    h: FeatureHistory[str] = FeatureHistory(P)
    stamps = [T0 + i * P for i in range(12)]
    _fill(h, stamps)
    m = h.match(stamps[-1])
    assert m.ok and m.offsets == INPUT_OFFSETS
    assert m.stamps == (stamps[2], stamps[5], stamps[8], stamps[11])
    assert m.items == tuple(f"frame@{s}" for s in m.stamps)
    assert m.errors_ns == (0, 0, 0, 0)


def test_not_enough_history_gives_no_match() -> None:
    h: FeatureHistory[str] = FeatureHistory(P)
    stamps = [T0 + i * P for i in range(9)]  # t-9P is one frame short
    _fill(h, stamps)
    m = h.match(stamps[-1])
    assert not m.ok and m.missing == (-9,)
    assert m.items[0] is None and m.items[1:] == tuple(f"frame@{s}" for s in (stamps[2], stamps[5], stamps[8]))


def test_30hz_camera_matches_by_time_not_by_count() -> None:
    period_30 = round(1e9 / 30)
    h: FeatureHistory[str] = FeatureHistory(P, tolerance_ns=P // 2)
    stamps = [T0 + i * period_30 for i in range(40)]
    _fill(h, stamps)
    t = stamps[-1]
    m = h.match(t)
    assert m.ok
    for offset, got in zip(m.offsets, m.stamps):
        wanted = t + offset * P
        # the nearest 30 Hz frame: never more than half a 30 Hz period away
        assert abs(got - wanted) <= period_30 // 2 + 1
        assert got == min(stamps, key=lambda s: abs(s - wanted))
    # by count, t-9 frames at 30 Hz is only 300 ms back; by time it is 529 ms back
    assert m.stamps[0] == stamps[-1 - 16]


def test_gap_in_the_stream_gives_no_match_instead_of_a_guess() -> None:
    h: FeatureHistory[str] = FeatureHistory(P, tolerance_ns=P // 4)
    stamps = [T0 + i * P for i in range(12) if i not in (4, 5, 6)]  # frames around t-6P dropped
    _fill(h, stamps)
    t = T0 + 11 * P
    m = h.match(t)
    assert not m.ok and m.missing == (-6,)
    # frames at t-9P and t-3P are still there and still matched exactly
    assert m.stamps[0] == T0 + 2 * P and m.stamps[2] == T0 + 8 * P


def test_tolerance_bounds_how_far_a_match_may_be() -> None:
    h: FeatureHistory[str] = FeatureHistory(P, tolerance_ns=5_000_000)  # 5 ms
    jitter = 4_000_000
    stamps = [T0 + i * P + (jitter if i % 2 else -jitter) for i in range(9)] + [T0 + 9 * P]
    _fill(h, stamps)
    m = h.match(T0 + 9 * P)
    assert m.ok and [abs(e) for e in m.errors_ns] == [jitter, jitter, jitter, 0]  # all within 4 ms
    h2: FeatureHistory[str] = FeatureHistory(P, tolerance_ns=3_000_000)
    _fill(h2, stamps)
    assert not h2.match(T0 + 9 * P).ok


def test_backwards_stamp_resets_history() -> None:
    h: FeatureHistory[str] = FeatureHistory(P)
    _fill(h, [T0 + i * P for i in range(12)])
    assert h.match(T0 + 11 * P).ok
    assert h.insert(T0 + 5 * P, "loop") is True  # bag looped
    assert len(h) == 1 and h.resets == 1
    assert not h.match(T0 + 5 * P).ok
    # and the new timeline fills up again
    for i in range(6, 15):
        assert h.insert(T0 + i * P, "again") is False
    assert h.match(T0 + 14 * P).ok and h.resets == 1


def test_repeated_stamp_replaces_without_reset() -> None:
    h: FeatureHistory[str] = FeatureHistory(P)
    _fill(h, [T0, T0 + P])
    assert h.insert(T0 + P, "resent") is False
    assert len(h) == 2 and h.match(T0 + P).items[-1] == "resent"


def test_memory_is_bounded() -> None:
    h: FeatureHistory[str] = FeatureHistory(P, max_items=64)
    _fill(h, [T0 + i * P for i in range(1000)])
    # only what t-9P (plus tolerance) can still reach is kept
    assert len(h) == 10
    assert h.match(T0 + 999 * P).ok
    # a very fast camera (1 kHz) hits the hard cap instead
    fast: FeatureHistory[str] = FeatureHistory(P, max_items=64)
    _fill(fast, [T0 + i * 1_000_000 for i in range(2000)])
    assert len(fast) == 64


@pytest.mark.parametrize("kwargs", [{"period_ns": 0}, {"tolerance_ns": P}, {"tolerance_ns": -1}, {"max_items": 2}])
def test_bad_settings_are_refused(kwargs: dict) -> None:
    args = {"period_ns": P, **kwargs}
    with pytest.raises(ValueError):
        FeatureHistory(**args)


# --- online consistency scoring (forecast vs the later labels of its target time) -------------------------------
def _labels(value: int, size: tuple[int, int] = (8, 16)) -> "np.ndarray":
    return np.full(size, value, np.uint8)


def test_scorer_waits_for_the_labels_of_the_target_time() -> None:
    scorer = ConsistencyScorer(tolerance_ns=P // 4)
    target = T0 + 3 * P
    assert scorer.add_forecast(target, _labels(13)) == 0
    assert scorer.add_reference(T0 + P, _labels(0)) == 0  # earlier frames do not score it
    assert scorer.summary()["pending"] == 1
    assert scorer.add_reference(target, _labels(13)) == 1
    s = scorer.summary()
    assert s["scored"] == 1 and s["pending"] == 0 and s["miou"] == pytest.approx(1.0)


def test_scorer_picks_the_nearest_label_at_30hz() -> None:
    period_30 = round(1e9 / 30)
    scorer = ConsistencyScorer(tolerance_ns=P // 2)
    target = T0 + 100_000_000
    scorer.add_forecast(target, _labels(13))
    # frames at 30 Hz around the target: 90 ms (10 ms off, class 13) and 123 ms (23 ms off, class 0)
    scorer.add_reference(T0 + 90_000_000, _labels(13))
    assert scorer.add_reference(T0 + 90_000_000 + period_30, _labels(0)) == 1
    assert scorer.summary()["miou"] == pytest.approx(1.0)


def test_scorer_counts_unmatched_and_partial_agreement() -> None:
    scorer = ConsistencyScorer(tolerance_ns=5_000_000)
    scorer.add_forecast(T0 + 3 * P, _labels(13))
    assert scorer.add_reference(T0 + 3 * P + 20_000_000, _labels(13)) == 0  # dropped frame at the target time
    assert scorer.summary()["unmatched"] == 1 and scorer.summary()["miou"] is None
    half = _labels(13)
    half[:, :8] = 0
    scorer.add_forecast(T0 + 6 * P, _labels(13))
    scorer.add_reference(T0 + 6 * P, half)
    s = scorer.summary()
    assert s["scored"] == 1 and s["miou"] == pytest.approx((0.0 + 0.5) / 2)  # road IoU 0, car IoU 1/2


def test_scorer_resolves_late_forecasts_and_resets_on_backwards_stamps() -> None:
    scorer = ConsistencyScorer(tolerance_ns=P // 4)
    scorer.add_reference(T0 + 3 * P, _labels(2))
    assert scorer.add_forecast(T0 + 3 * P, _labels(2)) == 1  # labels were already there
    scorer.add_forecast(T0 + 9 * P, _labels(2))
    scorer.add_reference(T0, _labels(2))  # bag looped
    assert scorer.resets == 1 and scorer.summary()["pending"] == 0 and scorer.summary()["scored"] == 1


def test_scorer_bounds_pending_and_subsamples_large_maps() -> None:
    scorer = ConsistencyScorer(tolerance_ns=P // 4, max_pending=3, max_pixels=1000)
    for i in range(5):
        scorer.add_forecast(T0 + (i + 10) * P, _labels(1, (200, 400)))
    assert scorer.summary()["pending"] == 3 and scorer.expired == 2
    scorer.add_reference(T0 + 14 * P, _labels(1, (100, 200)))  # other size: the forecast is resized to it
    s = scorer.summary()
    assert s["scored"] == 1 and s["unmatched"] == 2 and 0 < scorer.meter.matrix.sum() <= 1000
