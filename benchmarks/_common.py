"""Helpers the benchmarks share: interleaved model timing, percentiles, a random-initialised checkpoint, RSS.

Timing is always *interleaved*: every round runs each configuration once (the order rotating), so a burst of load
on the shared machine hits all of them alike and the ratios printed side by side stay meaningful.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def interleaved_times(
    calls: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 2,
    before: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Milliseconds of each ``calls[name]()`` over ``repeats`` rounds, run round-robin with a rotating order.

    ``before(name)`` runs untimed before each call (e.g. ``torch.set_num_threads``).
    """
    names = list(calls)
    times: dict[str, list[float]] = {n: [] for n in names}
    for round_ in range(-warmup, repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            if before is not None:
                before(name)
            t0 = time.perf_counter()
            calls[name]()
            if round_ >= 0:
                times[name].append((time.perf_counter() - t0) * 1e3)
    return times


def forward_call(model, size: tuple[int, int], batch: int = 1) -> Callable[[], object]:
    """A no-grad eager forward of ``model`` on a fixed random (batch, 3, H, W) input."""
    import torch

    x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(0))

    def call() -> object:
        with torch.inference_mode():
            return model(x)

    return call


def random_checkpoint(tmp: Path, size: tuple[int, int], architecture: str = "swiftnet_rn18") -> Path:
    """A random-initialised checkpoint (latency does not depend on the weights) with ``input_size`` = size."""
    import torch

    from swiftcast.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model(architecture, num_classes=19, backbone_weights=None)
    return save_checkpoint(tmp / f"{architecture}_{size[0]}x{size[1]}", model, {"input_size": list(size)})


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process in MiB (Linux /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # gone, or not ours to read
        return None
    return None


def passive_openmp() -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE unless the user chose one (call before torch loads); True if we set it.

    With the default spinning wait, OpenMP threads of two processes sharing a small CPU steal each other's time
    and every timing gets several times noisier."""
    if "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def stamp_cpu(path: Path) -> None:
    """Record the CPU this machine has (model and vector extensions) in the result file at ``path``.

    A dict result gets a ``cpu`` key unless it already names its CPU (``environment.cpu``, ``timed_on.cpu``);
    a list result gets it on every row. benchmarks/report.py prints it next to each table.
    """
    import json

    from swiftcast.hardware import cpu_description

    result = json.loads(path.read_text())
    cpu = cpu_description()
    rows = result if isinstance(result, list) else [result]
    for row in rows:
        if isinstance(row, dict) and not any(isinstance(row.get(k), dict) and "cpu" in row[k]
                                             for k in ("environment", "timed_on")):
            row["cpu"] = cpu
    path.write_text(json.dumps(result, indent=2) + "\n")
