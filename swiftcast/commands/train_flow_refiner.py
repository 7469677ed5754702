"""``swiftcast train-flow-refiner``: the refiner of flow-extrapolated forecasts (:mod:`swiftcast.train.flow_refiner`)."""

from __future__ import annotations

import argparse

from swiftcast.commands.run_options import add_run_options
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True,
                        help="Cityscapes-layout folder with leftImg8bit_sequence/train (and gtFine for the targets)")
    parser.add_argument("--seg-model", default=DEFAULT_SEGMENTATION_CHECKPOINT,
                        help="frozen segmentation checkpoint whose labels are forecast "
                             f"(default: {DEFAULT_SEGMENTATION_CHECKPOINT})")
    parser.add_argument("--flow-preset", default="ultrafast", help="DIS preset, as the forecast node's flow_preset "
                        "(default: ultrafast)")
    parser.add_argument("--out", required=True, help="checkpoint folder to write (weights, config, training state)")
    parser.add_argument("--iters", type=int, default=3000, help="training iterations (default: 3000)")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per iteration (default: 8)")
    parser.add_argument("--class-weights", choices=("none", "balanced"), default="none",
                        help="balanced: weight the loss of each class by its pixel frequency^-0.5 (the score is a "
                             "mean over classes, the pixels are mostly road); none: plain cross-entropy "
                             "(default: none; balanced lost 1.2-1.6 mIoU points at t+3 on the synthetic val)")
    parser.add_argument("--lr", type=float, default=2e-3, help="learning rate (default: 2e-3)")
    parser.add_argument("--min-lr", type=float, default=1e-5, help="end of the cosine schedule (default: 1e-5)")
    parser.add_argument("--wd", type=float, default=1e-4, help="weight decay (default: 1e-4)")
    add_run_options(parser, save_every=250, val="the val split's protocol windows",
                    cache="where the samples are cached (default: <data>/.cache/flow_refiner)")

def main(args: argparse.Namespace) -> int:
    from swiftcast.train.flow_refiner import run_training

    run_training(args)
    return 0
