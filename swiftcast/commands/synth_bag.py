"""``swiftcast synth-bag``: a continuous synthetic drive written as a rosbag2 bag (:mod:`swiftcast.synth.bag`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from swiftcast.synth.bag import CAMERA_TOPIC
from swiftcast.synth.world import FPS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="bag to create (a rosbag2 directory)")
    parser.add_argument("--seconds", type=float, default=25.0, help="length of the drive (default 25 s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drive")
    parser.add_argument("--fps", type=float, default=FPS,
                        help=f"camera frame rate in Hz (default {FPS:g}, the forecasters' training rate)")
    parser.add_argument("--size", default="256x512", help="image size HEIGHTxWIDTH (default 256x512)")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="rosbag2 storage plugin")
    parser.add_argument("--compressed", choices=("jpeg", "png"), default=None,
                        help=f"write {CAMERA_TOPIC}/compressed (sensor_msgs/CompressedImage) instead of raw bgr8")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from swiftcast.data.transforms import parse_size
    from swiftcast.synth.bag import write_drive_bag

    size = parse_size(args.size)
    info = write_drive_bag(args.out, args.seconds, args.seed, size, storage=args.storage,
                           compressed=args.compressed, force=args.force, progress=not args.quiet, fps=args.fps)
    print(f"wrote {info['bag']}: {info['frames']} frames ({info['duration_s']:.1f} s at {info['fps']:g} Hz, "
          f"{size[0]}x{size[1]}, {info['storage']}); topics: {', '.join(info['topics'])}")
    return 0
