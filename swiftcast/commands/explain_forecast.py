"""``swiftcast explain-forecast``: gradient explanation of one forecast pixel (:mod:`swiftcast.eval.explain`)."""

from __future__ import annotations

import argparse

from swiftcast.errors import SwiftcastError
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="Cityscapes-layout folder with leftImg8bit_sequence/")
    parser.add_argument("--sequence", required=True, help="CITY_SEQ, e.g. frankfurt_000001 (or CITY_SEQ_FRAME)")
    parser.add_argument("--pixel", required=True, help="ROW,COL of the forecast pixel, in image pixels")
    parser.add_argument("--horizon", required=True, choices=("short", "mid"))
    parser.add_argument("--out", required=True, help="folder for the figure (PNG) and a JSON summary")
    parser.add_argument("--forecaster", help="forecaster checkpoint (default: the shipped one for --horizon)")
    parser.add_argument("--seg-model", default=DEFAULT_SEGMENTATION_CHECKPOINT,
                        help=f"segmentation checkpoint the forecaster was trained on (default: {DEFAULT_SEGMENTATION_CHECKPOINT})")
    parser.add_argument("--models-dir", default="models", help="where shipped checkpoints live (default: models)")
    parser.add_argument("--split", help="split holding the sequence (default: search val, train, test)")
    parser.add_argument("--target-frame", type=int, default=20,
                        help="1-based frame number of the forecast target (default: 20, as in the forecasting protocol)")
    parser.add_argument("--top", type=float, default=0.01,
                        help="share of pixels (over all input frames) painted red (default: 0.01)")


def parse_pixel(text: str) -> tuple[int, int]:
    """``"ROW,COL"`` -> (row, col)."""
    try:
        row, col = (int(v) for v in text.split(","))
    except ValueError:
        raise SwiftcastError(f"--pixel {text!r} must be ROW,COL (e.g. 300,512)") from None
    return row, col


def main(args: argparse.Namespace) -> int:
    from swiftcast.eval.explain import explain_forecast

    figure = explain_forecast(
        args.data, args.sequence, parse_pixel(args.pixel), args.horizon, args.out, forecaster=args.forecaster,
        seg_model=args.seg_model, models_dir=args.models_dir, split=args.split, target_frame=args.target_frame,
        top=args.top,
    )
    print(f"wrote {figure}")
    return 0
