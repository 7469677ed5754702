"""rosbags type store with SwiftCast's own messages registered from their ``.msg`` files.

Bags written with this store embed the full message definitions (mcap schemas / sqlite3 ``message_definition``),
so ``ros2 bag info/play`` and Foxglove open them without our workspace. The ``.msg`` files are the ones the ROS
package ``swiftcast_msgs`` is built from (``ros2_ws/src/msgs/msg``), found in this order: ``$SWIFTCAST_MSG_DIR``,
the source tree next to this package, an installed ``share/swiftcast_msgs/msg`` on ``$AMENT_PREFIX_PATH``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from swiftcast.errors import SwiftcastError

PACKAGE = "swiftcast_msgs"
MESSAGES = ("FeatureMap", "SemanticForecast", "LabelInfo")


def msg_dir() -> Path:
    """The folder holding ``FeatureMap.msg`` and friends."""
    candidates = []
    if os.environ.get("SWIFTCAST_MSG_DIR"):
        candidates.append(Path(os.environ["SWIFTCAST_MSG_DIR"]))
    candidates.append(Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / "msgs" / "msg")
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidates.append(Path(prefix) / "share" / PACKAGE / "msg")
    for folder in candidates:
        if all((folder / f"{name}.msg").is_file() for name in MESSAGES):
            return folder
    raise SwiftcastError(
        f"cannot find the {PACKAGE} .msg files ({', '.join(MESSAGES)}); looked in: "
        + ", ".join(str(c) for c in candidates) + " (set SWIFTCAST_MSG_DIR)"
    )


def swiftcast_msg_definitions() -> dict[str, str]:
    """Message type name (``swiftcast_msgs/msg/FeatureMap``) -> .msg text."""
    folder = msg_dir()
    return {f"{PACKAGE}/msg/{name}": (folder / f"{name}.msg").read_text() for name in MESSAGES}


@lru_cache(maxsize=1)
def typestore_with_swiftcast_msgs() -> Any:
    """ROS 2 Kilted's standard types plus ``swiftcast_msgs`` (cached: build once per process)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for name, text in swiftcast_msg_definitions().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
