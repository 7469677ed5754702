"""``swiftcast stack``: start the semseg and forecast nodes as processes, no ``ros2 launch`` needed
(:mod:`swiftcast.orchestration.stack`).

Every launch argument of :mod:`swiftcast.orchestration.stack_description` is an option, so the two ways to start
the stack take the same settings.
"""

from __future__ import annotations

import argparse

from swiftcast.orchestration.stack_description import LAUNCH_ARGUMENTS

#: options whose name is not the launch argument's
_OPTION_FOR = {
    "params_file": "--params",
    "camera_topic": "--camera-topic",
    "semseg_checkpoint": "--checkpoint",
    "input_size": "--input-size",
    "namespace": "--namespace",
}
#: launch arguments that mean nothing without ros2 launch
_LAUNCH_ONLY = {"use_rviz"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for arg in LAUNCH_ARGUMENTS:
        if arg.name in _LAUNCH_ONLY:
            continue
        option = _OPTION_FOR.get(arg.name, "--" + arg.name.replace("_", "-"))
        parser.add_argument(
            option, dest=arg.name, default=None, metavar=arg.name.upper(),
            help=f"{arg.description} Default: {arg.default or '(empty)'}.",
        )
    parser.add_argument(
        "--dds", choices=("loopback", "system"), default="loopback",
        help="loopback: Fast DDS on 127.0.0.1 with large shared-memory segments (this machine only; needed for "
        "big best-effort images here) unless FASTDDS_DEFAULT_PROFILES_FILE is already set; system: leave DDS as "
        "configured. Default: loopback.",
    )
    parser.add_argument("--restart", action="store_true", help="restart a node that dies (at most --max-restarts)")
    parser.add_argument("--max-restarts", type=int, default=3, help="restarts per node with --restart (default 3)")
    parser.add_argument("--dry-run", action="store_true", help="print the command lines and exit")


def main(args: argparse.Namespace) -> int:
    from swiftcast.orchestration.stack import run_stack

    given = {a.name: getattr(args, a.name, None) for a in LAUNCH_ARGUMENTS}
    return run_stack(given, dds=args.dds, restart=args.restart, max_restarts=args.max_restarts, dry_run=args.dry_run)
