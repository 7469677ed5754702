"""Frame counters, latency windows, ``/diagnostics`` and a readable periodic log line.

Counters are totals since start (what a fuzz or soak run compares); timings are kept in a short rolling window
so percentiles describe "now". Everything is thread-safe: the subscription callback, the worker thread and the
timers all update or read it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Iterable, Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from swiftcast_ros.qos import DIAGNOSTICS_QOS

#: Counters every SwiftCast node reports.
BASE_COUNTERS: tuple[str, ...] = ("frames_in", "frames_out", "frames_dropped", "frames_rejected", "errors")


class FrameStats:
    """Totals (``count``), rejections by reason (``reject``) and rolling timing windows (``observe``)."""

    def __init__(self, counters: Sequence[str] = BASE_COUNTERS, window: int = 200) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(counters, 0)
        self._reasons: dict[str, int] = {}
        self._windows: dict[str, deque[float]] = {}
        self._window = window

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def reject(self, reason: str) -> None:
        """A frame refused as malformed: ``frames_rejected`` and ``rejected_<reason>``."""
        with self._lock:
            self._counts["frames_rejected"] = self._counts.get("frames_rejected", 0) + 1
            self._reasons[reason] = self._reasons.get(reason, 0) + 1

    def observe(self, name: str, value: float) -> None:
        with self._lock:
            self._windows.setdefault(name, deque(maxlen=self._window)).append(float(value))

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = dict(self._counts)
            out.update({f"rejected_{k}": v for k, v in sorted(self._reasons.items())})
            return out

    def percentiles(self, name: str, qs: Iterable[float] = (50, 90, 100)) -> list[float] | None:
        with self._lock:
            values = list(self._windows.get(name, ()))
        if not values:
            return None
        return [float(v) for v in np.percentile(np.asarray(values), list(qs))]


class HealthReporter:
    """Publishes a DiagnosticStatus every ``diagnostics_period_s`` and logs one summary line every
    ``log_period_s`` (0 disables the log line).

    ``timings`` names the windows reported as ``<name>_p50/_p90/_max`` (milliseconds);
    ``extra`` returns more key/values (e.g. the model id); ``level`` turns the counters into OK/WARN/ERROR.
    """

    def __init__(
        self,
        node: Node,
        stats: FrameStats,
        timings: Sequence[str],
        diagnostics_period_s: float = 1.0,
        log_period_s: float = 5.0,
        extra: Callable[[], dict[str, str]] | None = None,
        hardware_id: str = "",
    ) -> None:
        self.node, self.stats, self.timings = node, stats, tuple(timings)
        self.extra = extra or (lambda: {})
        self.name = f"{node.get_fully_qualified_name().lstrip('/')}: frames"
        self.hardware_id = hardware_id
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", DIAGNOSTICS_QOS)
        self._last_counts = stats.counts()
        self._last_time = time.monotonic()
        self._last_diag_counts = self._last_counts
        self._diag_timer = node.create_timer(diagnostics_period_s, self.publish)
        self._log_timer = node.create_timer(log_period_s, self.log_line) if log_period_s > 0 else None

    def status(self) -> DiagnosticStatus:
        counts = self.stats.counts()
        values = [KeyValue(key=k, value=str(v)) for k, v in counts.items()]
        for name in self.timings:
            pct = self.stats.percentiles(name)
            if pct:
                values += [
                    KeyValue(key=f"{name}_p50", value=f"{pct[0]:.2f}"),
                    KeyValue(key=f"{name}_p90", value=f"{pct[1]:.2f}"),
                    KeyValue(key=f"{name}_max", value=f"{pct[2]:.2f}"),
                ]
        values += [KeyValue(key=k, value=str(v)) for k, v in self.extra().items()]
        new_rejects = counts.get("frames_rejected", 0) - self._last_diag_counts.get("frames_rejected", 0)
        new_errors = counts.get("errors", 0) - self._last_diag_counts.get("errors", 0)
        self._last_diag_counts = counts
        if new_errors:
            level, message = DiagnosticStatus.ERROR, f"{new_errors} frame(s) failed with an internal error"
        elif new_rejects:
            level, message = DiagnosticStatus.WARN, f"{new_rejects} malformed frame(s) rejected"
        elif counts.get("frames_out", 0) == 0:
            level, message = DiagnosticStatus.OK, "waiting for input"
        else:
            level, message = DiagnosticStatus.OK, "running"
        return DiagnosticStatus(
            level=level, name=self.name, message=message, hardware_id=self.hardware_id, values=values
        )

    def publish(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.status = [self.status()]
        self._pub.publish(msg)

    def summary_line(self) -> str:
        """``in 10.0 Hz, out 9.9 Hz, dropped 0, rejected 0 | model 45.1/50.2 ms | latency 47.0/52.0 ms`` (p50/p90)."""
        now = time.monotonic()
        counts = self.stats.counts()
        dt = max(now - self._last_time, 1e-9)
        rate = lambda k: (counts.get(k, 0) - self._last_counts.get(k, 0)) / dt  # noqa: E731
        parts = [
            f"in {rate('frames_in'):.1f} Hz, out {rate('frames_out'):.1f} Hz",
            f"dropped {counts.get('frames_dropped', 0)}, rejected {counts.get('frames_rejected', 0)}"
            + (f", errors {counts['errors']}" if counts.get("errors") else ""),
        ]
        for name in self.timings:
            pct = self.stats.percentiles(name)
            if pct:
                parts.append(f"{name.removesuffix('_ms')} {pct[0]:.1f}/{pct[1]:.1f} ms (p50/p90)")
        self._last_counts, self._last_time = counts, now
        return " | ".join(parts)

    def log_line(self) -> None:
        self.node.get_logger().info(self.summary_line())
