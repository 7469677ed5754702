"""Environment of ROS child processes (nodes started by ``swiftcast stack``, tests, benchmarks).

Equivalent to sourcing ``tools/ros_env.sh`` (venv + ``ros2_ws/install``), so the runner works from a plain shell,
plus the DDS transport choice: on one machine the loopback Fast DDS profile (``launch/dds/fastdds_loopback.xml``)
is needed for large best-effort messages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

from swiftcast.runtime.paths import launch_dir, workspace_install

LOOPBACK_ENV = ("FASTDDS_DEFAULT_PROFILES_FILE", "ROS_AUTOMATIC_DISCOVERY_RANGE")


def loopback_profile() -> Path:
    return launch_dir() / "dds" / "fastdds_loopback.xml"


def loopback_settings() -> dict[str, str]:
    """The two variables that put Fast DDS on loopback with big shared-memory segments."""
    return {"FASTDDS_DEFAULT_PROFILES_FILE": str(loopback_profile()), "ROS_AUTOMATIC_DISCOVERY_RANGE": "SYSTEM_DEFAULT"}


def _prepend(env: dict[str, str], key: str, *paths: Path) -> None:
    current = [p for p in env.get(key, "").split(os.pathsep) if p]
    new = [str(p) for p in paths if str(p) not in current]
    env[key] = os.pathsep.join(new + current)


def child_env(
    base: Mapping[str, str] | None = None,
    loopback: bool = True,
    domain_id: int | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """A copy of ``base`` (default: os.environ) able to run the workspace's nodes.

    ``loopback``: use the loopback DDS profile unless ``base`` already names a profile file.
    """
    env = dict(os.environ if base is None else base)
    venv = Path(sys.prefix)
    install = workspace_install()
    pyver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    _prepend(env, "AMENT_PREFIX_PATH", install, venv)
    _prepend(env, "PYTHONPATH", install / "lib" / pyver / "site-packages")
    _prepend(env, "LD_LIBRARY_PATH", install / "lib")
    _prepend(env, "PATH", venv / "bin")
    if loopback and not env.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        env.update(loopback_settings())
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    if log_dir is not None:
        env["ROS_LOG_DIR"] = str(log_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The nodes share the CPU with each other (and with the camera driver): spinning OpenMP workers made torch
    # several times slower there, measured on 2 cores. Passive waiting costs microseconds per forward pass.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def node_executable(package: str, executable: str) -> Path:
    """``ros2_ws/install/lib/<package>/<executable>`` (what ``ros2 run`` would start)."""
    return workspace_install() / "lib" / package / executable
