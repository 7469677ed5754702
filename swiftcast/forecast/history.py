"""A time-keyed history of feature maps: what the forecast node looks up t-3P, t-6P, t-9P in (no ROS here).

Forecasters were trained on frames P = 1/17 s apart, so the inputs for a frame stamped t are the frames stamped
closest to t-9P, t-6P and t-3P — whatever the camera rate. Matching is by stamp, never by arrival count: a 30 Hz
camera works, a dropped frame is detected (no frame within the tolerance -> no match -> no forecast, never a
guess), and a stamp going backwards (bag loop, clock jump) resets the history. Memory stays bounded: entries
older than the oldest offset that can still be asked for are dropped, and the entry count is capped.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Generic, Sequence, TypeVar

from swiftcast.forecast.protocol import FRAME_PERIOD_NS, INPUT_OFFSETS

T = TypeVar("T")


@dataclass(frozen=True)
class HistoryMatch(Generic[T]):
    """The result of a look-up for the frame stamped ``stamp_ns``.

    ``items``/``stamps`` hold one entry per requested offset (oldest first, the newest being the frame itself);
    ``missing`` lists the offsets (in periods) for which no frame lay within the tolerance. ``ok`` is True only
    when nothing is missing.
    """

    stamp_ns: int
    offsets: tuple[int, ...]
    stamps: tuple[int | None, ...]
    items: tuple[T | None, ...]
    missing: tuple[int, ...] = field(default=())
    period_ns: int = FRAME_PERIOD_NS

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def errors_ns(self) -> tuple[int | None, ...]:
        """Matched stamp minus wanted stamp per offset (how far off each match is)."""
        return tuple(
            None if s is None else s - (self.stamp_ns + o * self.period_ns) for s, o in zip(self.stamps, self.offsets)
        )


class FeatureHistory(Generic[T]):
    """Items (feature maps) keyed by stamp in ns, matched to t + offset·P within ``tolerance_ns``.

    ``insert`` returns True when it reset the history (the stamp went backwards); an equal stamp replaces the
    stored item. Items are stored as given (the node stores numpy arrays); nothing is copied.
    """

    def __init__(
        self,
        period_ns: int = FRAME_PERIOD_NS,
        tolerance_ns: int | None = None,
        offsets: Sequence[int] = INPUT_OFFSETS,
        max_items: int = 512,
    ) -> None:
        if period_ns <= 0:
            raise ValueError(f"period_ns must be positive, got {period_ns}")
        tolerance_ns = period_ns // 2 if tolerance_ns is None else int(tolerance_ns)
        if not 0 <= tolerance_ns < period_ns:
            # a tolerance of a whole period would let t-3P match the frame meant for t-2P or t-4P
            raise ValueError(f"tolerance_ns must be in [0, period_ns), got {tolerance_ns} (period {period_ns})")
        if max_items < len(offsets):
            raise ValueError(f"max_items must be at least {len(offsets)}, got {max_items}")
        self.period_ns = int(period_ns)
        self.tolerance_ns = tolerance_ns
        self.offsets = tuple(sorted(int(o) for o in offsets))
        self.max_items = int(max_items)
        # how far back anything can still be asked for, relative to the newest stamp
        self.horizon_ns = -min(min(self.offsets), 0) * self.period_ns + self.tolerance_ns
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
        cutoff = self._stamps[-1] - self.horizon_ns
        drop = bisect.bisect_left(self._stamps, cutoff)
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

    def match(self, stamp_ns: int) -> HistoryMatch[T]:
        """The items nearest ``stamp_ns + offset * period`` for every offset (oldest first)."""
        stamps: list[int | None] = []
        items: list[T | None] = []
        missing: list[int] = []
        for offset in self.offsets:
            j = self.nearest(int(stamp_ns) + offset * self.period_ns)
            if j is None:
                stamps.append(None)
                items.append(None)
                missing.append(offset)
            else:
                stamps.append(self._stamps[j])
                items.append(self._items[j])
        return HistoryMatch(int(stamp_ns), self.offsets, tuple(stamps), tuple(items), tuple(missing), self.period_ns)
