"""Regenerate requirements.lock from requirements.in (`make lock`).

Resolves with pip's dry-run report (nothing is installed) and writes exact pins under their registry names;
`pip freeze` is no good here because the ROS wheels register import-package names (e.g. `rclpy`), not the
`ros-*` distribution names that the registry serves.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HEADER = """\
# Exact versions known to work together on Debian 12 x86_64 / CPython 3.11.
# torch 2.14.1 + torchvision 0.29.1 is the only pair that imports here; ros-* are the ROS 2 Kilted wheels.
# Regenerate with `make lock` after changing requirements.in.
"""


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
             "--report", str(report), "setuptools<80", "-r", str(root / "requirements.in")],
            check=True,
        )
        items = json.loads(report.read_text())["install"]
    pins = sorted(
        (f"{i['metadata']['name']}=={i['metadata']['version']}" for i in items
         if i["metadata"]["name"].lower() not in {"pip", "setuptools", "wheel"}),
        key=str.lower,
    )
    (root / "requirements.lock").write_text(HEADER + "\n".join(pins) + "\n")
    print(f"requirements.lock: {len(pins)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
