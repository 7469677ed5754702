"""Throttled warnings: at most one line per key and period, saying how many were suppressed in between.

A camera sending garbage at 30 Hz must not flood the log, but the user must still learn what is wrong and how
often (the counters in /diagnostics give the exact totals).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


class ThrottledLog:
    """``warn(key, text)`` logs through ``emit`` at most once per ``period_s`` for each key."""

    def __init__(self, emit: Callable[[str], Any], period_s: float = 5.0) -> None:
        self._emit = emit
        self._period = period_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, key: str, text: str) -> bool:
        """Log ``text`` unless ``key`` was logged less than a period ago; True if it was logged."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._period:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            skipped = self._suppressed.pop(key, 0)
            self._last[key] = now
        suffix = f" ({skipped} more like this in the last {now - last:.0f} s)" if skipped and last else ""
        self._emit(text + suffix)
        return True
