"""Single-frame mIoU / mIoU-MO / per-class IoU / confusion matrix of a checkpoint (``swiftcast eval``).

Predictions are made at the model's input size and their logits upsampled (bilinear) to the ground truth's own
resolution, so the score is the one cityscapesScripts computes on the PNGs ``save_predictions`` writes.
"""

from __future__ import annotations

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


def evaluate_checkpoint(
    data: str | Path,
    model: str | Path,
    *,
    split: str = "val",
    size: tuple[int, int] | None = None,
    frames: str | None = None,
    head: str = "full",
    save_predictions: str | Path | None = None,
    max_images: int | None = None,
    workers: int | None = None,
    device: str = "auto",
) -> dict:
    """The metrics of checkpoint ``model`` on a split of ``data`` (at ``size``, default the checkpoint's input size),
    with what was evaluated: model, head, input size, data. ``save_predictions`` names a folder for the predicted
    Cityscapes labelIds PNGs."""
    from torch.utils.data import DataLoader, Subset

    from swiftcast.data.cityscapes import CityscapesDataset, collate
    from swiftcast.data.labels import train_ids_to_label_ids
    from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD, EvalTransform
    from swiftcast.models import load_segmentation_model
    from swiftcast.hardware import default_workers, resolve_device

    device = resolve_device(device)
    net, config = load_segmentation_model(model, needs=())
    if head == "skipless":
        from swiftcast.forecast.decoder import SkiplessSegmentation, load_forecast_decoder

        net = SkiplessSegmentation(net, load_forecast_decoder(model)[0])
    size = size or tuple(config.get("input_size") or ()) or None
    norm = config.get("normalization") or {}
    transform = EvalTransform(size, norm.get("mean", CITYSCAPES_MEAN), norm.get("std", CITYSCAPES_STD))
    dataset = CityscapesDataset(data, split, frames=frames, transform=transform)
    subset = dataset if not max_images else Subset(dataset, range(min(max_images, len(dataset))))
    workers = default_workers() if workers is None else workers
    loader = DataLoader(subset, batch_size=1, num_workers=workers, collate_fn=collate)
    net.to(device)

    on_prediction = None
    if save_predictions:
        pred_dir = Path(save_predictions)
        pred_dir.mkdir(parents=True, exist_ok=True)

        def on_prediction(index: int, train_ids: np.ndarray) -> None:
            path = pred_dir / f"{dataset.frames[index].stem}_pred_labelIds.png"
            if not cv2.imwrite(str(path), train_ids_to_label_ids(train_ids)):
                raise DataError(f"cannot write {path}")

    meter = evaluate_model(net, loader, device, head, on_prediction, desc=f"eval {split}")
    return {
        **meter.summary(),
        "model": str(model),
        "model_id": config.get("model_id"),
        "head": head,
        "input_size": list(size) if size else None,
        "data": {**dataset.describe(), "num_images": len(subset)},
    }
