"""``swiftcast eval-forecast``: the forecasting protocol of Šarić et al. (GCPR 2019), short and mid term, on a val
split (:mod:`swiftcast.eval.forecast`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from swiftcast.forecast.protocol import HORIZONS
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT


def _projection_width(text: str) -> int:
    """--flow-projection-width: 0 or at least 16 (argparse shows the message)."""
    from swiftcast.forecast.runtime import check_projection_width

    try:
        width = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a whole number") from None
    try:
        check_projection_width(width)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return width


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from swiftcast.forecast.motion import DEFAULT_PRESET, DEFAULT_PROJECTION_WIDTH  # OpenCV: for the parser only
    from swiftcast.forecast.motion import PRESETS as FLOW_PRESETS

    parser.add_argument("--data", required=True, help="Cityscapes-layout folder with leftImg8bit_sequence/<split>")
    parser.add_argument("--seg-model", default=DEFAULT_SEGMENTATION_CHECKPOINT,
                        help="segmentation checkpoint: feature extractor and skip-less decoder "
                             f"(default: {DEFAULT_SEGMENTATION_CHECKPOINT})")
    parser.add_argument("--forecasters", nargs="*", metavar="CKPT",
                        help="forecaster checkpoints (default: every one under --models-dir made for --seg-model)")
    parser.add_argument("--models-dir", default="models", help="where shipped checkpoints live (default: models)")
    parser.add_argument("--json", help="write the results here (JSON)")
    parser.add_argument("--split", default="val", help="dataset split (default: val)")
    parser.add_argument("--horizons", nargs="+", choices=tuple(HORIZONS), default=list(HORIZONS))
    parser.add_argument("--decode-scale", type=float, default=1.0, metavar="S",
                        help="decode forecasts as if for an image S times the model's input size, as the forecast "
                             "node's decode_scale parameter does (default: 1, as trained)")
    parser.add_argument("--cache-dir", help="feature cache (default: <data>/.cache/features)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--flow-preset", choices=tuple(FLOW_PRESETS), default=DEFAULT_PRESET,
                        help=f"DIS optical-flow preset of the 'Flow extrapolation' row (default: {DEFAULT_PRESET}, as "
                             "the forecast node)")
    parser.add_argument("--flow-projection-width", type=_projection_width, default=DEFAULT_PROJECTION_WIDTH,
                        metavar="W", help="the 'Flow extrapolation' row projects the labels on a grid at most W wide "
                        f"and reads them back at full size (default: {DEFAULT_PROJECTION_WIDTH}, as the forecast "
                        "node; 0: project at full size)")
    parser.add_argument("--no-flow", action="store_true", help="leave out the 'Flow extrapolation' row")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    import torch

    from swiftcast.eval.forecast import evaluate_forecasting, format_table

    if args.threads:
        torch.set_num_threads(args.threads)
    evaluation = evaluate_forecasting(
        args.data, seg_model=args.seg_model, forecasters=args.forecasters, models_dir=args.models_dir,
        split=args.split, horizons=args.horizons, decode_scale=args.decode_scale, cache_dir=args.cache_dir,
        device=args.device, flow=not args.no_flow, flow_preset=args.flow_preset,
        flow_projection_width=args.flow_projection_width or None, progress=not args.quiet,
    )
    print(evaluation.headline())
    print(format_table(evaluation.results, evaluation.horizons))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n")
        print(f"wrote {path}")
    return 0
