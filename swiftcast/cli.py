"""The ``swiftcast`` command line.

Each sub-command is a module of :mod:`swiftcast.commands`, imported only when that command runs, so
``swiftcast --help`` is instant (no torch import). A module registered here provides two functions:

    add_arguments(parser: argparse.ArgumentParser) -> None
    main(args: argparse.Namespace) -> int | None

User mistakes are raised as :class:`swiftcast.errors.SwiftcastError` and printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from swiftcast import __version__
from swiftcast.errors import SwiftcastError

#: command name -> (its module in swiftcast.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("swiftcast.commands.synth", "write synthetic driving sequences in Cityscapes layout"),
    "synth-bag": ("swiftcast.commands.synth_bag", "write a synthetic drive as a rosbag2 (mcap) bag"),
    "data-card": ("swiftcast.commands.data_card", "regenerate the synthetic world's data card (figures and statistics)"),
    "train": ("swiftcast.commands.train", "train a segmentation model (resumable, torchrun/DDP ready)"),
    "eval": ("swiftcast.commands.eval", "single-frame mIoU / mIoU-MO on a Cityscapes-layout folder"),
    "import-checkpoint": ("swiftcast.commands.import_checkpoint", "convert an official SwiftNet state dict to a SwiftCast checkpoint"),
    "model-info": ("swiftcast.commands.model_info", "parameters and FLOPs of a model or checkpoint"),
    "convert-checkpoint": ("swiftcast.commands.convert_checkpoint", "rewrite older segmentation checkpoints with their forecast decoder in a file of its own"),
    "model-card": ("swiftcast.commands.model_card", "write a checkpoint's model card from its config and an eval JSON"),
    "train-forecast": ("swiftcast.commands.train_forecast", "train a feature-to-feature forecaster"),
    "eval-forecast": ("swiftcast.commands.eval_forecast", "the forecasting protocol of Šarić et al. (GCPR 2019), short and mid term, on a val split"),
    "explain-forecast": ("swiftcast.commands.explain_forecast", "gradient explanation of one forecast pixel"),
    "stack": ("swiftcast.commands.stack", "start the semseg and forecast nodes (no ros2 launch needed)"),
    "replay": ("swiftcast.commands.replay", "replay a bag, a video or an image folder through the live stack and score it"),
    "bag-from-video": ("swiftcast.commands.bag_from_video", "write a video or an image folder as an mcap bag (camera + info)"),
    "segment": ("swiftcast.commands.segment", "segment images, image folders and videos (labels, overlays, confidence)"),
    "export-onnx": ("swiftcast.commands.export_onnx", "export segmentation and forecasting models to ONNX"),
    "bench-model": ("swiftcast.commands.bench_model", "time one model/backend/precision configuration"),
}


def _top_level_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<18} {help_}" for name, (_, help_) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="swiftcast",
        description="SwiftCast: real-time semantic segmentation and forecasting.",
        epilog=f"commands:\n{lines}\n\nRun 'swiftcast COMMAND --help' for the options of one command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"swiftcast {__version__}")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_level_parser()
    if not argv or argv[0].startswith("-"):
        top.parse_args(argv)  # handles --help / --version and exits
        top.print_help()
        return 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        top.error(f"unknown command {name!r}; choose from: {', '.join(COMMANDS)}")
    module_name, help_ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"swiftcast {name}: not available in this version", file=sys.stderr)
            return 2
        raise
    parser = argparse.ArgumentParser(prog=f"swiftcast {name}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.main(args) or 0)
    except SwiftcastError as exc:
        print(f"swiftcast {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"swiftcast {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
