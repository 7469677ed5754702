"""Time one model / backend / precision / size / threads configuration (``swiftcast bench-model``).

What is timed is the runtime's inference call (``Segmenter.backend.run``: forward pass, argmax to trainIds,
features) on one preprocessed frame - the part the backends differ in; preprocessing and the resize back are the
same for all of them. Median and p90 of ``repeats`` runs after ``warmup`` runs. ``arch`` times an untrained
architecture instead of a checkpoint (speed does not depend on the weights). int8 calibrates on frames the
synthetic world renders (no data folder needed) unless ``calib_data`` names one; precision ``auto`` times what the
node's ``precision: auto`` would pick on this machine.

One configuration per call keeps each timing clean; scripts compare configurations by interleaving
:func:`time_calls` rounds (benchmarks/bench_realtime.py) or by calling :func:`bench_model` for each.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from swiftcast.errors import SwiftcastError
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT
from swiftcast.hardware import cpu_description


def summarize(times_ms: Sequence[float]) -> dict[str, float]:
    """median / p90 / mean / min in ms and the rate the median allows."""
    a = np.asarray(times_ms, dtype=float)
    median = float(np.median(a))
    return {"median_ms": median, "p90_ms": float(np.percentile(a, 90)), "mean_ms": float(a.mean()),
            "min_ms": float(a.min()), "hz": 1000.0 / median if median > 0 else float("inf")}


def time_calls(fn: Callable[[], Any], warmup: int, repeats: int) -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; the wall times in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def random_checkpoint(arch: str, size: Sequence[int], folder: Path, seed: int = 0) -> Path:
    """A seeded, untrained checkpoint of ``arch`` (same weights -> same model_id -> the export cache hits)."""
    import torch

    from swiftcast.models import build_model, save_checkpoint

    torch.manual_seed(seed)
    model = build_model(arch, num_classes=19, backbone_weights=None)
    return save_checkpoint(folder / f"{arch}_random_s{seed}", model, {"input_size": list(size)})


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every timing."""
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "platform": platform.platform(), "cpu": cpu_description(),
            "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def prepared_input(segmenter: Any, seed: int = 0) -> Any:
    """One preprocessed camera-like frame at the model's input size."""
    h, w = segmenter.input_size
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return segmenter.preprocess(frame)


def bench_model(
    *,
    model: str | Path | None = None,
    arch: str | None = None,
    backend: str = "torch",
    precision: str = "fp32",
    size: Sequence[int] = (256, 512),
    threads: int = 2,
    warmup: int = 3,
    repeats: int = 20,
    device: str = "cpu",
    calib_data: str | Path | None = None,
) -> dict[str, Any]:
    """Time the inference call of checkpoint ``model`` (default: the stack's), or of an untrained ``arch``, in one
    configuration; returns the :func:`summarize` numbers, the times, the configuration and the environment."""
    from swiftcast.runtime.onnx_export import ExportRequest
    from swiftcast.runtime.segmenter import Segmenter, check_input_size, check_precision

    check_precision(backend, precision)
    if threads < 0 or warmup < 0 or repeats < 1:
        raise SwiftcastError("--threads and --warmup must be >= 0 and --repeats >= 1")
    size = check_input_size(list(size))
    assert size is not None
    with tempfile.TemporaryDirectory(prefix="swiftcast-bench-") as tmp:
        request = ExportRequest(calib_data=calib_data)
        if arch:
            checkpoint = random_checkpoint(arch, size, Path(tmp))
        else:
            checkpoint = Path(model or DEFAULT_SEGMENTATION_CHECKPOINT)
        segmenter = Segmenter(checkpoint, device=device, input_size=size, backend=backend,
                              precision=precision, num_threads=threads, export=request,
                              log=lambda line: print(line, flush=True))
        x = prepared_input(segmenter)
        times = time_calls(lambda: segmenter.backend.run(x, True), warmup, repeats)
    return {
        **summarize(times),
        "times_ms": [round(t, 3) for t in times],
        "config": {
            "model": str(model or ("arch:" + arch if arch else DEFAULT_SEGMENTATION_CHECKPOINT)),
            "model_id": segmenter.model_id, "architecture": segmenter.config.get("architecture"),
            "backend": backend, "precision": segmenter.precision, "precision_requested": precision,
            "precision_reason": segmenter.precision_reason, "size": list(size), "threads": threads,
            "warmup": warmup, "repeats": repeats, "device": str(segmenter.device),
            "onnx": segmenter.onnx_path, "timed": "Segmenter.backend.run (forward + argmax + features)",
        },
        "environment": environment(),
    }


def summary_line(result: dict[str, Any]) -> str:
    """One line of :func:`bench_model`'s result: configuration, median, p90, rate."""
    config = result["config"]
    h, w = config["size"]
    return (f"{config['architecture']} {config['backend']} {config['precision']} {h}x{w} "
            f"{config['threads']} threads: median {result['median_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, "
            f"{result['hz']:.1f} Hz ({config['repeats']} runs)")
