"""Forecasts at any camera rate: the same synthetic drive at 10, 15, 17, 20 and 30 Hz through the live stack.

    source tools/ros_env.sh
    python benchmarks/bench_camera_rate.py [--rates 10 15 17 20 30] [--seconds 20] [--size 256x512] [--json OUT]

For each rate F: ``swiftcast synth-bag --fps F`` writes the drive (same seed and length: the same world sampled at
other instants), ``swiftcast replay`` plays it through ``swiftcast stack`` in real time (``--rate 1``; a CPU slower
than the camera drops frames as it would on the car), and the recording is scored. Per rate it prints:

- the share of the camera's frames the semseg node labelled (it segments the newest frame; a camera faster than
  the model loses the frames that came meanwhile);
- the share of frames with forecasts at both horizons: of all frames, of those the semseg node labelled (a frame
  without labels has nothing to forecast from), and of all frames at least 9P + 2P into the drive (earlier frames
  cannot have the t-9P input);
- forecast mIoU and copy-last mIoU (the single-frame labels of the source frame) per horizon, on the same pairs
  against the ground truth nearest the target time. Scoring tolerance: half the camera period (a 10 Hz camera
  has no frame within 25 ms of t+9P; the reference is then up to 50 ms from the target, for both rows alike).

Flow extrapolation (the default) uses the stored frame nearest one period P = 1/17 s back and counts the horizon in
spans of the actual time between the two frames; the learned forecasters were trained at 17 Hz and use a frame
within P/2 of t-3P, t-6P, t-9P, else interpolate between the two frames around it (docs/forecasting.md, "Camera
rates"). Results go to
``benchmarks/results/bench_camera_rate.json`` with the CPU they ran on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "bench_camera_rate.json"
P_S = 1.0 / 17.0


def _cli(*args: str) -> None:
    cmd = [sys.executable, "-m", "swiftcast.cli", *args]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}):\n{(res.stdout + res.stderr)[-3000:]}")


def measure_rate(fps: float, seconds: float, size: str, seed: int, work: Path, params: str | None) -> dict:
    """Write the drive at ``fps``, replay it in real time and score it (see the module docstring)."""
    from swiftcast.replay.bag import read_label_maps
    from swiftcast.replay.frames import inspect_input
    from swiftcast.replay.score import load_outputs

    bag, out = work / f"drive_{fps:g}hz", work / f"replay_{fps:g}hz"
    _cli("synth-bag", "--out", str(bag), "--fps", f"{fps:g}", "--seconds", f"{seconds:g}", "--size", size,
         "--seed", str(seed), "--quiet", "--force")
    tolerance_ms = 500.0 / fps
    t0 = time.perf_counter()
    _cli("replay", str(bag), "--out", str(out), "--rate", "1", "--tolerance-ms", f"{tolerance_ms:.3f}",
         "--no-progress", *(["--params", params] if params else []))
    wall = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    outputs = load_outputs(out / "outputs.mcap")
    labelled = sorted(set(read_label_maps(inspect_input(bag, None, None, None))) & set(outputs.played))
    sources = {h: {f.source_ns for f in items} for h, items in outputs.forecasts.items()}
    both = [s for s in labelled if all(s in sources.get(h, ()) for h in ("short", "mid"))]
    segmented = [s for s in labelled if s in outputs.labels]  # frames the semseg node answered
    warm = [s for s in labelled if s - labelled[0] >= (11 * P_S) * 1e9] if labelled else []
    row: dict = {
        "fps": fps,
        "frames_labelled": len(labelled),
        "frames_answered": metrics["frames"]["answered"],
        "frames_segmented": len(segmented),
        "share_segmented": len(segmented) / len(labelled) if labelled else None,
        "share_both_horizons": len(both) / len(labelled) if labelled else None,
        "share_of_segmented_both_horizons": len(both) / len(segmented) if segmented else None,
        "share_both_horizons_after_11P": (len([s for s in both if s in set(warm)]) / len(warm)) if warm else None,
        "scoring_tolerance_ms": round(tolerance_ms, 3),
        "replay_wall_s": round(wall, 1),
        "interpolated_inputs": next((v.get("interpolated_inputs") for k, v in (metrics.get("diagnostics") or {}).items()
                                     if "forecast" in k and "interpolated_inputs" in v), None),
    }
    for h in ("short", "mid"):
        r = (metrics.get("horizons") or {}).get(h) or {}
        fc, cl = r.get("forecast") or {}, r.get("copy_last") or {}
        row[h] = {"forecasts": r.get("forecasts_received", 0), "pairs_scored": r.get("pairs_scored", 0),
                  "forecast_miou": fc.get("miou"), "copy_last_miou": cl.get("miou")}
    return row


def _pct(v: float | None) -> str:
    return "  n/a" if v is None else f"{100 * v:5.1f}"


def format_rows(rows: list[dict]) -> str:
    head = (f"{'rate':>6} {'frames':>7} {'seg %':>6} {'both %':>7} {'of seg':>7} {'both % >11P':>12} | "
            + " | ".join(f"{h + ' fc':>9} {'copy':>6} {'diff':>6}" for h in ("short", "mid")))
    lines = [head, "-" * len(head)]
    for r in rows:
        line = (f"{r['fps']:>4g}Hz {r['frames_labelled']:>7} {_pct(r.get('share_segmented')):>6} "
                f"{_pct(r['share_both_horizons']):>7} {_pct(r.get('share_of_segmented_both_horizons')):>7} "
                f"{_pct(r['share_both_horizons_after_11P']):>12} | ")
        cells = []
        for h in ("short", "mid"):
            fc, cl = r[h]["forecast_miou"], r[h]["copy_last_miou"]
            diff = "  n/a" if fc is None or cl is None else f"{100 * (fc - cl):+6.1f}"
            cells.append(f"{_pct(fc):>9} {_pct(cl):>6} {diff:>6}")
        lines.append(line + " | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 15, 17, 20, 30], help="camera rates in Hz")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each drive (default 20 s)")
    parser.add_argument("--size", default="256x512", help="camera image size HxW (default 256x512)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drive (the same for every rate)")
    parser.add_argument("--params", help="stack parameter file (default launch/params/perception.yaml)")
    parser.add_argument("--json", type=Path, default=DEFAULT_OUT, help=f"results file (default {DEFAULT_OUT})")
    parser.add_argument("--keep", type=Path, help="keep bags and replays here (default: a temporary folder)")
    args = parser.parse_args(argv)

    from swiftcast.hardware import cpu_description

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-camera-rate-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for fps in args.rates:
            print(f"{fps:g} Hz: writing a {args.seconds:g} s drive and replaying it in real time ...", flush=True)
            rows.append(measure_rate(fps, args.seconds, args.size, args.seed, work, args.params))
    print(format_rows(rows))
    print("seg % = camera frames the semseg node labelled (it segments the newest frame and drops the ones that "
          "came meanwhile); both % = frames with a short and a mid forecast, of all frames and (of seg) of those the "
          "semseg node labelled (>11P: of all frames at least 9P + 2P into the drive); fc / copy = forecast / "
          "copy-last mIoU on the same pairs, diff = fc - copy (points)")
    result = {
        "benchmark": "bench_camera_rate",
        "cpu": cpu_description(),
        "settings": {"rates_hz": args.rates, "seconds": args.seconds, "size": args.size, "seed": args.seed,
                     "replay_rate": 1, "params": args.params or "launch/params/perception.yaml"},
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
