"""Online, label-free scoring of forecasts: each forecast waits for the single-frame labels of its target time.

A forecast for instant T is made at T - horizon; the segmentation of the frame actually taken at T arrives
later. Scoring one against the other (running mIoU per horizon) tells a user, live and without ground truth, how
far the forecasts drift from what the camera then sees - an upper-bound-free consistency score, not accuracy
(the single-frame labels have their own errors). Used by the forecast node; no ROS here.

Matching is by stamp, like :class:`swiftcast.forecast.history.FeatureHistory`: the reference is the label map
whose stamp is nearest T within ``tolerance_ns``; it is decided once a label stamped at or after T has arrived
(labels arrive in stamp order, so nothing nearer can come later). Forecasts with no label near T are counted as
unmatched, never scored against a wrong frame.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque

import cv2
import numpy as np

from swiftcast.data.labels import IGNORE_ID, NUM_CLASSES
from swiftcast.metrics import ConfusionMeter


class ConsistencyScorer:
    """Running confusion matrix of forecasts vs the later labels of their target time (thread-safe).

    Args:
        tolerance_ns: how far a label's stamp may be from the forecast's target time.
        max_pending: forecasts waiting for their labels (oldest dropped first; counted as ``expired``).
        max_pixels: label maps are subsampled (every k-th row and column) to at most this many pixels before
            counting, which keeps the cost per frame small at camera resolution.
    """

    def __init__(
        self, tolerance_ns: int, max_pending: int = 64, max_pixels: int = 256 * 512, num_classes: int = NUM_CLASSES
    ) -> None:
        self.tolerance_ns = int(tolerance_ns)
        self.max_pending = int(max_pending)
        self.max_pixels = int(max_pixels)
        self.meter = ConfusionMeter(num_classes, IGNORE_ID)
        self._pending: list[tuple[int, np.ndarray]] = []  # sorted by target stamp
        self._refs: deque[tuple[int, np.ndarray]] = deque(maxlen=4)
        self._lock = threading.Lock()
        self.scored = self.unmatched = self.expired = self.resets = 0

    def reset(self) -> None:
        """Forget pending forecasts and labels (the stamps jumped); the running score is kept."""
        with self._lock:
            self._pending.clear()
            self._refs.clear()
            self.resets += 1

    def add_forecast(self, target_ns: int, labels: np.ndarray) -> int:
        """A new forecast for ``target_ns``; returns how many forecasts were scored by this call (0 or 1)."""
        with self._lock:
            item = (int(target_ns), labels)
            if self._refs and self._refs[-1][0] >= target_ns:
                return self._resolve_one(item)  # its labels are already here (slow forecast, fast camera)
            bisect.insort(self._pending, item, key=lambda x: x[0])
            while len(self._pending) > self.max_pending:
                self._pending.pop(0)
                self.expired += 1
            return 0

    def add_reference(self, stamp_ns: int, labels: np.ndarray) -> int:
        """Single-frame labels of the frame stamped ``stamp_ns``; returns how many forecasts got scored."""
        with self._lock:
            stamp_ns = int(stamp_ns)
            if self._refs and stamp_ns < self._refs[-1][0]:
                self._pending.clear()
                self._refs.clear()
                self.resets += 1
            self._refs.append((stamp_ns, labels))
            ready = 0
            while ready < len(self._pending) and self._pending[ready][0] <= stamp_ns:
                ready += 1
            due, self._pending = self._pending[:ready], self._pending[ready:]
            return sum(self._resolve_one(item) for item in due)

    def _resolve_one(self, item: tuple[int, np.ndarray]) -> int:
        target, pred = item
        best = min(self._refs, key=lambda r: abs(r[0] - target))
        if abs(best[0] - target) > self.tolerance_ns:
            self.unmatched += 1
            return 0
        ref = best[1]
        if pred.shape != ref.shape:
            pred = cv2.resize(pred, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_NEAREST)
        step = max(1, math.ceil(math.sqrt(ref.size / self.max_pixels)))
        self.meter.update(pred[::step, ::step], ref[::step, ::step])
        self.scored += 1
        return 1

    def summary(self) -> dict:
        """``miou``/``miou_mo`` (None before the first score), ``scored``, ``unmatched``, ``expired``, ``pending``."""
        with self._lock:
            s = self.meter.summary()
            return {"miou": s["miou"], "miou_mo": s["miou_mo"], "scored": self.scored, "unmatched": self.unmatched,
                    "expired": self.expired, "pending": len(self._pending)}
