"""``swiftcast train``: SwiftNet training, resumable and ``torchrun`` ready (:mod:`swiftcast.train.segmentation`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # the choices live in modules that import torch: loaded for the parser, not with this module
    from swiftcast.data.transforms import AUGMENTATIONS
    from swiftcast.hardware import TRAIN_PRECISIONS
    from swiftcast.train.losses import LOSSES

    parser.add_argument("--data", required=True, help="Cityscapes-layout folder (train split, val split if present)")
    parser.add_argument("--model", default="swiftnet_rn18", help="architecture (default: swiftnet_rn18)")
    parser.add_argument("--out", required=True, help="checkpoint folder to write (weights, config, training state)")
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--iters", type=int, help="training length in iterations")
    length.add_argument("--epochs", type=float, help="training length in epochs (passes over the train split)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per iteration and process (default: 8)")
    parser.add_argument("--size", help="model input size HxW: images are first resized to it (default: native)")
    parser.add_argument("--crop", help="random crop HxW (default: --size)")
    parser.add_argument("--scale", default="0.5,2.0", help="random scale range MIN,MAX (default: 0.5,2.0)")
    parser.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    parser.add_argument("--lr", type=float, default=4e-4, help="learning rate of the new parts (default: 4e-4)")
    parser.add_argument("--backbone-lr-ratio", type=float, default=0.25, help="backbone lr / lr (default: 0.25)")
    parser.add_argument("--wd", type=float, default=1e-4, help="weight decay of the new parts (default: 1e-4)")
    parser.add_argument("--backbone-wd", type=float, default=2.5e-5, help="backbone weight decay (default: 2.5e-5)")
    parser.add_argument("--min-lr", type=float, default=1e-6, help="end of the cosine schedule (default: 1e-6)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, data order and augmentation")
    parser.add_argument("--frames", help="frames used per sequence: all | every:N | index:I (default: all with GT)")
    parser.add_argument("--val-frames", help="frames used for validation (default: as --frames)")
    parser.add_argument("--backbone-weights", help="imagenet | PATH to a backbone state dict (default: random)")
    parser.add_argument("--stage", choices=("full", "decoder"), default="full",
                        help="full: train the whole SwiftNet; decoder: only the skip-less decoder (needs --init)")
    parser.add_argument("--init", help="start from this segmentation checkpoint (required by --stage decoder)")
    parser.add_argument("--decoder-widths", metavar="C1[,C2[,C3]]",
                        help="--stage decoder: replace the skip-less decoder by a new one with these blend widths "
                             "(stride 32 -> 16 -> 8 -> 4; fewer widths stop coarser), e.g. 64,32,16 for a cheap "
                             "forecast decoder (default: keep the --init checkpoint's decoder)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out exactly")
    parser.add_argument("--val-every", type=int, default=0, help="validate every N iterations (default: at the end)")
    parser.add_argument("--val-max-images", type=int, help="validate on the first N val images only")
    parser.add_argument("--save-every", type=int, default=200, help="checkpoint every N iterations (default: 200)")
    parser.add_argument("--stop-at", type=int, metavar="ITER",
                        help="end this run after iteration ITER with a resumable checkpoint (time-boxed jobs)")
    parser.add_argument("--workers", type=int, help="loader worker processes (default: 1 on <= 2 cores)")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process (torch.set_num_threads)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--precision", choices=TRAIN_PRECISIONS, default="auto",
                        help="auto: bf16 autocast + channels_last where the CPU has bf16 matrix instructions "
                             "(AMX, AVX512-BF16) or the GPU supports bf16, else fp32 (default: auto)")
    parser.add_argument("--augment", choices=AUGMENTATIONS, default="basic",
                        help="basic: random scale, crop, flip (the official recipe); strong: also colour jitter, "
                             "exposure, blur, noise and JPEG artefacts, for models that must meet real cameras")
    parser.add_argument("--loss", choices=LOSSES, default="ce",
                        help="ce: cross-entropy over all labelled pixels (the official recipe); ohem: over the "
                             "hard pixels only (true class below 0.7, at least 1/16 of them), which helps the small "
                             "classes (default: ce)")
    parser.add_argument("--no-cache", action="store_true",
                        help="decode PNGs in the loader instead of the decoded uint8 cache made once per dataset "
                             "and size (in $SWIFTCAST_CACHE or ~/.cache/swiftcast)")


def main(args: argparse.Namespace) -> int:
    from swiftcast.train.segmentation import run_training

    result = run_training(args)
    return 130 if result.interrupted else 0
