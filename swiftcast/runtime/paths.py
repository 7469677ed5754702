"""Where things are: the source checkout, the built ROS workspace, and how relative user paths are resolved.

Parameter files name checkpoints relative to the project (``models/swiftnet_efflite0_synth``) so the same file works
from any current directory. A relative path is looked up, in order, under ``$SWIFTCAST_HOME`` (if set), the
current directory, and the source checkout this package was installed from.
"""

from __future__ import annotations

import os
from pathlib import Path

from swiftcast.checkout import project_root

#: the segmentation model the stack, the demo and the forecasting commands use unless told otherwise
DEFAULT_SEGMENTATION_CHECKPOINT = "models/swiftnet_efflite0_synth"
#: the stack's parameter file, relative to :func:`launch_dir`: every node parameter the stack sets (profiles such as
#: ``params/jetson.yaml`` hold only what they change, see :mod:`swiftcast.orchestration.stack_description`)
STACK_PARAMS_FILE = "params/perception.yaml"


def launch_dir() -> Path:
    """``launch/``: the launch file, parameter files, rviz config and DDS profiles."""
    return project_root() / "launch"


def workspace_install() -> Path:
    """``ros2_ws/install`` (merge install built by ``make setup``)."""
    return project_root() / "ros2_ws" / "install"


def search_roots() -> list[Path]:
    """Folders a relative user path is resolved against, in order."""
    roots = [Path(os.environ["SWIFTCAST_HOME"])] if os.environ.get("SWIFTCAST_HOME") else []
    roots += [Path.cwd(), project_root()]
    unique: list[Path] = []
    for root in roots:  # the checkout is often the current directory: name each place once
        if root.resolve() not in [u.resolve() for u in unique]:
            unique.append(root)
    return unique


def resolve_user_path(path: str | os.PathLike[str]) -> Path:
    """An existing file/folder for ``path``; relative paths are searched under :func:`search_roots`.

    If nothing exists, the candidate under the first root is returned, so the caller's error names a real place.
    """
    p = Path(os.path.expanduser(os.fspath(path)))
    if p.is_absolute():
        return p
    candidates = [root / p for root in search_roots()]
    for c in candidates:
        if c.exists():
            return c.resolve()
    return candidates[0]


def check_checkpoint_parameter(value: str) -> None:
    """Parameter check shared by the nodes: ``value`` names an existing checkpoint (ValueError says where we looked)."""
    if not value:
        raise ValueError("empty; give a checkpoint folder (e.g. models/swiftnet_efflite0_synth)")
    if resolve_user_path(value).exists():
        return
    if Path(os.path.expanduser(value)).is_absolute():
        raise ValueError("not found")
    raise ValueError(f"not found (looked under {', '.join(str(r) for r in search_roots())})")
