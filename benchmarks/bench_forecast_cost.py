"""Forecast cost per frame (both horizons, decoding included) against segmentation cost per frame, same run.

What the forecast node does per frame - per horizon DeformF2F-8 + the skip-less decoder + argmax + nearest resize
of the labels to the camera size (:class:`swiftcast.forecast.forecaster.SemanticForecaster`, the node's own code
path) - is timed against what the semseg node does per frame (the ``Segmenter`` call: resize, normalise, backbone
+ SPP + ladder, argmax, resize back). Everything runs in this process, interleaved frame by frame with the order
rotating, so load hits all alike; each call is timed by wall clock and by the process's CPU time (on a shared
machine the CPU-time ratio is the stable one; on an idle one they agree).

Compared (the goal: forecast / segmentation <= 0.10):

- segmentation with the shipped default model (``models/swiftnet_efflite0_synth``; a random SwiftNet ResNet-18
  where it is missing): torch eager fp32, ONNX Runtime fp32 (like for like with the forecast graph, which is fp32),
  and ONNX Runtime int8 (the real-time configuration of ``bench_realtime``; calibrated here on random frames, which
  sets its speed, not its accuracy: that is bench_realtime's job);
- flow extrapolation (the forecast node's default, ``swiftcast.forecast.motion``): per frame one grey downscale of
  the camera frame and one DIS flow (the default preset) to the frame before, shared by both horizons, then per
  horizon the projection of the newest labels, on the default grid (``projection_width``) read back at the camera
  size, and at the camera size itself (``projection_width: 0``);
- forecasting with the ``full`` skip-less decoder (widths 128,128,128: the ladder's shape, ~1.6 GMAC per horizon
  at 256x512) and the ``lite`` one (64,32,16: ~0.12 GMAC, what the shipped checkpoint carries), each on torch
  eager and on ONNX Runtime (forecaster + decoder exported as one graph, which ONNX Runtime fuses and
  runs without eager's per-operator overhead).

The pairing that deploys: flow extrapolation next to semseg ``backend: onnxruntime, precision: auto`` (int8 on a CPU
with int8 dot products, else the faster of fp32 and int8 as timed here: the ratio against that one is the goal's); for
the learned forecasters,
``backend: onnxruntime`` with the lite decoder. Also printed: what the node adds outside the goal's definition (the
online consistency score and the overlays, computed only while someone subscribes).

    python benchmarks/bench_forecast_cost.py [--sizes 256x512,512x1024] [--frames 12] [--threads 1] [--json OUT]

The learned forecasters and their decoders have random weights on a random SwiftNet ResNet-18's features (cost does
not depend on the weights); camera image = model input size. The camera frames and
the newest labels are a drive of the synthetic world (flow and projection cost depend on the scene: random frames
are the hard case for DIS), or random when this machine cannot render.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import passive_openmp, stamp_cpu  # noqa: E402

passive_openmp()  # before torch loads
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from swiftcast.forecast.motion import DEFAULT_PRESET, DEFAULT_PROJECTION_WIDTH  # noqa: E402
from swiftcast.runtime.segmenter import auto_precision  # noqa: E402
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT  # noqa: E402

GOAL = 0.10
#: skip-less decoder widths compared (stride 32 -> 16 -> 8 -> 4)
DECODERS: dict[str, tuple[int, ...]] = {"full": (128, 128, 128), "lite": (64, 32, 16)}
FORECAST_BACKENDS = ("torch", "onnxruntime")
FLOW = f"forecast flow extrapolation ({DEFAULT_PRESET}, grid {DEFAULT_PROJECTION_WIDTH})"
FLOW_FULL = f"forecast flow extrapolation ({DEFAULT_PRESET}, camera size)"
SEGMENT_ORT = "segment onnxruntime "


def deployed_segmentation(seg_ms: dict[str, dict[str, float]]) -> str:
    """The segmentation ``precision: auto`` runs on this CPU: int8 with int8 dot products, else the faster of the
    two by the CPU times measured here (as the semseg node times them at start)."""
    return SEGMENT_ORT + auto_precision({p: seg_ms[SEGMENT_ORT + p]["cpu"] for p in ("fp32", "int8")})[0]


def _checkpoints(tmp: Path, size: tuple[int, int]) -> dict[str, tuple[Path, list[Path]]]:
    """decoder name -> (segmentation checkpoint with that decoder, [short, mid] forecasters for its features)."""
    from swiftcast.forecast.decoder import build_forecast_decoder
    from swiftcast.models import build_forecaster, build_model, save_checkpoint

    out = {}
    for name, widths in DECODERS.items():
        torch.manual_seed(0)
        seg = save_checkpoint(tmp / f"seg_{name}", build_model("swiftnet_rn18"), {"input_size": list(size)},
                              decoder=build_forecast_decoder(widths=widths))
        seg_id = json.loads((seg / "config.json").read_text())["model_id"]
        forecasters = [save_checkpoint(tmp / f"{name}_{horizon}", build_forecaster("deform_f2f8"), {
            "method": "deform_f2f8", "horizon_frames": frames, "feature_model_id": seg_id, "input_size": list(size)})
            for horizon, frames in (("short", 3), ("mid", 9))]
        out[name] = (seg, forecasters)
    return out


def _int8_segmenter(checkpoint: Path, size: tuple[int, int], threads: int, cache: Path):
    """Segmenter on ONNX Runtime int8, the export quantised with random calibration frames (speed only)."""
    from swiftcast.runtime import onnx_export as ox
    from swiftcast.runtime.segmenter import Segmenter

    config = json.loads((checkpoint / "config.json").read_text())
    fp32 = ox.ensure_export(checkpoint, *_load(checkpoint), size, "fp32", ox.ExportRequest(cache_dir=cache))
    rng = np.random.default_rng(0)
    frames = [rng.standard_normal((1, 3, *size)).astype(np.float32) for _ in range(4)]
    ox.quantize_int8(fp32, cache / ox.export_name(config["model_id"], size, "int8"), frames)
    return Segmenter(checkpoint, backend="onnxruntime", precision="int8", num_threads=threads, input_size=size,
                     export=ox.ExportRequest(cache_dir=cache))


def _load(checkpoint: Path):
    from swiftcast.models import load_checkpoint

    return load_checkpoint(checkpoint)


class _Timer:
    """Wall and CPU milliseconds per name, over interleaved rounds."""

    def __init__(self, names: list[str]) -> None:
        self.wall: dict[str, list[float]] = {n: [] for n in names}
        self.cpu: dict[str, list[float]] = {n: [] for n in names}

    def run(self, calls: dict[str, Callable[[], object]], rounds: int, warmup: int = 2) -> None:
        names = list(calls)
        for r in range(-warmup, rounds):
            shift = r % len(names)  # rotate the order so no call always follows the same one
            for name in names[shift:] + names[:shift]:
                t0, c0 = time.perf_counter(), time.process_time()
                calls[name]()
                if r >= 0:
                    self.wall[name].append((time.perf_counter() - t0) * 1e3)
                    self.cpu[name].append((time.process_time() - c0) * 1e3)

    def median(self, name: str) -> dict[str, float]:
        return {"wall": round(statistics.median(self.wall[name]), 2), "cpu": round(statistics.median(self.cpu[name]), 2)}


def _drive(size: tuple[int, int], count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` consecutive RGB frames of a synthetic drive and their true labels (random ones where this machine
    cannot render: the flow then costs more than on real footage)."""
    h, w = size
    try:
        from swiftcast.synth.render import Renderer
        from swiftcast.synth.sequences import FRAMES_PER_SEQUENCE, render_sequence

        drive = list(render_sequence(Renderer(h, w), h, w, 0, "test", 0, frames=min(count, FRAMES_PER_SEQUENCE)))
        return [rgb for _, rgb, _ in drive], [labels for _, _, labels in drive]
    except Exception as exc:  # no OpenGL here
        print(f"cannot render the synthetic world ({exc}): random camera frames", file=sys.stderr)
        rng = np.random.default_rng(0)
        return ([rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(count)],
                [rng.integers(0, 19, (h, w), dtype=np.uint8) for _ in range(count)])


def bench(size: tuple[int, int], frames: int, threads: int) -> dict:
    from swiftcast.data.labels import colorize_train_ids
    from swiftcast.forecast.decoder import load_forecast_decoder
    from swiftcast.forecast.forecaster import SemanticForecaster
    from swiftcast.forecast.motion import FLOW_SPAN_FRAMES, FlowExtrapolation, FrameMotion
    from swiftcast.forecast.online import ConsistencyScorer
    from swiftcast.forecast.protocol import FRAME_PERIOD_NS
    from swiftcast.runtime.onnx_export import ExportRequest
    from swiftcast.runtime.segmenter import Segmenter

    with tempfile.TemporaryDirectory(prefix="swiftcast-forecast-cost-") as tmp_name:
        tmp = Path(tmp_name)
        cache = tmp / "onnx"
        checkpoints = _checkpoints(tmp, size)
        shipped = Path(DEFAULT_SEGMENTATION_CHECKPOINT)
        # segmentation never runs the skip-less decoder: either random checkpoint, where the shipped one is missing
        seg_path = shipped if (shipped / "config.json").is_file() else checkpoints["lite"][0]
        segmenters = {"segment torch": Segmenter(seg_path, num_threads=threads, input_size=size),
                      "segment onnxruntime fp32": Segmenter(seg_path, backend="onnxruntime", num_threads=threads,
                                                            input_size=size, export=ExportRequest(cache_dir=cache)),
                      "segment onnxruntime int8": _int8_segmenter(seg_path, size, threads, cache)}
        feature_source = Segmenter(checkpoints["lite"][0], num_threads=threads)  # the random forecasters' features
        forecasters: dict[str, list[SemanticForecaster]] = {}
        for decoder, (seg, paths) in checkpoints.items():
            skipless, config = load_forecast_decoder(seg)
            for backend in FORECAST_BACKENDS:
                forecasters[f"forecast {backend}, {decoder} decoder"] = [
                    SemanticForecaster(p, skipless, config, backend=backend, num_threads=threads, cache_dir=cache)
                    for p in paths]
        images, drive_labels = _drive(size, frames + 4)
        past = [feature_source(images[i % 4]).features for i in range(4)]

        calls: dict[str, Callable[[], object]] = {}
        frame = [0]

        def segment(s: Segmenter) -> Callable[[], object]:
            def call() -> object:
                frame[0] += 1
                return s(images[frame[0] % 4])
            return call

        calls.update({name: segment(s) for name, s in segmenters.items()})
        calls.update({name: (lambda fs=fs: [f(past, size) for f in fs]) for name, fs in forecasters.items()})
        def flow_call(projection_width: int | None) -> Callable[[], object]:
            """Per call, the next camera frame in, its flow (what the node does once per frame) and both horizons."""
            motion = FrameMotion(FLOW_SPAN_FRAMES * FRAME_PERIOD_NS, projection_width=projection_width)
            motion.add_frame(0, images[0])
            count = [0]

            def call() -> object:
                count[0] += 1
                stamp = count[0] * FRAME_PERIOD_NS
                motion.add_frame(stamp, images[count[0] % len(images)])
                m = motion.motion(stamp)
                newest_labels = drive_labels[count[0] % len(images)]
                return [FlowExtrapolation.forecast(newest_labels, m, k * FRAME_PERIOD_NS) for k in (3, 9)]
            return call

        calls[FLOW] = flow_call(DEFAULT_PROJECTION_WIDTH)
        calls[FLOW_FULL] = flow_call(None)
        timer = _Timer(list(calls))
        timer.run(calls, frames)

        # what the node adds per frame outside the goal's "forecast + decode"
        labels = [f(past, size).labels for f in forecasters["forecast torch, lite decoder"]]
        scorers = [ConsistencyScorer(FRAME_PERIOD_NS // 2) for _ in labels]

        def score() -> None:
            for s, lab in zip(scorers, labels):
                s.add_forecast(0, lab)
                s.add_reference(0, labels[0])
                s.reset()

        extras = _Timer(["online_score", "overlays_if_subscribed"])
        extras.run({"online_score": score,
                    "overlays_if_subscribed": lambda: [colorize_train_ids(lab) for lab in labels]}, frames)

    seg = {name: timer.median(name) for name in segmenters}
    result: dict = {"size": f"{size[0]}x{size[1]}", "frames": frames, "threads": threads, "goal": GOAL,
                    "decoders": {k: list(v) for k, v in DECODERS.items()},
                    "segment_ms_median": seg, "forecast_both_horizons_ms_median": {}, "ratio_cpu": {}}
    for name in [FLOW, FLOW_FULL, *forecasters]:
        ms = timer.median(name)
        result["forecast_both_horizons_ms_median"][name] = ms
        result["ratio_cpu"][name] = {s: round(ms["cpu"] / seg[s]["cpu"], 4) for s in segmenters}
    deployed_seg = deployed_segmentation(seg)
    deployed = result["ratio_cpu"][FLOW][deployed_seg]
    result["segmentation_model"] = str(seg_path)
    result["deployed"] = {"segmentation": deployed_seg, "forecast": FLOW, "ratio_cpu": deployed,
                          "met": deployed <= GOAL,
                          "against_int8": result["ratio_cpu"][FLOW]["segment onnxruntime int8"]}
    result["node_extras_cpu_ms_both_horizons"] = {n: extras.median(n)["cpu"] for n in extras.cpu}
    return result


def report(r: dict) -> None:
    seg = r["segment_ms_median"]
    print(f"{r['size']} ({r['threads']} thread(s)), segmentation model {r['segmentation_model']}, CPU ms per frame "
          "(wall in brackets):")
    for name, ms in seg.items():
        print(f"  {name:<42} {ms['cpu']:7.1f} ({ms['wall']:.1f})")
    names = list(seg)
    print(f"  {'forecast, both horizons':<42} {'ms':>7}  " + "  ".join(f"/ {n.split(' ', 1)[1]:<16}" for n in names))
    for name, ms in r["forecast_both_horizons_ms_median"].items():
        ratios = "  ".join(f"{r['ratio_cpu'][name][n]:18.3f}" for n in names)
        print(f"  {name:<42} {ms['cpu']:7.1f}  {ratios}")
    d = r["deployed"]
    print(f"  deployed pairing ({d['forecast']} / {d['segmentation']}, what precision: auto picks on this CPU): "
          f"{d['ratio_cpu']:.3f} (goal <= {GOAL:g}: {'met' if d['met'] else 'not met'}); against int8 "
          f"segmentation {d['against_int8']:.3f}")
    extras = r["node_extras_cpu_ms_both_horizons"]
    print("  node extras outside the goal, CPU ms for both horizons: "
          + ", ".join(f"{k} {v:.1f}" for k, v in extras.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256x512,512x1024", help="comma-separated HxW (default 256x512,512x1024)")
    parser.add_argument("--frames", type=int, default=12, help="timed rounds per configuration (default 12)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for every runtime (default 1: the forecast node's num_threads default)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)  # the optical flow's, as the forecast node sets it
    results = []
    for text in args.sizes.split(","):
        h, w = (int(v) for v in text.lower().split("x"))
        results.append(bench((h, w), args.frames, args.threads))
        report(results[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        stamp_cpu(Path(args.json))  # every result names the CPU it ran on
    return 0


if __name__ == "__main__":
    sys.exit(main())
