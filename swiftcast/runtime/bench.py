"""``swiftcast bench-model``: time one model / backend / precision / size / threads configuration.

    swiftcast bench-model --model models/swiftnet_efflite0_synth --backend onnxruntime --precision int8 \\
        --size 256x512 --threads 2 --json out/bench/rn18_ort_int8.json

What is timed is the runtime's inference call (``Segmenter.backend.run``: forward pass, argmax to trainIds,
features) on one preprocessed frame - the part the backends differ in; preprocessing and the resize back are the
same for all of them. Median and p90 of ``--repeats`` runs after ``--warmup`` runs. ``--arch NAME`` times an
untrained architecture instead of a checkpoint (speed does not depend on the weights). int8 calibrates on frames
the synthetic world renders (no data folder needed) unless ``--calib-data`` names one; ``--precision auto`` times
what the node's ``precision: auto`` would pick on this machine.

One configuration per call keeps each timing clean; scripts compare configurations by interleaving
:func:`time_calls` rounds (benchmarks/bench_realtime.py) or by calling this command for each.
"""

from __future__ import annotations

import argparse
import json
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from swiftcast.runtime.segmenter import BACKENDS, PRECISIONS

    what = parser.add_mutually_exclusive_group()
    what.add_argument("--model", help="checkpoint folder (default: {DEFAULT_SEGMENTATION_CHECKPOINT})")
    what.add_argument("--arch", help="time an untrained architecture instead (e.g. swiftnet_mnv2)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="inference engine")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 | int8 (onnxruntime only) | auto (int8 where the CPU has VNNI/AMX)")
    parser.add_argument("--size", default="256x512", help="model input HxW (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: %(default)s)")
    parser.add_argument("--calib-data", help="int8: a Cityscapes-layout folder of calibration frames (default: "
                        "frames the synthetic world renders)")
    parser.add_argument("--json", help="write the result here (median_ms, p90_ms, hz, config)")


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # effective only before torch's OpenMP starts
    from swiftcast.data.transforms import parse_size
    from swiftcast.runtime.onnx_export import ExportRequest
    from swiftcast.runtime.segmenter import Segmenter, check_input_size, check_precision

    check_precision(args.backend, args.precision)
    if args.threads < 0 or args.warmup < 0 or args.repeats < 1:
        raise SwiftcastError("--threads and --warmup must be >= 0 and --repeats >= 1")
    size = check_input_size(list(parse_size(args.size)))
    assert size is not None
    with tempfile.TemporaryDirectory(prefix="swiftcast-bench-") as tmp:
        request = ExportRequest(calib_data=args.calib_data)
        if args.arch:
            checkpoint = random_checkpoint(args.arch, size, Path(tmp))
        else:
            checkpoint = Path(args.model or DEFAULT_SEGMENTATION_CHECKPOINT)
        segmenter = Segmenter(checkpoint, device=args.device, input_size=size, backend=args.backend,
                              precision=args.precision, num_threads=args.threads, export=request,
                              log=lambda line: print(line, flush=True))
        x = prepared_input(segmenter)
        times = time_calls(lambda: segmenter.backend.run(x, True), args.warmup, args.repeats)
    result = {
        **summarize(times),
        "times_ms": [round(t, 3) for t in times],
        "config": {
            "model": str(args.model or ("arch:" + args.arch if args.arch else DEFAULT_SEGMENTATION_CHECKPOINT)),
            "model_id": segmenter.model_id, "architecture": segmenter.config.get("architecture"),
            "backend": args.backend, "precision": segmenter.precision, "precision_requested": args.precision,
            "precision_reason": segmenter.precision_reason, "size": list(size), "threads": args.threads,
            "warmup": args.warmup, "repeats": args.repeats, "device": str(segmenter.device),
            "onnx": segmenter.onnx_path, "timed": "Segmenter.backend.run (forward + argmax + features)",
        },
        "environment": environment(),
    }
    print(f"{result['config']['architecture']} {args.backend} {segmenter.precision} {size[0]}x{size[1]} "
          f"{args.threads} threads: median {result['median_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, "
          f"{result['hz']:.1f} Hz ({args.repeats} runs)")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return 0

