"""``swiftcast data-card``: regenerate the synthetic world's data card (:mod:`swiftcast.synth.card`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from swiftcast.synth.card import REPO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=REPO / "swiftcast" / "synth" / "README.md",
                        help="the data card (markdown); default swiftcast/synth/README.md")
    parser.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img", help="where figures go (docs/img)")
    parser.add_argument("--json", type=Path, default=None,
                        help="numbers as JSON (default: data_card.json next to --out)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the generated splits here (default: a temporary folder, deleted afterwards)")
    parser.add_argument("--train-sequences", type=int, default=40)
    parser.add_argument("--val-sequences", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="256x512", help="HEIGHTxWIDTH (default 256x512, the training size)")
    parser.add_argument("--workers", type=int, default=2, help="generation worker processes")
    parser.add_argument("--ratio-sequences", type=int, default=150,
                        help="sequences per split for the large copy-GT measurement (only frames 11, 17, 20 are "
                             "rendered, not written)")
    parser.add_argument("--model-config", type=Path, default=REPO / "models" / "swiftnet_efflite0_synth" / "config.json",
                        help="checkpoint config whose val mIoU is quoted for comparison (skipped if missing)")


def main(args: argparse.Namespace) -> int:
    from swiftcast.data.transforms import parse_size
    from swiftcast.synth.card import write_data_card

    size = parse_size(args.size)
    write_data_card(
        args.out, args.img_dir, json_path=args.json, work=args.work, train_sequences=args.train_sequences,
        val_sequences=args.val_sequences, seed=args.seed, size=size, workers=args.workers,
        ratio_sequences=args.ratio_sequences, model_config=args.model_config,
        command=(f"swiftcast data-card --train-sequences {args.train_sequences} --val-sequences "
                 f"{args.val_sequences} --seed {args.seed} --size {args.size} --workers {args.workers}"),
    )
    return 0
