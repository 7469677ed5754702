"""Forecast cost per frame (both horizons, decoding included) against segmentation cost per frame, same run.

What the forecast node does per frame - look up t-9P, t-6P, t-3P in the stamp-keyed history, then per horizon
DeformF2F-8 + the skip-less decoder at the model's input size + argmax + resize to the camera size - is timed
against what the semseg node does per frame (the ``Segmenter`` call: resize, normalise, backbone + SPP + ladder,
argmax, resize back). Both run in this process on the same machine state, interleaved frame by frame (order
alternating), so load hits both alike. The issue's goal: forecast / segmentation <= 0.10.

    python benchmarks/bench_forecast_cost.py [--sizes 256x512,512x1024] [--frames 20] [--threads N] [--json OUT]

Random-initialised weights (cost does not depend on them); camera image = model input size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _checkpoints(tmp: Path, size: tuple[int, int]) -> tuple[Path, dict[str, Path]]:
    from swiftcast.models import build_forecaster, build_model, save_checkpoint

    torch.manual_seed(0)
    seg = save_checkpoint(tmp / "seg", build_model("swiftnet_rn18"), {"input_size": list(size)})
    seg_id = json.loads((seg / "config.json").read_text())["model_id"]
    forecasters = {}
    for name, frames in (("short", 3), ("mid", 9)):
        forecasters[name] = save_checkpoint(tmp / name, build_forecaster("deform_f2f8"), {
            "method": "deform_f2f8", "horizon_frames": frames, "feature_model_id": seg_id, "input_size": list(size)})
    return seg, forecasters


def bench(size: tuple[int, int], frames: int, device: str) -> dict:
    from swiftcast.forecast.forecaster import SemanticForecaster
    from swiftcast.forecast.history import FeatureHistory
    from swiftcast.forecast.protocol import FRAME_PERIOD_NS
    from swiftcast.runtime.segmenter import Segmenter

    with tempfile.TemporaryDirectory() as tmp:
        seg_path, paths = _checkpoints(Path(tmp), size)
        segmenter = Segmenter(seg_path, device=device)
        forecasters = [SemanticForecaster(p, segmenter.model, segmenter.config, device=device) for p in paths.values()]
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 255, (*size, 3), dtype=np.uint8) for _ in range(4)]
        history: FeatureHistory[np.ndarray] = FeatureHistory(FRAME_PERIOD_NS)
        for i in range(10):  # a full history, as in steady state
            history.insert(i * FRAME_PERIOD_NS, segmenter(images[i % 4]).features)
        seg_ms, fc_ms = [], []

        def run_seg(i: int) -> None:
            t0 = time.perf_counter()
            segmenter(images[i % 4])
            seg_ms.append((time.perf_counter() - t0) * 1e3)

        clock = [10]

        def run_forecast(i: int) -> None:
            t = clock[0] * FRAME_PERIOD_NS  # a new frame arrives: its features join the history
            clock[0] += 1
            history.insert(t, history.match(t - FRAME_PERIOD_NS).items[-1])
            t0 = time.perf_counter()
            past = history.match(t).items
            for f in forecasters:
                f(past, size)
            fc_ms.append((time.perf_counter() - t0) * 1e3)

        for i in range(2):  # warm-up
            run_seg(i), run_forecast(i)
        seg_ms.clear(), fc_ms.clear()
        for i in range(frames):
            order = (run_seg, run_forecast) if i % 2 == 0 else (run_forecast, run_seg)
            for fn in order:
                fn(i)
    seg_med, fc_med = statistics.median(seg_ms), statistics.median(fc_ms)
    return {"size": f"{size[0]}x{size[1]}", "frames": frames, "segment_ms_median": round(seg_med, 2),
            "forecast_both_horizons_ms_median": round(fc_med, 2), "ratio": round(fc_med / seg_med, 4),
            "goal": 0.10, "device": device, "torch_threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256x512", help="comma-separated HxW (default 256x512)")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for text in args.sizes.split(","):
        h, w = (int(v) for v in text.lower().split("x"))
        r = bench((h, w), args.frames, args.device)
        results.append(r)
        print(f"{r['size']}: segmentation {r['segment_ms_median']:.1f} ms/frame, forecast (short + mid, decoded) "
              f"{r['forecast_both_horizons_ms_median']:.1f} ms/frame -> ratio {r['ratio']:.3f} (goal <= 0.10)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
