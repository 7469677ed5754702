"""A time-keyed history of feature maps: what the forecast runtime builds the t-9P, t-6P, t-3P inputs from (no ROS).

Forecasters were trained on frames P = 1/17 s apart, so the inputs for a frame stamped t are the features at
t-9P, t-6P and t-3P, whatever the camera rate. For each of those target times the history uses, in this order:

1. the stored frame nearest the target when it lies within ``tolerance_ns`` (used as is; a 17 Hz or 30 Hz camera
   always has one);
2. else the features interpolated linearly in time between the two stored frames that bracket the target, newer
   weight (target - older) / (newer - older), provided those two frames are at most ``max_gap_ns`` apart
   (default 2P: a 10 or 15 Hz camera, or a 17 Hz one that dropped a frame);
3. else nothing: no forecast for that frame. A target older than the oldest stored frame, newer than the newest, or
   inside a longer gap is never extrapolated or bridged.

Matching is by stamp, never by arrival count; a stamp going backwards (bag loop, clock jump) resets the history.
Memory stays bounded: frames older than the oldest offset can still reach are dropped (keeping the one that
brackets it from below), and the entry count is capped.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Sequence, TypeVar

from swiftcast.forecast.protocol import FRAME_PERIOD_NS, INPUT_OFFSETS

T = TypeVar("T")

#: (stamp_ns, weight) pairs an input was made from: one pair when a frame is used as is, two when interpolated.
Sources = tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Blend:
    """An interpolated input for items the history cannot add (the default ``blend``): ``newer`` has ``weight``."""

    older: Any
    newer: Any
    weight: float


@dataclass(frozen=True)
class HistoryMatch(Generic[T]):
    """The result of a look-up for the frame stamped ``stamp_ns``.

    One entry per requested offset (oldest first, the newest being the frame itself): ``items`` the input (a
    stored item, or the ``blend`` of two), ``stamps`` the stored stamp used, or for an interpolated input the
    target time itself, and ``sources`` the stored stamps and weights it was made from. ``missing`` lists the
    offsets (in periods) with no usable frame; ``ok`` is True only when nothing is missing.
    """

    stamp_ns: int
    offsets: tuple[int, ...]
    stamps: tuple[int | None, ...]
    items: tuple[T | None, ...]
    missing: tuple[int, ...] = field(default=())
    period_ns: int = FRAME_PERIOD_NS
    sources: tuple[Sources, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def interpolated(self) -> tuple[bool, ...]:
        """Per offset: True when the input was interpolated between two frames."""
        return tuple(len(s) == 2 for s in self.sources)

    @property
    def errors_ns(self) -> tuple[int | None, ...]:
        """Stamp used minus wanted stamp per offset (0 for an interpolated input)."""
        return tuple(
            None if s is None else s - (self.stamp_ns + o * self.period_ns) for s, o in zip(self.stamps, self.offsets)
        )


class FeatureHistory(Generic[T]):
    """Items (feature maps) keyed by stamp in ns, looked up at t + offset·P (see the module docstring).

    ``insert`` returns True when it reset the history (the stamp went backwards); an equal stamp replaces the
    stored item. Items are stored as given (nothing is copied); ``blend(older, newer, weight)`` makes an
    interpolated input (default: a :class:`Blend` record; the forecast runtime blends feature arrays).
    """

    def __init__(
        self,
        period_ns: int = FRAME_PERIOD_NS,
        tolerance_ns: int | None = None,
        offsets: Sequence[int] = INPUT_OFFSETS,
        max_items: int = 512,
        max_gap_ns: int | None = None,
        blend: Callable[[T, T, float], T] | None = None,
    ) -> None:
        if period_ns <= 0:
            raise ValueError(f"period_ns must be positive, got {period_ns}")
        tolerance_ns = period_ns // 2 if tolerance_ns is None else int(tolerance_ns)
        if not 0 <= tolerance_ns < period_ns:
            # a tolerance of a whole period would let t-3P match the frame meant for t-2P or t-4P
            raise ValueError(f"tolerance_ns must be in [0, period_ns), got {tolerance_ns} (period {period_ns})")
        if max_items < len(offsets):
            raise ValueError(f"max_items must be at least {len(offsets)}, got {max_items}")
        max_gap_ns = 2 * int(period_ns) if max_gap_ns is None else int(max_gap_ns)
        if max_gap_ns < 0:
            raise ValueError(f"max_gap_ns must be >= 0, got {max_gap_ns}")
        self.period_ns = int(period_ns)
        self.tolerance_ns = tolerance_ns
        self.max_gap_ns = max_gap_ns
        self.offsets = tuple(sorted(int(o) for o in offsets))
        self.max_items = int(max_items)
        self.blend: Callable[[Any, Any, float], Any] = blend or Blend
        # how far back anything can still be asked for, relative to the newest stamp
        self.reach_ns = -min(min(self.offsets), 0) * self.period_ns
        self.horizon_ns = self.reach_ns + self.tolerance_ns
        self._stamps: list[int] = []
        self._items: list[T] = []
        self.resets = 0

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def newest_ns(self) -> int | None:
        return self._stamps[-1] if self._stamps else None

    def stamps(self) -> list[int]:
        return list(self._stamps)

    def reset(self) -> None:
        self._stamps.clear()
        self._items.clear()

    def insert(self, stamp_ns: int, item: T) -> bool:
        """Add an item; returns True when the stamp went backwards and the history was reset first."""
        stamp_ns = int(stamp_ns)
        reset = False
        if self._stamps and stamp_ns < self._stamps[-1]:
            self.reset()
            self.resets += 1
            reset = True
        if self._stamps and stamp_ns == self._stamps[-1]:
            self._items[-1] = item  # the same frame again (e.g. a re-sent message): keep the latest copy
        else:
            self._stamps.append(stamp_ns)
            self._items.append(item)
        self._evict()
        return reset

    def _evict(self) -> None:
        newest = self._stamps[-1]
        drop = bisect.bisect_left(self._stamps, newest - self.horizon_ns)
        # keep the newest frame at or before the oldest reachable time: it brackets that time from below
        drop = min(drop, max(bisect.bisect_right(self._stamps, newest - self.reach_ns) - 1, 0))
        drop = max(drop, len(self._stamps) - self.max_items)
        if drop > 0:
            del self._stamps[:drop]
            del self._items[:drop]

    def nearest(self, stamp_ns: int) -> int | None:
        """Index of the stored stamp closest to ``stamp_ns`` within the tolerance (ties go to the older one)."""
        i = bisect.bisect_left(self._stamps, stamp_ns)
        best, best_err = None, self.tolerance_ns + 1
        for j in (i - 1, i):
            if 0 <= j < len(self._stamps):
                err = abs(self._stamps[j] - stamp_ns)
                if err < best_err:
                    best, best_err = j, err
        return best

    def bracket(self, stamp_ns: int) -> tuple[int, int, float] | None:
        """(older index, newer index, newer's weight) of the two frames around ``stamp_ns`` for a linear
        interpolation; None when one side is missing or they are more than ``max_gap_ns`` apart."""
        i = bisect.bisect_left(self._stamps, stamp_ns)
        if i == 0 or i == len(self._stamps):
            return None  # before the oldest or after the newest frame: that would be extrapolation
        older, newer = self._stamps[i - 1], self._stamps[i]
        if newer - older > self.max_gap_ns:
            return None
        return i - 1, i, (stamp_ns - older) / (newer - older)

    def match(self, stamp_ns: int) -> HistoryMatch[T]:
        """The inputs at ``stamp_ns + offset * period`` for every offset (oldest first)."""
        stamps: list[int | None] = []
        items: list[T | None] = []
        sources: list[Sources] = []
        missing: list[int] = []
        for offset in self.offsets:
            wanted = int(stamp_ns) + offset * self.period_ns
            j = self.nearest(wanted)
            if j is not None:
                stamps.append(self._stamps[j])
                items.append(self._items[j])
                sources.append(((self._stamps[j], 1.0),))
                continue
            pair = self.bracket(wanted)
            if pair is None:
                stamps.append(None)
                items.append(None)
                sources.append(())
                missing.append(offset)
                continue
            a, b, w = pair
            stamps.append(wanted)
            items.append(self.blend(self._items[a], self._items[b], w))
            sources.append(((self._stamps[a], 1.0 - w), (self._stamps[b], w)))
        return HistoryMatch(int(stamp_ns), self.offsets, tuple(stamps), tuple(items), tuple(missing), self.period_ns,
                            tuple(sources))
