"""``swiftcast export-onnx``: a checkpoint (segmentation model or forecaster) -> an ONNX file
(:mod:`swiftcast.runtime.export`).

    swiftcast export-onnx --model models/swiftnet_efflite0_synth --out efflite0.onnx --size 256x512
    swiftcast export-onnx --model models/swiftnet_efflite0_synth --precision int8 --size 256x512
    swiftcast export-onnx --model models/swiftnet_efflite0_synth --precision int8 --calib-data data/synth
    swiftcast export-onnx --model models/deform_f2f8_short_synth --out deform_f2f8.onnx
    swiftcast export-onnx --model models/swiftnet_efflite0_synth --precision int8 --activations int8 --out trt.onnx
"""

from __future__ import annotations

import argparse

from swiftcast.errors import SwiftcastError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from swiftcast.runtime import onnx_export as ox  # a torch module: loaded for the parser, not with this one

    parser.add_argument("--model", required=True, help="checkpoint folder (segmentation model or forecaster)")
    parser.add_argument("--out", help="ONNX file to write (default: the export cache the runtime reads, "
                        f"{ox.default_cache_dir()}/<model_id>_<H>x<W>_<precision>.onnx)")
    parser.add_argument("--size", help="image size HxW the graph is exported for (default: the checkpoint's "
                        "input_size; forecasters: features of that image size)")
    parser.add_argument("--precision", choices=ox.PRECISIONS, default="fp32",
                        help="fp32, or int8 (static QDQ, segmentation models only)")
    parser.add_argument("--calib-data", help="Cityscapes-layout folder whose frames calibrate int8 (default: "
                        "frames the synthetic world renders at --size, no folder needed)")
    parser.add_argument("--calib-images", type=int, default=ox.DEFAULT_CALIB_IMAGES,
                        help="number of calibration frames (default: %(default)s)")
    parser.add_argument("--calib-split", default="val", help="split of --calib-data (default: %(default)s)")
    parser.add_argument("--calib-frames", default=ox.DEFAULT_CALIB_FRAMES,
                        help="frames of each snippet of --calib-data used for calibration (default: %(default)s, "
                        "i.e. never the 20th frame that accuracy is measured on)")
    parser.add_argument("--calibration", choices=("minmax", "entropy", "percentile"),
                        default=ox.DEFAULT_QUANT.calibration, help="calibration method (default: %(default)s)")
    parser.add_argument("--activations", choices=("uint8", "int8"), default=ox.DEFAULT_QUANT.activations,
                        help="int8 activation type: uint8 (default; fastest in ONNX Runtime on x86) or int8 "
                        "(symmetric, zero point 0: for TensorRT's explicit quantisation, e.g. trtexec on a Jetson)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = library default)")


def parse_size(text: str) -> tuple[int, int]:
    """``--size HxW``, named in the error."""
    from swiftcast.data.transforms import parse_size as parse

    try:
        return parse(text)
    except (ValueError, SwiftcastError):
        raise SwiftcastError(f"--size {text!r} is not HxW (e.g. 256x512)") from None


def main(args: argparse.Namespace) -> int:
    import torch

    from swiftcast.runtime import onnx_export as ox
    from swiftcast.runtime.export import export_onnx

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    out = export_onnx(
        args.model, out=args.out, size=parse_size(args.size) if args.size else None, precision=args.precision,
        calib_data=args.calib_data, calib_images=args.calib_images, calib_split=args.calib_split,
        calib_frames=args.calib_frames, calibration=args.calibration, activations=args.activations,
    )
    size_mb = out.stat().st_size / 2**20
    print(f"wrote {out} ({size_mb:.1f} MiB, sha256 {ox.file_digest(out)}, precision {args.precision})")
    return 0
