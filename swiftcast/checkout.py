"""The source checkout SwiftCast runs from, and paths as the records it writes keep them.

Checkpoint configs, evaluation files and data cards name the data and models they were made from. A path inside the
checkout is kept relative to it (``models/swiftnet_efflite0_synth``, ``data/synth``): a shipped record then reads
the same on every machine, and the relative path resolves like any user path. Anything elsewhere stays absolute.
"""

from __future__ import annotations

import os
from pathlib import Path

import swiftcast


def project_root() -> Path:
    """The source checkout (the folder holding ``swiftcast/``, ``launch/`` and ``ros2_ws/``)."""
    return Path(swiftcast.__file__).resolve().parent.parent


def recorded_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a record keeps it: relative to :func:`project_root` when it lies inside the checkout, else
    absolute."""
    resolved = Path(os.path.expanduser(os.fspath(path))).resolve()
    try:
        return resolved.relative_to(project_root()).as_posix()
    except ValueError:
        return str(resolved)
