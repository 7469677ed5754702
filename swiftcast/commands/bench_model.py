"""``swiftcast bench-model``: time one model / backend / precision / size / threads configuration
(:mod:`swiftcast.runtime.bench`).

    swiftcast bench-model --model models/swiftnet_efflite0_synth --backend onnxruntime --precision int8 \\
        --size 256x512 --threads 2 --json out/bench/rn18_ort_int8.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from swiftcast.runtime.segmenter import BACKENDS, PRECISIONS

    what = parser.add_mutually_exclusive_group()
    what.add_argument("--model", help=f"checkpoint folder (default: {DEFAULT_SEGMENTATION_CHECKPOINT})")
    what.add_argument("--arch", help="time an untrained architecture instead (e.g. swiftnet_mnv2)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="inference engine")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 | int8 (onnxruntime only) | auto (int8 where the CPU has VNNI/AMX, else the faster "
                        "of the two here)")
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
    from swiftcast.runtime.bench import bench_model, summary_line

    result = bench_model(
        model=args.model, arch=args.arch, backend=args.backend, precision=args.precision,
        size=parse_size(args.size), threads=args.threads, warmup=args.warmup, repeats=args.repeats,
        device=args.device, calib_data=args.calib_data,
    )
    print(summary_line(result))
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return 0
