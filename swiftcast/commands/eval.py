"""``swiftcast eval``: single-frame mIoU / mIoU-MO of a checkpoint on a Cityscapes-layout folder
(:mod:`swiftcast.eval.evaluate`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from swiftcast.eval.evaluate import HEADS  # a torch module: loaded for the parser, not with this one

    parser.add_argument("--data", required=True, help="Cityscapes-layout folder (leftImg8bit[_sequence]/, gtFine/)")
    parser.add_argument("--model", required=True, help="checkpoint folder (or its weights file)")
    parser.add_argument("--json", required=True, help="where to write the metrics (JSON)")
    parser.add_argument("--split", default="val", help="dataset split (default: val)")
    parser.add_argument("--size", help="model input size HxW (default: the checkpoint's input_size)")
    parser.add_argument("--frames", help="frames of each sequence: all | every:N | index:I (default: all with GT)")
    parser.add_argument("--head", choices=HEADS, default="full",
                        help="full SwiftNet or the skip-less forecast decoder (the forecasting 'oracle')")
    parser.add_argument("--save-predictions", metavar="PRED_DIR",
                        help="write <city>_<seq>_<frame>_pred_labelIds.png (Cityscapes labelIds) here")
    parser.add_argument("--max-images", type=int, help="evaluate only the first N images (quick checks)")
    parser.add_argument("--workers", type=int, help="loader worker processes (default: 1 on <= 2 cores)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (torch.set_num_threads)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")


def main(args: argparse.Namespace) -> int:
    import torch

    from swiftcast.data.transforms import parse_size
    from swiftcast.eval.evaluate import evaluate_checkpoint
    from swiftcast.metrics import format_table

    if args.threads:
        torch.set_num_threads(args.threads)
    result = evaluate_checkpoint(
        args.data, args.model, split=args.split, size=parse_size(args.size) if args.size else None,
        frames=args.frames, head=args.head, save_predictions=args.save_predictions, max_images=args.max_images,
        workers=args.workers, device=args.device,
    )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    print(f"{result['data']['num_images']} images; metrics written to {out}")
    return 0
