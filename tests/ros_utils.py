"""Shared helpers for tests that talk to real ROS 2 processes over real DDS.

Isolation: every test module gets its own ROS_DOMAIN_ID, logs go to a tmp
folder, and all traffic stays on loopback with the Fast DDS profile of launch/dds (plain LOCALHOST discovery drops
large best-effort images). Importing this module sets those variables for the test process itself, before any
participant exists.

Typical use::

    domain = allocate_domain_id()
    with NodeProcess(command_line(...), ros_child_env(domain, tmp)) as proc, RosProbe(domain) as probe:
        labels = probe.subscribe(Image, "/perception/semseg/labels")
        pub = probe.publisher(Image, "/camera/image_raw")
        probe.wait_for_subscribers(pub)
        probe.publish_until(pub, msg, lambda: labels.find(stamp=...))
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import pytest

from swiftcast.orchestration.rosenv import child_env, loopback_settings, node_executable

try:  # the in-process participant is shared with benchmarks and tools
    from swiftcast_ros.probe import Collector, RosProbe, stamp_is  # noqa: F401
except ImportError:  # not run under tools/ros_env.sh: require_ros() skips the ROS tests
    Collector = RosProbe = stamp_is = None  # type: ignore[assignment,misc]

REPO = Path(__file__).resolve().parents[1]
_LOG_ROOT = Path(tempfile.mkdtemp(prefix="swiftcast-ros-tests-"))

# The test process is a DDS participant too: same transport as the nodes, logs out of ~/.ros.
os.environ.update(loopback_settings())
os.environ.setdefault("ROS_LOG_DIR", str(_LOG_ROOT / "test-process"))

_used_domains: set[int] = set()


def require_ros() -> None:
    """Skip the calling test module unless rclpy and the built workspace (swiftcast_msgs, nodes) are usable."""
    try:
        import rclpy  # noqa: F401
        import swiftcast_msgs.msg  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"ROS 2 workspace not importable ({exc}); run via `make test` (sources tools/ros_env.sh)")
    if not node_executable("semseg_node", "semseg_node").exists():
        pytest.skip("ros2_ws is not built (run make setup)")


def allocate_domain_id() -> int:
    """A ROS domain id not used by this test process yet; random so parallel test runs rarely meet."""
    rng = random.Random(os.getpid() * 1000 + len(_used_domains) + time.monotonic_ns())
    while True:
        domain = rng.randint(1, 101)
        if domain not in _used_domains:
            _used_domains.add(domain)
            return domain


def ros_child_env(domain_id: int, log_dir: Path | None = None) -> dict[str, str]:
    """Environment for a node process in ``domain_id`` (workspace, loopback DDS, private log folder)."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="ros-log-", dir=_LOG_ROOT))
    env = child_env(loopback=True, domain_id=domain_id, log_dir=log_dir)
    env.update(loopback_settings())
    return env


# --- node processes ---------------------------------------------------------------------------------------------
class NodeProcess:
    """A node (or ``swiftcast stack``) as a real process; output goes to a file the test can read."""

    def __init__(self, command: Sequence[str], env: dict[str, str], log_path: Path | None = None) -> None:
        self.command = list(command)
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="node-", suffix=".log", dir=_LOG_ROOT)[1])
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Wait until ``pattern`` (regex) appears in the output; fails with the output if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output())
            if match:
                return match
            if not self.alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not in output of {self.command[0]} (rc={self.process.poll()}):\n{self.output()}")

    def wait(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait; SIGKILL if it does not exit in time. Returns the exit status."""
        if self.alive():
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def diagnostic_values(array_msg: Any, name_part: str) -> dict[str, str] | None:
    """key -> value of the first DiagnosticStatus whose name contains ``name_part`` (None if absent)."""
    for status in array_msg.status:
        if name_part in status.name:
            return {kv.key: kv.value for kv in status.values}
    return None


def make_tiny_checkpoint(out_dir: Path, input_size: tuple[int, int] = (64, 128), seed: int = 0) -> Path:
    """A random-init swiftnet_rn18 checkpoint with a forecast decoder and a small input size (fast forwards);
    returns its folder."""
    import torch

    from swiftcast.forecast.decoder import build_forecast_decoder
    from swiftcast.models import build_model, save_checkpoint

    torch.manual_seed(seed)
    model = build_model("swiftnet_rn18", num_classes=19, backbone_weights=None)
    return save_checkpoint(out_dir, model, {"input_size": list(input_size)}, decoder=build_forecast_decoder())


def semseg_command(*ros_args: str, namespace: str = "/perception") -> list[str]:
    """``semseg_node --ros-args -r __node:=semseg -r __ns:=<namespace> <ros_args>``."""
    return [str(node_executable("semseg_node", "semseg_node")), "--ros-args", "-r", "__node:=semseg",
            "-r", f"__ns:={namespace}", *ros_args]


# --- housekeeping -----------------------------------------------------------------------------------------------
def _shm_in_use() -> set[str]:
    used: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("/dev/shm/"):
                    used.add(target)
            with open(proc / "maps") as maps:
                used.update(line.split()[-1] for line in maps if "/dev/shm/" in line)
        except OSError:
            continue
    return used


def cleanup_fastdds_shm(min_age_s: float = 60.0, paths: Iterable[Path] | None = None) -> int:
    """Remove ``/dev/shm/fastdds_*`` files that no process uses and that are older than ``min_age_s``.

    Fast DDS can leave them behind when a process is killed; files in use (other test runs) are kept.
    """
    candidates = list(paths) if paths is not None else list(Path("/dev/shm").glob("fastdds_*"))
    if not candidates:
        return 0
    used = _shm_in_use()
    removed = 0
    now = time.time()
    for path in candidates:
        try:
            if str(path) in used or now - path.stat().st_mtime < min_age_s:
                continue
            path.unlink()
            removed += 1
        except OSError:
            continue
    return removed
