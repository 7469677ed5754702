"""``swiftcast train-forecast``: F2F / F2MF forecaster training on cached features (:mod:`swiftcast.train.forecast`)."""

from __future__ import annotations

import argparse

from swiftcast.forecast.protocol import HORIZONS
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # METHODS and TRAIN_PRECISIONS live in modules that import torch: loaded for the parser, not with this module
    from swiftcast.hardware import TRAIN_PRECISIONS
    from swiftcast.train.forecast import METHODS

    parser.add_argument("--data", required=True, help="Cityscapes-layout folder with leftImg8bit_sequence/train")
    parser.add_argument("--seg-model", default=DEFAULT_SEGMENTATION_CHECKPOINT,
                        help="frozen segmentation checkpoint: features and skip-less decoder "
                             f"(default: {DEFAULT_SEGMENTATION_CHECKPOINT})")
    parser.add_argument("--horizon", required=True, choices=tuple(HORIZONS), help="short (t+3) or mid (t+9)")
    parser.add_argument("--method", choices=METHODS, default="deform_f2f8", help="forecaster (default: deform_f2f8)")
    parser.add_argument("--finetune", action="store_true",
                        help="cross-entropy through the skip-less decoder (DeformF2F's -FT; the decoder stays frozen "
                             "unless --tune-decoder); needs --init")
    parser.add_argument("--tune-decoder", action="store_true",
                        help="with --finetune: fine-tune a copy of the skip-less decoder together with the forecaster, "
                             "as Šarić et al. fine-tune F2F with the upsampling path; the copy is saved in --out "
                             "and decodes this forecaster's features")
    parser.add_argument("--init", help="forecaster checkpoint to start from (required by --finetune)")
    parser.add_argument("--out", required=True, help="checkpoint folder to write (weights, config, training state)")
    parser.add_argument("--iters", type=int, default=3000, help="training iterations (default: 3000)")
    parser.add_argument("--batch-size", type=int, default=12, help="samples per iteration and process (default: 12)")
    parser.add_argument("--samples-per-sequence", "--samples-per-seq", dest="samples_per_seq", type=int, default=0,
                        metavar="K",
                        help="training windows per sequence: 0 = every valid window (default), K = the protocol "
                             "window (target = the 20th frame) plus K-1 spread over the sequence; 1 and 2 are the "
                             "settings of Šarić et al., GCPR 2019 (its last table row: 2 samples per sequence)")
    parser.add_argument("--lr", type=float, help="learning rate (default: 5e-4, or 1e-4 with --finetune)")
    parser.add_argument("--min-lr", type=float, default=1e-6, help="end of the cosine schedule (default: 1e-6)")
    parser.add_argument("--wd", type=float, default=1e-4, help="weight decay (default: 1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default: 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out exactly")
    parser.add_argument("--stop-at", type=int, metavar="ITER",
                        help="stop (resumably) after iteration ITER of --iters, e.g. for a time-boxed job")
    parser.add_argument("--save-every", type=int, default=500, help="checkpoint every N iterations (default: 500)")
    parser.add_argument("--val-every", type=int, default=0,
                        help="score the protocol on the val split every N iterations (default: only at the end)")
    parser.add_argument("--no-val", action="store_true", help="skip the final protocol score on the val split")
    parser.add_argument("--cache-dir", help="feature cache (default: <data>/.cache/features)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process")
    parser.add_argument("--precision", choices=TRAIN_PRECISIONS, default="auto",
                        help="auto: bf16 autocast where the CPU has bf16 matrix instructions (AMX, AVX512-BF16) or "
                             "the GPU supports bf16, else fp32 (default: auto)")


def main(args: argparse.Namespace) -> int:
    from swiftcast.train.forecast import run_training

    run_training(args)
    return 0
