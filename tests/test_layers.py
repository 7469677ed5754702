"""The package's layering holds: ``lint-imports`` (import-linter) checks the contract in pyproject.toml.

The command line sits on top (cli, then the sub-commands in commands), then demo, replay | model_card,
orchestration | train, eval, forecast, runtime, models | synth, metrics, data | rosbag_types, hardware and errors at
the bottom; an import from a lower layer up into a higher one fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_layers_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run([str(lint), str(REPO / "pyproject.toml"), "--no-cache"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout and "KEPT" in run.stdout
