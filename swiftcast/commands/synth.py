"""``swiftcast synth``: write synthetic driving sequences in the Cityscapes layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from swiftcast.synth.sequences import FRAMES_PER_SEQUENCE, SPLIT_CODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="dataset root (leftImg8bit_sequence/ and gtFine/)")
    parser.add_argument("--split", required=True, choices=sorted(SPLIT_CODES), help="split to write")
    parser.add_argument("--sequences", type=int, required=True, help="number of 30-frame sequences")
    parser.add_argument("--seed", type=int, default=0, help="master seed (train and val derive disjoint streams)")
    parser.add_argument("--size", default="256x512", help="image size HEIGHTxWIDTH (default 256x512)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes, one OpenGL context each (use the number of free cores)")
    parser.add_argument("--start", type=int, default=0,
                        help="index of the first sequence (to extend a split; sequence k is the same either way)")
    parser.add_argument("--frames", type=int, default=FRAMES_PER_SEQUENCE,
                        help=f"frames per sequence, a prefix of the {FRAMES_PER_SEQUENCE}-frame sequence "
                             "(for quick tests)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from swiftcast.data.transforms import parse_size
    from swiftcast.synth.sequences import generate_split

    size = parse_size(args.size)
    summary = generate_split(args.out, args.split, args.sequences, args.seed, size, workers=args.workers,
                             frames=args.frames, start=args.start, progress=not args.quiet)
    n = summary["sequences"] * summary["frames_per_sequence"]
    wall = summary["wall_time_s"]
    print(f"wrote {n} frames ({summary['sequences']} sequences, {size[0]}x{size[1]}) of split "
          f"{args.split!r} to {args.out} in {wall:.1f} s ({n / max(wall, 1e-9):.1f} frames/s)")
    return 0
