"""``swiftcast train``: SwiftNet training as in the official recipe, resumable and ``torchrun``/DDP ready.

Adam (beta 0.9, 0.99); the new parts at ``--lr`` with weight decay 1e-4, the backbone at ``lr * 0.25`` with weight
decay 2.5e-5; cosine schedule per iteration down to 1e-6; cross-entropy ignoring 255 (``--loss ohem``: over the hard
pixels only); random scale / crop / flip.
``--stage decoder`` then trains only the skip-less forecast decoder (:mod:`swiftcast.forecast.decoder`) on the
frozen features of an existing checkpoint, written next to its unchanged weights.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from swiftcast.checkout import recorded_path
from swiftcast.data.labels import CLASS_NAMES, IGNORE_ID, NUM_CLASSES
from swiftcast.errors import DataError, SwiftcastError
from swiftcast.hardware import default_workers, resolve_precision
from swiftcast.train import loop
from swiftcast.train.losses import LOSS_DESCRIPTIONS, segmentation_loss

#: options that define the run; ``--resume`` refuses to continue with different values
RUN_DEFINING = ("data", "model", "stage", "init", "iters", "epochs", "batch_size", "crop", "size", "scale",
                "no_flip", "lr", "backbone_lr_ratio", "wd", "backbone_wd", "min_lr", "seed", "frames",
                "backbone_weights", "decoder_widths", "augment", "loss")


def _hparams(args: argparse.Namespace) -> dict:
    return {k: getattr(args, k, None) for k in RUN_DEFINING}


def _build(args: argparse.Namespace, info):
    """Model, forecast decoder (``--stage decoder`` only, else None) and the init checkpoint's config (if any)."""
    from swiftcast.models import build_model, load_checkpoint

    init_config: dict = {}
    if args.stage == "decoder" and not args.init:
        raise SwiftcastError("--stage decoder needs --init CKPT (the segmentation checkpoint to add the decoder to)")
    if args.init:
        model, init_config = load_checkpoint(args.init)
        if init_config.get("kind", "segmentation") != "segmentation":
            raise SwiftcastError(f"--init {args.init} is a {init_config.get('kind')} checkpoint, not segmentation")
        if init_config.get("architecture") not in (None, args.model) and args.stage == "full":
            raise SwiftcastError(f"--init {args.init} is a {init_config['architecture']}, not --model {args.model}")
    else:
        model = build_model(args.model, num_classes=NUM_CLASSES, backbone_weights=args.backbone_weights)
    if args.decoder_widths and args.stage != "decoder":
        raise SwiftcastError("--decoder-widths only goes with --stage decoder")
    decoder = _decoder(args, model, init_config) if args.stage == "decoder" else None
    return model, decoder, init_config


def parse_widths(text: str) -> list[int]:
    """``"64,32,16"`` -> [64, 32, 16]: 1 to 3 positive channel counts (SwiftcastError otherwise)."""
    try:
        widths = [int(v) for v in text.split(",")]
    except ValueError:
        widths = []
    if not 1 <= len(widths) <= 3 or min(widths) < 1:
        raise SwiftcastError(f"--decoder-widths {text!r}: give 1 to 3 positive channel counts, e.g. 64,32,16")
    return widths


def _decoder(args: argparse.Namespace, model: nn.Module, init_config: dict) -> nn.Module:
    """The decoder to train: the --init checkpoint's, or a fresh one (``--decoder-widths``, or none there yet)."""
    from swiftcast.forecast.decoder import build_forecast_decoder, load_forecast_decoder

    if not hasattr(model, "num_features"):
        raise SwiftcastError(f"--init {args.init} ({init_config.get('architecture')}) has no SwiftNet features to "
                             "decode")
    model.requires_grad_(False)
    if not args.decoder_widths and init_config.get("forecast_decoder"):
        decoder, _ = load_forecast_decoder(args.init)
        return decoder.requires_grad_(True)
    widths = parse_widths(args.decoder_widths) if args.decoder_widths else None
    return build_forecast_decoder(model.num_features, init_config["num_classes"], widths)


def _param_groups(model, args: argparse.Namespace) -> list[dict]:
    if args.stage == "decoder":
        params = list(model.forecast_decoder.parameters())
        return [{"params": params, "lr": args.lr, "initial_lr": args.lr, "weight_decay": args.wd, "name": "decoder"}]
    groups = model.parameter_groups()
    lr_b = args.lr * args.backbone_lr_ratio
    return [
        {"params": list(groups["backbone"]), "lr": lr_b, "initial_lr": lr_b, "weight_decay": args.backbone_wd,
         "name": "backbone"},
        {"params": list(groups["head"]), "lr": args.lr, "initial_lr": args.lr, "weight_decay": args.wd,
         "name": "head"},
    ]


@dataclass
class TrainResult:
    model: nn.Module  # the trained model (not DDP-wrapped), on its training device
    iteration: int
    total_iters: int
    interrupted: bool  # stopped early by Ctrl-C / SIGTERM (a resumable checkpoint was saved)
    out: Path


def run_training(args: argparse.Namespace) -> TrainResult:
    """Train as ``swiftcast train`` does (``args`` as :mod:`swiftcast.commands.train` parses them) and return the
    model - also on every DDP rank."""
    started = time.time()
    out = Path(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    if (args.iters is not None and args.iters <= 0) or (args.epochs is not None and args.epochs <= 0):
        raise SwiftcastError("--iters / --epochs must be positive")
    if args.batch_size <= 0:
        raise SwiftcastError("--batch-size must be positive")
    try:
        scale = tuple(float(v) for v in args.scale.split(","))
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError
    except ValueError:
        raise SwiftcastError(f"--scale {args.scale!r} must be MIN,MAX with 0 < MIN <= MAX") from None
    from swiftcast.data.transforms import parse_size

    for option in (args.size, args.crop):
        if option:
            parse_size(option)  # fail on a typo before any model is built
    loop.check_new_or_resumed(out, args.resume)

    info = loop.init_distributed(args.device)
    try:
        return _run(args, info, out, scale, started)
    finally:
        loop.shutdown_distributed()


def _run(args: argparse.Namespace, info, out: Path, scale: tuple[float, float], started: float) -> TrainResult:
    from torch.utils.data import DataLoader, Subset

    from swiftcast.data.cityscapes import collate
    from swiftcast.eval.evaluate import evaluate_model
    from swiftcast.forecast.decoder import SkiplessSegmentation

    torch.manual_seed(args.seed)
    model, decoder, init_config = _build(args, info)
    precision = resolve_precision(getattr(args, "precision", "fp32"), info.device)
    loss_name = getattr(args, "loss", "ce")
    data = _data(args, info, model, init_config, scale)
    train_set, val_set, total = data.train, data.val, data.total

    # what is trained: the model, or under --stage decoder the decoder on the frozen model's features (whose
    # train() keeps the model in eval mode)
    trained = model if decoder is None else SkiplessSegmentation(model, decoder)
    trained.to(info.device)
    if precision == "bf16":  # oneDNN's bf16 convolutions (and cuDNN's) are fastest in NHWC
        trained.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(_param_groups(trained, args), betas=(0.9, 0.99))
    run = loop.start_run(out, started, args, RUN_DEFINING, model, optimizer, decoder)
    net = loop.wrap_ddp(trained, info)

    workers = default_workers() if args.workers is None else args.workers
    end = min(total, args.stop_at) if args.stop_at else total
    sampler = loop.StreamBatchSampler(len(train_set), args.batch_size, end, run.start_iter, args.seed,
                                      info.rank, info.world_size)
    loader = DataLoader(train_set, batch_sampler=sampler, num_workers=workers, collate_fn=collate,
                        worker_init_fn=loop.ignore_stop_signals)

    def step(batch: dict) -> float:
        return segmentation_step(net, optimizer, batch, info.device, precision, loss_name)

    def validate(it: int) -> dict | None:
        if val_set is None:
            return None
        loop.sync_buffers(trained)
        indices = list(range(len(val_set)))[: args.val_max_images or None]
        shard = Subset(val_set, indices[info.rank :: info.world_size])
        val_loader = DataLoader(shard, batch_size=1, num_workers=workers, collate_fn=collate,
                                worker_init_fn=loop.ignore_stop_signals)
        head = "skipless" if args.stage == "decoder" else "full"
        meter = evaluate_model(trained, val_loader, info.device, head, progress=info.is_main, desc=f"val @{it}")
        meter.all_reduce()
        metrics = {k: v for k, v in meter.summary().items() if k != "confusion"}
        metrics.update(iteration=it, head=head, num_images=len(indices))
        trained.train()  # under --stage decoder the frozen model stays in eval mode
        if info.is_main:
            tqdm.write(f"iter {it}: val mIoU {_pct(metrics['miou'])}  mIoU-MO {_pct(metrics['miou_mo'])}")
        return metrics

    def checkpoint(it: int, val: dict | None) -> None:
        loop.sync_buffers(trained)  # collective: every rank takes part, only rank 0 writes
        if info.is_main:
            state = run.state(it, optimizer, _hparams(args))
            config = _config(args, info, run, data, model, init_config, precision, it, val)
            loop.write_checkpoint_dir(out, model, config, state, decoder)

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        arch, crop, size = model.swiftcast_spec["architecture"], data.crop, data.size
        print(f"training {arch} ({args.stage}) on {len(train_set)} images, {total} iterations of "
              f"{args.batch_size}x{info.world_size} crops {crop[0]}x{crop[1]} (input {size[0]}x{size[1]}), "
              f"{torch.get_num_threads()} threads, {workers} loader workers, {precision}")
    trained.train()  # under --stage decoder the frozen model stays in eval mode
    done = loop.run_loop(run, loader, step, optimizer, info, total_iters=total, end=end, min_lr=args.min_lr,
                         validate=validate, checkpoint=checkpoint, val_every=args.val_every,
                         save_every=args.save_every, desc="train")
    if done.iteration == total and info.is_main and done.last_val is not None:
        print(json.dumps({"val_miou": done.last_val["miou"], "val_miou_mo": done.last_val["miou_mo"]}))
    return TrainResult(model, done.iteration, total, done.interrupted, out)


def segmentation_step(net: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, device: torch.device,
                      precision: str, loss: str = "ce") -> float:
    """One training step on a loader batch (``image``, ``label``), as ``swiftcast train`` and its benchmark take it;
    returns the loss."""
    images = batch["image"].to(device, non_blocking=True)
    labels = batch["label"].to(device, non_blocking=True)
    if precision == "bf16":  # the layout the model was put in
        images = images.contiguous(memory_format=torch.channels_last)
    return loop.train_step(optimizer, lambda: net(images),
                           lambda logits: segmentation_loss(loss, logits, labels, IGNORE_ID), device, precision)


@dataclass
class _Data:
    train: Any  # CityscapesDataset of the train split, augmented
    val: Any  # of the val split, or None (none there, or no ground truth)
    size: tuple[int, int]  # model input size
    crop: tuple[int, int]
    norm: dict  # input normalisation: mean, std
    scale: tuple[float, float]  # random scale range
    total: int  # training length in iterations


def _data(args: argparse.Namespace, info, model: nn.Module, init_config: dict, scale: tuple[float, float]) -> _Data:
    """The splits as the run sees them. The input size is given, else inherited from --init, else the data's native
    size; the normalisation is what the backbone's pre-trained weights expect."""
    from swiftcast.data.cityscapes import CityscapesDataset, has_split
    from swiftcast.data.transforms import (CITYSCAPES_MEAN, CITYSCAPES_STD, EvalTransform, PhotometricAugment,
                                           TrainTransform, parse_size)

    backbone = getattr(model, "backbone", None)
    norm = init_config.get("normalization") or {
        "mean": list(getattr(backbone, "input_mean", CITYSCAPES_MEAN)),
        "std": list(getattr(backbone, "input_std", CITYSCAPES_STD)),
    }
    augment = getattr(args, "augment", "basic")
    train_set = CityscapesDataset(args.data, "train", frames=args.frames)
    if args.size:
        size = parse_size(args.size)
    elif init_config.get("input_size"):
        size = tuple(init_config["input_size"])
    else:
        size = tuple(train_set.load(0)[0].shape[:2])
    crop = parse_size(args.crop) if args.crop else size
    train_set.transform = TrainTransform(crop, size, scale, flip=not args.no_flip, mean=norm["mean"], std=norm["std"],
                                         photometric=PhotometricAugment() if augment == "strong" else None)
    if not getattr(args, "no_cache", True):
        if info.is_main:
            train_set.use_cache(size)
        loop.barrier()  # other ranks open the cache rank 0 made
        if not info.is_main:
            train_set.use_cache(size, progress=False)
    if args.iters is not None:
        total = args.iters
    else:
        total = max(1, round(args.epochs * loop.iterations_per_epoch(len(train_set), args.batch_size, info.world_size)))

    val_set = None
    if has_split(args.data, "val"):
        try:
            val_set = CityscapesDataset(args.data, "val", frames=args.val_frames or args.frames,
                                        transform=EvalTransform(size, norm["mean"], norm["std"]))
        except DataError as exc:  # e.g. a val split without ground truth: train anyway, say why there is no val
            if info.is_main:
                print(f"no validation: {exc}")
    elif info.is_main:
        print(f"no validation: {args.data} has no val split")
    return _Data(train_set, val_set, size, crop, norm, scale, total)


def _config(args: argparse.Namespace, info, run: loop.RunRecord, data: _Data, model: nn.Module, init_config: dict,
            precision: str, it: int, val: dict | None) -> dict:
    """The checkpoint's config.json at iteration ``it``: what the model is and how it was trained."""
    metrics = dict(init_config.get("metrics") or {}) if args.stage == "decoder" else {}
    if val is not None:
        metrics["val_skipless" if args.stage == "decoder" else "val"] = val
    norm = data.norm
    return {
        "kind": "segmentation",
        "architecture": init_config.get("architecture", args.model),
        "arch_kwargs": model.swiftcast_spec["arch_kwargs"],
        "num_classes": NUM_CLASSES,
        "class_names": list(CLASS_NAMES),
        "input_size": list(data.size),
        "normalization": {"mean": list(norm["mean"]), "std": list(norm["std"])},
        "training": {
            "command": run.commands[0],
            "resumed_with": run.commands[1:],
            "stage": args.stage,
            "init": {"path": recorded_path(args.init), "model_id": init_config.get("model_id"),
                     "training": init_config.get("training")} if args.init else None,
            "seed": args.seed,
            "data": {"train": data.train.describe(), "val": data.val.describe() if data.val else None},
            "hardware": loop.hardware_description(info),
            "wall_time_s": round(run.wall_time_s(), 1),
            "iteration": it,
            "total_iters": data.total,
            "batch_size": args.batch_size * info.world_size,
            "crop": list(data.crop),
            "scale_range": list(data.scale),
            "flip": not args.no_flip,
            "optimizer": {"name": "Adam", "betas": [0.9, 0.99], "lr": args.lr,
                          "backbone_lr_ratio": args.backbone_lr_ratio, "weight_decay": args.wd,
                          "backbone_weight_decay": args.backbone_wd,
                          "schedule": f"cosine per iteration to {args.min_lr}"},
            "backbone_weights": args.backbone_weights,
            "precision": precision,
            "augment": getattr(args, "augment", "basic"),
            "loss": f"{LOSS_DESCRIPTIONS[getattr(args, 'loss', 'ce')]}, ignore {IGNORE_ID}",
            "val_history": run.history,
        },
        "metrics": metrics,
    }


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"
