"""``swiftcast replay INPUT --out DIR``: replay a bag, a video or an image folder through the live stack and score
it (:mod:`swiftcast.replay.pipeline`). Exit status 1 when the stack died mid-way (the part recorded is scored)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", metavar="INPUT", help="a rosbag2 bag (a directory with metadata.yaml, or an .mcap / "
                        ".db3 file), a video file (mp4, avi, mkv, mov, ...: what OpenCV reads) or a folder of images "
                        "(played in name order)")
    parser.add_argument("--fps", type=float, help="frame rate of a video (default: the container's) or of an image "
                        "folder (required there); frames are stamped 1/fps apart")
    parser.add_argument("--out", required=True, type=Path, help="output folder (report.html, metrics.json, ...)")
    parser.add_argument("--topic", help="camera topic (Image or CompressedImage); default: the bag's only image "
                        "topic, /camera/image_raw if there are several")
    parser.add_argument("--labels-topic", help="ground-truth topic (mono8 trainIds); default: /camera/labels if "
                        "present, else none (forecasts are then scored against the stack's own labels)")
    parser.add_argument("--rate", default="1", help="playback speed factor (default 1 = recorded rate), or 'auto': "
                        "the recorded rate, but each frame only after the stack answered the previous one (a slow "
                        "CPU then processes every frame instead of dropping most; the report gives the rate reached)")
    parser.add_argument("--params", help="stack parameter file (default launch/params/perception.yaml)")
    parser.add_argument("--checkpoint", help="segmentation checkpoint (default: the parameter file's)")
    parser.add_argument("--namespace", default="/perception", help="namespace of the stack (default /perception)")
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID of the replay (default: one from the pid)")
    parser.add_argument("--tolerance-ms", type=float, help="stamp matching tolerance (default: 40%% of the frame "
                        "period, at most 25 ms)")
    parser.add_argument("--stack-timeout", type=float, default=180.0, help="seconds to wait for the stack to come "
                        "up and answer its first frame (default 180)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from swiftcast.replay.pipeline import format_summary, replay

    result = replay(
        args.bag, args.out, topic=args.topic, labels_topic=args.labels_topic, fps=args.fps, rate=args.rate,
        params=args.params,
        checkpoint=args.checkpoint, namespace=args.namespace, domain_id=args.domain_id,
        tolerance_ms=args.tolerance_ms, stack_timeout=args.stack_timeout, progress=not args.no_progress,
        command="swiftcast replay " + " ".join(shlex.quote(a) for a in sys.argv[2:]),
    )
    print(format_summary(result.metrics))
    print(f"report: {result.report}")
    if not result.run.ok:
        print(f"swiftcast replay: partial result: {result.run.message}", file=sys.stderr)
        return 1
    return 0
