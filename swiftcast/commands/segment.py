"""``swiftcast segment INPUT... --out DIR``: segment images, image folders and videos (labels, overlays, confidence)
(:mod:`swiftcast.runtime.segment`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders of images, video files")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--checkpoint", help="segmentation checkpoint (default: the stack's, the semseg checkpoint "
                        "of launch/params/perception.yaml)")
    parser.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                        help="inference engine (onnxruntime exports the model on first use and caches it)")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="int8 needs onnxruntime")
    parser.add_argument("--size", help="model input size HxW (default: the checkpoint's); outputs keep the "
                        "input's size")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = library default)")
    parser.add_argument("--confidence", action="store_true", help="also write the per-pixel confidence")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the class colours in overlays (0..1)")
    parser.add_argument("--fps", type=float, help="frame rate of videos whose container does not give one")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from swiftcast.data.transforms import parse_size
    from swiftcast.runtime.segment import segment_inputs

    segment_inputs(
        args.inputs, args.out, checkpoint=args.checkpoint, backend=args.backend, precision=args.precision,
        size=parse_size(args.size) if args.size else None, device=args.device, threads=args.threads,
        confidence=args.confidence, alpha=args.alpha, fps=args.fps, progress=not args.no_progress,
    )
    return 0
