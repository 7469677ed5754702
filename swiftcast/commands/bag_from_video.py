"""``swiftcast bag-from-video VIDEO OUT``: a video or an image folder written as an mcap bag (camera + info)
(:mod:`swiftcast.replay.video_bag`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", metavar="VIDEO", help="a video file (what OpenCV reads) or a folder of images")
    parser.add_argument("out", metavar="OUT", type=Path, help="bag to create (a rosbag2 directory)")
    parser.add_argument("--fps", type=float, help="frame rate (default: the video's; required for an image folder)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from swiftcast.replay.video_bag import write_bag

    info = write_bag(args.video, args.out, args.fps, args.force, not args.no_progress)
    h, w = info["size"]
    print(f"wrote {info['bag']}: {info['frames']} frames ({w}x{h} bgr8 at {info['fps']:g} fps, mcap); topics: "
          f"{', '.join(info['topics'])}")
    return 0
