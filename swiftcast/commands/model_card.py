"""``swiftcast model-card``: write a checkpoint's model card from its config and an eval JSON
(:mod:`swiftcast.model_card`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint folder (config.json + weights.safetensors)")
    parser.add_argument("--eval", dest="eval_json", help="JSON written by `swiftcast eval` (segmentation) or `swiftcast eval-forecast` "
                        "(forecasters) on the val split")
    parser.add_argument("--eval-command", default=None, help="the eval command line, quoted in the card")
    parser.add_argument("--out", default=None, help="where to write the card (default: CHECKPOINT/README.md)")
    parser.add_argument("--reproduce", default=None,
                        help="the script or command that reproduces the checkpoint, named in the card "
                             "(default: runs/<checkpoint name>.sh when that file exists)")
    parser.add_argument("--appendix", action="append", default=[], metavar="MARKDOWN",
                        help="a Markdown file appended to the card (e.g. an ablation table); repeatable")


def main(args: argparse.Namespace) -> int:
    from swiftcast.model_card import write_model_card

    out = write_model_card(args.checkpoint, eval_json=args.eval_json, eval_command=args.eval_command,
                           out=args.out, reproduce=args.reproduce, appendix=args.appendix)
    print(f"wrote {out}")
    return 0
