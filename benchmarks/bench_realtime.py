"""Real-time on the CPU: torch eager fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8, side by side in one run.

For SwiftNet EfficientNet-Lite0 (the shipped default), SwiftNet RN-18 (the other shipped checkpoint) and SwiftNet MNV2
at 256x512, 2 threads, batch 1, the runtime's
inference call (``Segmenter.backend.run``: forward + argmax + features; preprocessing is the same for all) is
timed for every configuration **interleaved round by round** (the order rotates each round), so machine load hits
all of them alike and the speed-up ratios hold on a busy machine even when the absolute times do not. ONNX
Runtime's idle threads do not spin (the runtime's default: see ``OnnxRuntimeBackend``); ``--spin`` adds rows with
spinning on, for comparison.

Then the accuracy cost of int8: mIoU of the two shipped checkpoints on the synthetic val split (the 20th frame of
the first ``--val-images`` sequences) for eager, ORT fp32 and ORT int8. int8 is calibrated on other frames of the
same split (positions 0, 7, 14, ... of each snippet; never the scored one). Also printed: what ``precision: auto``
picks for each model on this CPU (int8 with int8 dot products, else the faster of the two exports as timed here).

    python benchmarks/bench_realtime.py [--val-images 50] [--repeats 15] [--threads 2] [--json OUT]

Goals: RN-18 >= 10 Hz, i.e. >= 2.4x eager; MNV2 >= 15 Hz; int8 costs each shipped model <= 1 pp mIoU. Without
``--mnv2 CKPT`` the MNV2 model has random weights (speed does not depend on them; no accuracy row for it).
Without data/synth_v2 (a fresh clone) the val sequences needed are rendered first (``swiftcast synth``, seed 0:
the same sequences).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP: no spinning against ORT's pool

import torch  # noqa: E402

from swiftcast.runtime.bench import environment, prepared_input, random_checkpoint, summarize  # noqa: E402
from swiftcast.runtime.onnx_export import ExportRequest  # noqa: E402
from swiftcast.runtime.paths import project_root  # noqa: E402
from swiftcast.checkout import recorded_path  # noqa: E402
from swiftcast.runtime.segmenter import OnnxRuntimeBackend, Segmenter, auto_precision  # noqa: E402

RN18_GOAL_HZ, RN18_GOAL_SPEEDUP, MNV2_GOAL_HZ, INT8_COST_PP = 10.0, 2.4, 15.0, 1.0
DEFAULT_MODEL = "SwiftNet EfficientNet-Lite0"


def _val_data(data: Path, sequences: int, out: Path) -> Path:
    """``data`` if it has a val split, else the first ``sequences`` val sequences rendered into ``out``."""
    if (data / "leftImg8bit_sequence" / "val").is_dir():
        return data
    if not (out / "leftImg8bit_sequence" / "val").is_dir():
        print(f"{data} has no val split: rendering {sequences} val sequences into {out} ...", flush=True)
        subprocess.run([sys.executable, "-m", "swiftcast.cli", "synth", "--out", str(out), "--split", "val",
                        "--sequences", str(sequences), "--frames", "20", "--seed", "0", "--size", "256x512",
                        "--quiet"], check=True)
    return out


def _configs(name: str, checkpoint: Path, size: tuple[int, int], threads: int, request: ExportRequest,
             spin: bool = False) -> dict[str, Segmenter | Any]:
    """The compared runtimes of one model; with ``spin`` also the ORT exports with idle threads spinning."""
    def log(line: str) -> None:
        print(f"  {name}: {line}", flush=True)

    out: dict[str, Any] = {}
    for label, backend, precision in (("torch eager fp32", "torch", "fp32"), ("onnxruntime fp32", "onnxruntime",
                                      "fp32"), ("onnxruntime int8", "onnxruntime", "int8")):
        out[label] = Segmenter(checkpoint, input_size=size, backend=backend, precision=precision,
                               num_threads=threads, export=request, log=log)
    if spin:
        for label in ("onnxruntime fp32", "onnxruntime int8"):
            out[f"{label}, spinning"] = OnnxRuntimeBackend(out[label].onnx_path, "float16", threads, spin=True)
    return out


def _interleaved(calls: dict[str, Callable[[], Any]], warmup: int, repeats: int) -> dict[str, list[float]]:
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    names = list(calls)
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t0 = time.perf_counter()
            calls[k]()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return times


def _miou(segmenters: dict[str, Segmenter], data: Path, images: int) -> dict[str, dict[str, float]]:
    from tqdm import tqdm

    from swiftcast.data.cityscapes import CityscapesDataset
    from swiftcast.metrics import ConfusionMeter

    dataset = CityscapesDataset(data, "val", frames="index:19")
    n = min(images, len(dataset))
    meters = {k: ConfusionMeter() for k in segmenters}
    agree = {k: 0.0 for k in segmenters}
    for i in tqdm(range(n), desc="val mIoU", leave=False, dynamic_ncols=True):
        rgb, label = dataset.load(i)
        ref = None
        for k, seg in segmenters.items():
            pred = seg(rgb, want_features=False).labels
            meters[k].update(pred, label)
            ref = pred if ref is None else ref
            agree[k] += float((pred == ref).mean()) / n
    return {k: {"miou": m.summary()["miou"], "miou_mo": m.summary()["miou_mo"], "agreement_with_eager": agree[k],
                "num_images": n} for k, m in meters.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--default-model", default="models/swiftnet_efflite0_synth",
                        help="the shipped default checkpoint (EfficientNet-Lite0)")
    parser.add_argument("--rn18", default="models/swiftnet_rn18_synth", help="RN-18 checkpoint (shipped model)")
    parser.add_argument("--mnv2", help="MNV2 checkpoint (default: random weights, speed only)")
    parser.add_argument("--size", default="256x512")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (default %(default)s)")
    parser.add_argument("--val-images", type=int, default=50,
                        help="val sequences scored for the int8 accuracy cost (default %(default)s = all; 0 = skip)")
    parser.add_argument("--calib-images", type=int, default=32)
    parser.add_argument("--spin", action="store_true",
                        help="also time the ORT exports with idle threads spinning (ONNX Runtime's own default)")
    parser.add_argument("--data", default="data/synth_v2", help="synthetic data with a val split")
    parser.add_argument("--cache-dir", help="ONNX export cache (default: a fresh temporary folder, so every run "
                        "exports and calibrates from scratch)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    from swiftcast.data.transforms import parse_size

    size = parse_size(args.size)
    root = project_root()
    data = _val_data(root / args.data if not Path(args.data).is_absolute() else Path(args.data),
                     max(args.val_images, 4), root / "out" / "bench" / "synth_val")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="swiftcast-realtime-") as tmp:
        request = ExportRequest(cache_dir=args.cache_dir or Path(tmp) / "cache", calib_data=data,
                                calib_images=args.calib_images)
        mnv2 = Path(args.mnv2) if args.mnv2 else random_checkpoint("swiftnet_mnv2", size, Path(tmp))
        models = {DEFAULT_MODEL: root / args.default_model if not Path(args.default_model).is_absolute()
                  else Path(args.default_model),
                  "SwiftNet RN-18": root / args.rn18 if not Path(args.rn18).is_absolute() else Path(args.rn18),
                  "SwiftNet MNV2": mnv2}
        scored = [DEFAULT_MODEL, "SwiftNet RN-18"] + (["SwiftNet MNV2"] if args.mnv2 else [])
        print(f"exporting and calibrating ({args.calib_images} frames of {data}) ...", flush=True)
        t0 = time.perf_counter()
        runtimes = {name: _configs(name, ckpt, size, args.threads, request, args.spin) for name, ckpt in models.items()}
        prep_s = time.perf_counter() - t0
        results: dict[str, Any] = {"models": {}}
        for name, configs in runtimes.items():
            first = next(iter(configs.values()))
            x = prepared_input(first)
            calls = {k: (lambda c=c: c.backend.run(x, True) if isinstance(c, Segmenter) else c.run(x, True))
                     for k, c in configs.items()}
            times = _interleaved(calls, args.warmup, args.repeats)
            eager = summarize(times["torch eager fp32"])
            rows = {}
            for k, t in times.items():
                s = summarize(t)
                rows[k] = {**s, "speedup_vs_eager": eager["median_ms"] / s["median_ms"],
                           "min_speedup_vs_eager": eager["min_ms"] / s["min_ms"], "times_ms": [round(v, 2) for v in t]}
            auto = _auto_pick(rows)
            results["models"][name] = {"checkpoint": recorded_path(models[name]), "model_id": first.model_id,
                                       "timing": rows, "precision_auto": auto}
        if args.val_images > 0:
            for name in scored:
                segmenters = {k: v for k, v in runtimes[name].items() if isinstance(v, Segmenter)}
                results["models"][name]["accuracy"] = _miou(segmenters, data, args.val_images)

    print(f"\nreal-time at {size[0]}x{size[1]}, batch 1, {args.threads} threads, {args.repeats} interleaved rounds "
          f"(median ms; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    width = max(len(name) for name in results["models"])
    print(f"{'model':{width}s} {'runtime':28s} {'median':>8s} {'p90':>8s} {'Hz':>6s} {'vs eager':>9s} {'min':>7s} "
          f"{'min vs eager':>12s}")
    for name, res in results["models"].items():
        for k, r in res["timing"].items():
            print(f"{name:{width}s} {k:28s} {r['median_ms']:8.1f} {r['p90_ms']:8.1f} {r['hz']:6.1f} "
                  f"{r['speedup_vs_eager']:8.2f}x {r['min_ms']:7.1f} {r['min_speedup_vs_eager']:11.2f}x")
    print("(min = the least-disturbed run: on a loaded machine the closest to what a quiet one gives)")
    for name, res in results["models"].items():
        print(f"precision auto on this CPU, {name}: {res['precision_auto']['precision']} "
              f"({res['precision_auto']['why']})")
    goals = _goals(results)
    results["goals"] = goals
    for g in goals:
        print(f"goal {g['goal']}: measured {g['measured']} -> {'met' if g['met'] else 'NOT met'}")
    for name, res in results["models"].items():
        for k, a in res.get("accuracy", {}).items():
            print(f"{name} {k}: mIoU {100 * a['miou']:.2f} (val, {a['num_images']} images), "
                  f"labels equal to eager on {100 * a['agreement_with_eager']:.2f} % of pixels")
    results.update({
        "size": list(size), "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
        "calibration": {"data": recorded_path(data), "images": args.calib_images, "frames": request.calib_frames,
                        "settings": request.quant.describe()},
        "export_and_calibration_s": round(prep_s, 1), "environment": environment(),
        "timed": "Segmenter.backend.run (forward + argmax + features), interleaved rounds",
    })
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _auto_pick(rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """What the semseg node's ``precision: auto`` runs on this CPU, given the ORT rows just timed."""
    precision, why = auto_precision({p: rows[f"onnxruntime {p}"]["median_ms"] for p in ("fp32", "int8")})
    return {"precision": precision, "why": why}


def _goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals against the best runtime of each model."""
    out = []
    rn18 = results["models"]["SwiftNet RN-18"]
    best = max(rn18["timing"].items(), key=lambda kv: kv[1]["hz"])
    out.append({"goal": f"RN-18 >= {RN18_GOAL_SPEEDUP}x eager", "runtime": best[0],
                "measured": f"{best[1]['speedup_vs_eager']:.2f}x ({best[0]})",
                "met": best[1]["speedup_vs_eager"] >= RN18_GOAL_SPEEDUP})
    out.append({"goal": f"RN-18 >= {RN18_GOAL_HZ:g} Hz", "runtime": best[0],
                "measured": f"{best[1]['hz']:.1f} Hz ({best[0]})", "met": best[1]["hz"] >= RN18_GOAL_HZ})
    mn = max(results["models"]["SwiftNet MNV2"]["timing"].items(), key=lambda kv: kv[1]["hz"])
    out.append({"goal": f"MNV2 >= {MNV2_GOAL_HZ:g} Hz", "runtime": mn[0], "measured": f"{mn[1]['hz']:.1f} Hz ({mn[0]})",
                "met": mn[1]["hz"] >= MNV2_GOAL_HZ})
    for name, entry in results["models"].items():
        acc = entry.get("accuracy")
        if acc:
            cost = 100 * (acc["onnxruntime fp32"]["miou"] - acc["onnxruntime int8"]["miou"])
            out.append({"goal": f"int8 costs {name} <= {INT8_COST_PP:g} pp mIoU", "measured": f"{cost:+.2f} pp",
                        "met": cost <= INT8_COST_PP})
    return out


if __name__ == "__main__":
    sys.exit(main())
