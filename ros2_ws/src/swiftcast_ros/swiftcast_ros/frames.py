"""What every node does around its per-frame work: counters, throttled log lines and the newest-frame worker.

A subscription callback hands its frame to :meth:`FrameLoop.submit` (a frame replaced before the worker got to it
counts as dropped) and the worker runs the node's ``process``. Malformed input is counted by reason and logged,
throttled (:meth:`FrameLoop.reject`); a frame that fails inside ``process`` is counted as an error and logged the
same way, and never ends the worker. The totals feed :class:`swiftcast_ros.health.HealthReporter`.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from rclpy.node import Node

from swiftcast_ros.health import FrameStats
from swiftcast_ros.throttle import ThrottledLog
from swiftcast_ros.worker import NewestFrameWorker

T = TypeVar("T")


class FrameLoop(Generic[T]):
    """``process(item)`` on a ``<node name>-worker`` thread for the newest submitted item, with the node's counters.

    ``inputs`` and ``work`` name what arrives and what is done, for the log lines (``features rejected (size):
    ...``, ``forecast failed: ...``).
    """

    def __init__(self, node: Node, process: Callable[[T], None], inputs: str = "frame", work: str = "frame") -> None:
        self.stats = FrameStats()
        self._logger = logger = node.get_logger()
        # rclpy refuses two severities from one call site (ThrottledLog's emit line): give each its own line
        self.warn = ThrottledLog(lambda text: logger.warning(text), period_s=5.0)
        self.info = ThrottledLog(lambda text: logger.info(text), period_s=5.0)
        self._inputs, self._work = inputs, work
        self.worker: NewestFrameWorker[T] = NewestFrameWorker(process, self._failed, name=f"{node.get_name()}-worker")

    def arrived(self) -> None:
        self.stats.count("frames_in")

    def submit(self, item: T) -> None:
        """Hand ``item`` to the worker; the one it replaces, never processed, counts as dropped."""
        if self.worker.submit(item):
            self.stats.count("frames_dropped")

    def reject(self, reason: str, problem: object) -> None:
        """Malformed input: counted as ``rejected_<reason>`` and logged at most every few seconds per reason."""
        self.stats.reject(reason)
        self.warn.warn(reason, f"{self._inputs} rejected ({reason}): {problem}")

    def report(self, counter: str | None = None, text: str | None = None, key: str | None = None) -> None:
        """Something the core runtime noticed: a counter to bump and/or a line to log (throttled per ``key``)."""
        if counter:
            self.stats.count(counter)
        if text and key:
            self.info.warn(key, text)
        elif text:
            self._logger.info(text)

    def done(self, **timings_ms: float) -> None:
        """One frame published, with its timings (milliseconds) for the /diagnostics windows."""
        self.stats.count("frames_out")
        for name, value in timings_ms.items():
            self.stats.observe(name, value)

    def stop(self) -> None:
        self.worker.stop()

    def _failed(self, exc: BaseException) -> None:
        self.stats.count("errors")
        self.warn.warn(f"error:{type(exc).__name__}", f"{self._work} failed: {type(exc).__name__}: {exc}")
