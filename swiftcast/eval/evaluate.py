"""``swiftcast eval``: single-frame mIoU / mIoU-MO / per-class IoU / confusion matrix of a checkpoint.

Predictions are made at the model's input size and their logits upsampled (bilinear) to the ground truth's own
resolution, so the score is the one cityscapesScripts computes on the PNGs ``--save-predictions`` writes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from swiftcast.errors import DataError

HEADS = ("full", "skipless")


def predict_logits(model: nn.Module, images: torch.Tensor, head: str = "full") -> torch.Tensor:
    """Logits at input size: the full SwiftNet (with lateral skips) or, for a model with a ``forecast_decoder``
    (:class:`~swiftcast.forecast.decoder.SkiplessSegmentation`), the skip-less decoder on its features."""
    if head == "full":
        return model(images)
    if head == "skipless":
        return model.forecast_decoder(model.features(images), out_size=tuple(images.shape[-2:]))
    raise DataError(f"unknown head {head!r}; choose from {', '.join(HEADS)}")


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    loader,
    device: torch.device | str = "cpu",
    head: str = "full",
    on_prediction: Callable[[int, np.ndarray], None] | None = None,
    progress: bool = True,
    desc: str = "eval",
):
    """Run ``model`` over a loader of :class:`CityscapesDataset` batches and return a filled ConfusionMeter.

    ``on_prediction(dataset_index, train_id_map)`` is called for every image (e.g. to save it).
    """
    from swiftcast.metrics import ConfusionMeter

    meter = ConfusionMeter()
    was_training = model.training
    model.eval()
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        images = batch["image"].to(device)
        logits = predict_logits(model, images, head)
        labels = batch["label"]
        labels = list(labels) if isinstance(labels, torch.Tensor) else labels
        for i, (index, label) in enumerate(zip(batch["index"], labels)):
            up = F.interpolate(logits[i : i + 1], size=tuple(label.shape), mode="bilinear", align_corners=False)
            pred = up.argmax(1)[0].to(torch.uint8).cpu()
            meter.update(pred, label)
            if on_prediction is not None:
                on_prediction(int(index), pred.numpy())
    model.train(was_training)
    return meter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="Cityscapes-layout folder (leftImg8bit[_sequence]/, gtFine/)")
    parser.add_argument("--model", required=True, help="checkpoint folder (or its weights file)")
    parser.add_argument("--json", required=True, help="where to write the metrics (JSON)")
    parser.add_argument("--split", default="val", help="dataset split (default: val)")
    parser.add_argument("--size", help="model input size HxW (default: the checkpoint's input_size)")
    parser.add_argument("--frames", help="frames of each sequence: all | every:N | index:I (default: all with GT)")
    parser.add_argument("--head", choices=HEADS, default="full",
                        help="full SwiftNet or the skip-less forecast decoder (the forecasting 'oracle')")
    parser.add_argument("--save-predictions", metavar="PRED_DIR",
                        help="write <city>_<seq>_<frame>_pred_labelIds.png (Cityscapes labelIds) here")
    parser.add_argument("--max-images", type=int, help="evaluate only the first N images (quick checks)")
    parser.add_argument("--workers", type=int, help="loader worker processes (default: 1 on <= 2 cores)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (torch.set_num_threads)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")


def main(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader, Subset

    from swiftcast.data.cityscapes import CityscapesDataset, collate
    from swiftcast.data.labels import train_ids_to_label_ids
    from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD, EvalTransform, parse_size
    from swiftcast.metrics import format_table
    from swiftcast.models import load_segmentation_model
    from swiftcast.hardware import default_workers, resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    size = parse_size(args.size) if args.size else None
    model, config = load_segmentation_model(args.model, needs=())
    if args.head == "skipless":
        from swiftcast.forecast.decoder import SkiplessSegmentation, load_forecast_decoder

        model = SkiplessSegmentation(model, load_forecast_decoder(args.model)[0])
    size = size or tuple(config.get("input_size") or ()) or None
    norm = config.get("normalization") or {}
    transform = EvalTransform(size, norm.get("mean", CITYSCAPES_MEAN), norm.get("std", CITYSCAPES_STD))
    dataset = CityscapesDataset(args.data, args.split, frames=args.frames, transform=transform)
    subset = dataset if not args.max_images else Subset(dataset, range(min(args.max_images, len(dataset))))
    workers = default_workers() if args.workers is None else args.workers
    loader = DataLoader(subset, batch_size=1, num_workers=workers, collate_fn=collate)
    model.to(device)

    on_prediction = None
    if args.save_predictions:
        pred_dir = Path(args.save_predictions)
        pred_dir.mkdir(parents=True, exist_ok=True)

        def on_prediction(index: int, train_ids: np.ndarray) -> None:
            path = pred_dir / f"{dataset.frames[index].stem}_pred_labelIds.png"
            if not cv2.imwrite(str(path), train_ids_to_label_ids(train_ids)):
                raise DataError(f"cannot write {path}")

    meter = evaluate_model(model, loader, device, args.head, on_prediction, desc=f"eval {args.split}")
    metrics = meter.summary()
    result = {
        **metrics,
        "model": str(args.model),
        "model_id": config.get("model_id"),
        "head": args.head,
        "input_size": list(size) if size else None,
        "data": {**dataset.describe(), "num_images": len(subset)},
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_table(metrics))
    print(f"{len(subset)} images; metrics written to {out}")
    return 0
