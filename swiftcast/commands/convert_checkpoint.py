"""``swiftcast convert-checkpoint CKPT ...``: older segmentation checkpoints -> the current layout.

Checkpoints made while the skip-less forecast decoder was part of the segmentation model hold its tensors in
``weights.safetensors``. They load as they are; this rewrites them in place with the decoder in
``forecast_decoder.safetensors``, so ``weights.safetensors`` is SwiftNet alone. The tensors and the ``model_id``
stay the same, so forecasters keep matching and ONNX exports stay cached
(:func:`swiftcast.models.checkpoint.convert_checkpoint`).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", type=Path, metavar="CKPT", help="checkpoint folders to convert")


def main(args: argparse.Namespace) -> int:
    from swiftcast.models.checkpoint import convert_checkpoint

    for path in args.checkpoints:
        print(f"{path}: {'converted' if convert_checkpoint(path) else 'already current (nothing to do)'}")
    return 0
