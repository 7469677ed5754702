"""The forecast runtime's time-keyed history: matching by stamp, interpolation for other camera rates, gaps, resets,
bounded memory."""

from __future__ import annotations

import pytest

import numpy as np

from swiftcast.forecast.history import Blend, FeatureHistory
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
    # outside the tolerance a frame is not used as is: the input is interpolated between its neighbours instead
    h2: FeatureHistory[str] = FeatureHistory(P, tolerance_ns=3_000_000)
    _fill(h2, stamps)
    m2 = h2.match(T0 + 9 * P)
    assert m2.ok and m2.interpolated == (True, True, True, False) and m2.errors_ns == (0, 0, 0, 0)
    # ... and with interpolation off (no gap may be bridged) there is no match at all
    h3: FeatureHistory[str] = FeatureHistory(P, tolerance_ns=3_000_000, max_gap_ns=0)
    _fill(h3, stamps)
    assert not h3.match(T0 + 9 * P).ok


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


# --- other camera rates: interpolation between the frames around t-3P, t-6P, t-9P --------------------------------
def _lerp(a: float, b: float, w: float) -> float:
    return a * (1.0 - w) + b * w


def test_10hz_camera_interpolates_with_exact_weights() -> None:
    period_10 = 100_000_000
    h: FeatureHistory[float] = FeatureHistory(P, blend=_lerp)
    stamps = [T0 + i * period_10 for i in range(11)]
    for s in stamps:
        h.insert(s, float(s - T0))  # the item is its own time offset: a linear blend must give the target time
    t = stamps[-1]  # 1000 ms
    m = h.match(t)
    assert m.ok and m.interpolated == (False, True, False, False)
    # t-9P = 470.6 ms: frame 500 ms is 29.41 ms off (within P/2 = 29.41 ms): used as is
    assert m.sources[0] == ((stamps[5], 1.0),) and m.items[0] == 500e6
    # t-6P = 647.06 ms: frames 600 and 700 ms, the newer weighted (647.06 - 600) / 100
    wanted = t - 6 * P
    w = (wanted - stamps[6]) / period_10
    assert w == pytest.approx(0.4705882, abs=1e-6)
    assert m.sources[1] == ((stamps[6], 1.0 - w), (stamps[7], w))
    assert m.items[1] == pytest.approx(wanted - T0) and m.stamps[1] == wanted
    # t-3P = 823.5 ms: frame 800 ms is 23.5 ms off: used as is
    assert m.sources[2] == ((stamps[8], 1.0),) and m.items[2] == 800e6


def test_frame_within_tolerance_is_used_as_is_even_when_neighbours_bracket() -> None:
    h: FeatureHistory[float] = FeatureHistory(P, tolerance_ns=P // 4, blend=_lerp)
    stamps = [T0 + i * P + (P // 5 if i == 5 else 0) for i in range(12)]  # frame 5 is P/5 late
    for s in stamps:
        h.insert(s, float(s - T0))
    m = h.match(T0 + 11 * P)
    assert m.ok and not any(m.interpolated)
    assert m.stamps[1] == stamps[5] and m.items[1] == float(stamps[5] - T0)  # not blended towards frame 4


def test_no_extrapolation_before_the_oldest_frame() -> None:
    period_10 = 100_000_000
    h: FeatureHistory[float] = FeatureHistory(P, blend=_lerp)
    stamps = [T0 + i * period_10 for i in range(5)]  # 0..400 ms: t-9P = -129 ms is older than the oldest frame
    for s in stamps:
        h.insert(s, 0.0)
    m = h.match(stamps[-1])
    assert not m.ok and m.missing == (-9,) and m.items[0] is None
    # nor after the newest: a frame stamped later than anything stored has no input at offset 0
    assert 0 not in h.match(stamps[-1] + 20_000_000).missing  # 20 ms after the newest frame: within tolerance
    assert h.match(stamps[-1] + 40_000_000).missing == (-9, 0)


def test_gap_longer_than_max_gap_is_not_bridged() -> None:
    h: FeatureHistory[float] = FeatureHistory(P, tolerance_ns=P // 4, max_gap_ns=2 * P, blend=_lerp)
    two_missing = [T0 + i * P for i in range(12) if i not in (4, 5)]  # frames 3 and 6 are 3P apart
    for s in two_missing:
        h.insert(s, 0.0)
    assert h.match(T0 + 11 * P).missing == (-6,)  # t-6P = frame 5, inside the 3P gap
    one_missing: FeatureHistory[float] = FeatureHistory(P, tolerance_ns=P // 4, max_gap_ns=2 * P, blend=_lerp)
    for i in range(12):
        if i != 5:
            one_missing.insert(T0 + i * P, float(i))
    m = one_missing.match(T0 + 11 * P)
    assert m.ok and m.interpolated == (False, True, False, False) and m.items[1] == pytest.approx(5.0)


def test_default_blend_records_both_frames() -> None:
    blend: FeatureHistory[str] = FeatureHistory(P, tolerance_ns=0, offsets=(-1, 0))
    _fill(blend, [T0, T0 + 2 * P])
    m = blend.match(T0 + 2 * P)
    assert m.items[0] == Blend(f"frame@{T0}", f"frame@{T0 + 2 * P}", 0.5)


@pytest.mark.parametrize("kwargs", [{"period_ns": 0}, {"tolerance_ns": P}, {"tolerance_ns": -1}, {"max_items": 2},
                                    {"max_gap_ns": -1}])
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
