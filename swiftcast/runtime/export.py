"""``swiftcast export-onnx``: a checkpoint (segmentation model or forecaster) -> an ONNX file.

    swiftcast export-onnx --model models/swiftnet_efflite0_synth --out efflite0.onnx --size 256x512
    swiftcast export-onnx --model models/swiftnet_efflite0_synth --precision int8 --size 256x512
    swiftcast export-onnx --model models/swiftnet_efflite0_synth --precision int8 --calib-data data/synth
    swiftcast export-onnx --model models/deform_f2f8_short_synth --out deform_f2f8.onnx
    swiftcast export-onnx --model models/swiftnet_efflite0_synth --precision int8 --activations int8 --out trt.onnx

Without ``--out`` the file goes into the export cache, where the runtime (``backend: onnxruntime``) finds it; an
int8 export made this way is what the semseg node with ``precision: int8`` (or ``auto`` on a CPU with int8 dot
products) uses. int8 calibrates on frames the synthetic world renders at the export size unless ``--calib-data``
names a folder. The fp32 export is checked
against torch on a random input before the command returns (max |difference| printed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.runtime import onnx_export as ox


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def _size(args: argparse.Namespace, config: dict) -> tuple[int, int]:
    from swiftcast.data.transforms import parse_size
    from swiftcast.runtime.segmenter import check_input_size

    if args.size:
        try:
            size = parse_size(args.size)
        except (ValueError, SwiftcastError):
            raise SwiftcastError(f"--size {args.size!r} is not HxW (e.g. 256x512)") from None
    else:
        size = config.get("input_size")
        if not size:
            raise CheckpointError(f"{args.model}: config has no input_size; pass --size HxW")
    checked = check_input_size(list(size))
    assert checked is not None
    return checked


def _parity(model: torch.nn.Module, config: dict, path: Path, size: tuple[int, int]) -> float:
    """Max |ONNX - torch| over all outputs on one random input (fp32 exports only)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    if config.get("kind", "segmentation") == "segmentation":
        inputs = (torch.randn(1, 3, *size, generator=gen),)
        with torch.inference_mode():
            expected = model.forward_with_features(*inputs)
    else:
        shape = (1, int(getattr(model, "in_channels", 128)), *ox.feature_size(size))
        inputs = tuple(torch.randn(*shape, generator=gen) for _ in range(int(getattr(model, "num_past", 4))))
        with torch.inference_mode():
            expected = (model(torch.cat(inputs, dim=1)),)
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
    got = session.run(None, feeds)
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))


def main(args: argparse.Namespace) -> int:
    from swiftcast.models import load_checkpoint
    from swiftcast.runtime.paths import resolve_user_path

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.calib_images < 1:
        raise SwiftcastError(f"--calib-images must be >= 1 (got {args.calib_images})")
    path = resolve_user_path(args.model)
    if not path.exists():
        raise CheckpointError(f"checkpoint {args.model} not found (looked at {path})")
    model, config = load_checkpoint(path)
    size = _size(args, config)
    kind = config.get("kind", "segmentation")
    if args.precision == "int8" and kind != "segmentation":
        raise SwiftcastError("--precision int8 is for segmentation models; export forecasters in fp32")
    model_id = str(config.get("model_id", ""))
    out = Path(args.out) if args.out else Path(ox.default_cache_dir()) / ox.export_name(model_id, size,
                                                                                          args.precision)
    if out.suffix != ".onnx":
        raise SwiftcastError(f"--out {out} should end in .onnx")
    if args.precision == "fp32":
        print(f"exporting {model_id} ({kind}) at {size[0]}x{size[1]} ...", flush=True)
        ox.export_fp32(model, config, out, size)
        diff = _parity(model, config, out, size)
        print(f"max |onnxruntime - torch| on a random input: {diff:.2e}")
    else:
        from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD

        norm = config.get("normalization") or {}
        mean, std = norm.get("mean", CITYSCAPES_MEAN), norm.get("std", CITYSCAPES_STD)
        if args.calib_data:
            data = resolve_user_path(args.calib_data)
            if not data.exists():
                raise SwiftcastError(f"calibration data {data} not found (--calib-data DIR: a Cityscapes-layout "
                                     "folder, e.g. from 'swiftcast synth'; without it frames are rendered)")
            frames = ox.calibration_frames(data, size, mean, std, args.calib_images, args.calib_split,
                                           args.calib_frames)
            source = f"frames of {data}"
        else:
            print(f"rendering {args.calib_images} synthetic calibration frames at {size[0]}x{size[1]} ...", flush=True)
            frames = ox.rendered_calibration_frames(size, mean, std, args.calib_images)
            source = "rendered synthetic frames"
        import tempfile

        with tempfile.TemporaryDirectory(prefix="swiftcast-export-") as tmp:
            print(f"exporting {model_id} at {size[0]}x{size[1]} (fp32) ...", flush=True)
            fp32 = ox.export_fp32(model, config, Path(tmp) / "fp32.onnx", size)
            print(f"quantising to int8 on {len(frames)} {source} ({args.calibration}) ...", flush=True)
            settings = ox.QuantSettings(**{**ox.DEFAULT_QUANT.__dict__, "calibration": args.calibration,
                                           "activations": args.activations})
            ox.quantize_int8(fp32, out, frames, settings)
    size_mb = out.stat().st_size / 2**20
    print(f"wrote {out} ({size_mb:.1f} MiB, sha256 {ox.file_digest(out)}, precision {args.precision})")
    return 0
