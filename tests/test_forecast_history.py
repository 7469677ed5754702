"""The forecast node's time-keyed history: matching by stamp, gaps, other camera rates, resets, bounded memory."""

from __future__ import annotations

import pytest

from swiftcast.forecast.history import FeatureHistory
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
