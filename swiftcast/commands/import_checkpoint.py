"""``swiftcast import-checkpoint SRC OUT``: an official SwiftNet release -> a SwiftCast checkpoint
(:mod:`swiftcast.models.official`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", type=Path, help="official state dict (.pt/.pth, read with weights_only=True)")
    parser.add_argument("out", type=Path, help="output checkpoint directory")
    parser.add_argument("--force", action="store_true", help="overwrite an existing checkpoint in OUT")


def main(args: argparse.Namespace) -> int:
    from swiftcast.models.official import import_checkpoint

    config = import_checkpoint(args.src, args.out, force=args.force)
    print(f"wrote {args.out} ({config['model_id']}, {config['num_classes']} classes)")
    print(f"note: the official release has no forecast decoder; add one with 'swiftcast train --stage decoder "
          f"--init {args.out}'", file=sys.stderr)
    return 0
