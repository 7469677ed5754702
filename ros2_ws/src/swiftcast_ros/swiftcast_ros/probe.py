"""A ROS participant inside a test, benchmark or tool process: an rclpy context + node spun by a background
thread, with collectors that wait for specific messages. Used by tests/ros_utils.py and benchmarks/.

    with RosProbe(domain_id=42) as probe:
        labels = probe.subscribe(Image, "/perception/semseg/labels")
        pub = probe.publisher(Image, "/camera/image_raw")
        probe.wait_for_subscribers(pub)
        out = probe.publish_until(pub, msg, lambda: labels.wait_for(stamp_is(7), 0))

The process must use the same DDS transport settings as the nodes (see swiftcast.orchestration.rosenv).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from swiftcast_ros.qos import OUTPUT_QOS


class Collector:
    """Messages received on one topic (thread-safe), with waiting helpers."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool] = lambda m: True, timeout: float = 10.0) -> Any | None:
        """The first message (already received or arriving within ``timeout``) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()


def stamp_is(sec: int, nanosec: int = 0) -> Callable[[Any], bool]:
    return lambda m: m.header.stamp.sec == sec and m.header.stamp.nanosec == nanosec


class RosProbe:
    """An rclpy context + node in the test process, spun by a background executor thread."""

    def __init__(self, domain_id: int | None = None, name: str = "probe") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(f"{name}_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except (ExternalShutdownException, Exception):  # noqa: BLE001 - shutting down
            pass

    def subscribe(self, msg_type: Any, topic: str, qos: Any = None) -> Collector:
        collector = Collector()
        self.node.create_subscription(msg_type, topic, collector, qos or OUTPUT_QOS)
        return collector

    def publisher(self, msg_type: Any, topic: str, qos: Any = None) -> Any:
        return self.node.create_publisher(msg_type, topic, qos or OUTPUT_QOS)

    @staticmethod
    def wait_for_subscribers(publisher: Any, count: int = 1, timeout: float = 90.0) -> None:
        """Block until ``publisher`` is matched (node started); then a short settle time, per the notes."""
        deadline = time.monotonic() + timeout
        while publisher.get_subscription_count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no subscriber on {publisher.topic_name} after {timeout} s")
            time.sleep(0.05)
        time.sleep(0.5)

    @staticmethod
    def publish_until(
        publisher: Any, msg: Any, done: Callable[[], Any], timeout: float = 30.0, interval: float = 2.0
    ) -> Any:
        """Publish ``msg`` (again every ``interval`` s: inputs are best effort) until ``done()`` is truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            publisher.publish(msg)
            until = min(deadline, time.monotonic() + interval)
            while time.monotonic() < until:
                result = done()
                if result:
                    return result
                time.sleep(0.02)
        raise AssertionError(f"no reaction to a message on {publisher.topic_name} within {timeout} s")

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(5.0)

    def __enter__(self) -> "RosProbe":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
