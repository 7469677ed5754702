"""`swiftcast stack` as a real process: it starts the nodes, they answer over DDS, and it stops cleanly on
SIGINT/SIGTERM; a node that dies makes it exit non-zero (or is restarted with --restart)."""

from __future__ import annotations

import os
import re
import signal
import sys
import time

import numpy as np
import pytest

from ros_utils import (
    NodeProcess,
    RosProbe,
    allocate_domain_id,
    cleanup_fastdds_shm,
    make_tiny_checkpoint,
    require_ros,
    ros_child_env,
    stamp_is,
)

pytestmark = pytest.mark.ros

STARTED = r"started /perception/semseg \(pid (\d+)\)"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    require_ros()
    return make_tiny_checkpoint(tmp_path_factory.mktemp("stack") / "ckpt")


def _stack(checkpoint, domain: int, *options: str) -> NodeProcess:
    command = [sys.executable, "-m", "swiftcast.cli", "stack", "--checkpoint", str(checkpoint),
               "--camera-topic", "/test/camera", *options]
    return NodeProcess(command, ros_child_env(domain))


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z"):  # zombie awaiting reap
            return True
        time.sleep(0.1)
    return False


def _round_trip(probe: RosProbe, pub, labels, sec: int) -> None:
    from sensor_msgs.msg import Image

    img = np.random.default_rng(sec).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    msg = Image(height=48, width=80, encoding="rgb8", step=240, data=img.tobytes())
    msg.header.stamp.sec = sec
    out = probe.publish_until(pub, msg, lambda: labels.wait_for(stamp_is(sec), 0), timeout=30)
    assert (out.height, out.width, out.encoding) == (48, 80, "mono8")


def test_stack_serves_restarts_a_killed_node_and_stops_on_sigint(checkpoint):
    from sensor_msgs.msg import Image

    domain = allocate_domain_id()
    with RosProbe(domain) as probe:
        stack = _stack(checkpoint, domain, "--restart")
        first = int(stack.wait_for_output(STARTED).group(1))
        stack.wait_for_output("ready: /test/camera", timeout=120)
        os.kill(first, signal.SIGKILL)
        stack.wait_for_output(r"exited on its own \(killed by SIGKILL\)")
        stack.wait_for_output("restarting /perception/semseg")
        second = int(re.findall(STARTED, stack.output())[-1])
        assert second != first
        pub = probe.publisher(Image, "/test/camera")
        labels = probe.subscribe(Image, "/perception/semseg/labels")
        probe.wait_for_subscribers(pub)  # the restarted node
        _round_trip(probe, pub, labels, 1)
        assert stack.stop(signal.SIGINT, timeout=30) == 0, stack.output()
    assert _gone(second), "semseg node still running after the stack stopped"
    assert "stopped semseg (exit status 0)" in stack.output()
    assert "Traceback" not in stack.output()
    cleanup_fastdds_shm()


def test_stack_stops_on_sigterm_while_nodes_start(checkpoint):
    stack = _stack(checkpoint, allocate_domain_id())
    pid = int(stack.wait_for_output(STARTED).group(1))
    assert stack.stop(signal.SIGTERM, timeout=30) == 0, stack.output()
    assert _gone(pid)
    assert "SIGTERM received, stopping" in stack.output()
    assert "Traceback" not in stack.output()  # a node stopped while importing torch ends quietly


def test_stack_exits_nonzero_when_a_node_dies(checkpoint, tmp_path):
    domain = allocate_domain_id()
    stack = _stack(checkpoint, domain)
    broken = _stack(tmp_path / "missing", allocate_domain_id(), "--restart")  # refuses to start: no restart
    pid = int(stack.wait_for_output(STARTED).group(1))
    stack.wait_for_output("ready: ", timeout=120)
    os.kill(pid, signal.SIGKILL)
    assert stack.wait(30) == 1, stack.output()
    assert "node semseg died" in stack.output()

    assert broken.wait(120) == 1, broken.output()
    assert "parameter 'checkpoint'" in broken.output() and "restarting" not in broken.output()
    stack.stop()
    broken.stop()
