"""``swiftcast model-info [NAME|CKPT ...] [--size HxW]``: parameters and GMACs of models and checkpoints
(:mod:`swiftcast.models.info`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "targets", nargs="*", metavar="NAME|CKPT", help="model names or checkpoint dirs (default: every model)"
    )
    parser.add_argument("--size", default="1024x2048", help="input image size HxW (default 1024x2048)")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")


def main(args: argparse.Namespace) -> int:
    from swiftcast.data.transforms import parse_size
    from swiftcast.models.info import describe_all, format_rows

    size = parse_size(args.size)
    rows = describe_all(args.targets, size)
    print(format_rows(rows, size))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"size": list(size), "models": rows}, indent=2) + "\n")
    return 0
