"""Segmentation losses: plain cross-entropy, and cross-entropy over the hard pixels only (OHEM).

Small classes (poles, traffic lights, bicycles, riders) cover a few hundred pixels of a crop, so an average over all
pixels is dominated by road, sky and building that the model already gets right. Online hard example mining
(Shrivastava et al., CVPR 2016, in its per-pixel form used by BiSeNet and DDRNet) averages the loss over the pixels
whose true class has probability below a threshold, but over at least a fixed share of the labelled pixels, so the
gradient goes where the mistakes are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("ce", "ohem")
#: how each loss is named in a checkpoint's training record
LOSS_DESCRIPTIONS = {"ce": "cross-entropy", "ohem": "OHEM cross-entropy (true class below 0.7, at least 1/16)"}


def ohem_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int, threshold: float = 0.7,
                       min_kept_fraction: float = 1 / 16) -> torch.Tensor:
    """Cross-entropy averaged over pixels whose true-class probability is below ``threshold``.

    At least ``min_kept_fraction`` of the labelled pixels are kept (the hardest ones), so an easy batch still
    trains. Returns a zero that keeps the graph when nothing is labelled.
    """
    per_pixel = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="none").flatten()
    labelled = labels.flatten() != ignore_index
    losses = per_pixel[labelled]
    if losses.numel() == 0:
        return logits.sum() * 0.0
    hard = losses > -torch.log(torch.tensor(threshold, device=losses.device))  # p(true class) < threshold
    min_kept = max(1, int(min_kept_fraction * losses.numel()))
    if int(hard.sum()) >= min_kept:
        return losses[hard].mean()
    return torch.topk(losses, min_kept, sorted=False).values.mean()


def segmentation_loss(name: str, logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """The training loss ``name`` (one of :data:`LOSSES`) of fp32 ``logits`` against ``labels``."""
    if not (labels != ignore_index).any():  # an all-ignore crop: keep DDP's gradient exchange in step
        return logits.sum() * 0.0
    if name == "ohem":
        return ohem_cross_entropy(logits, labels, ignore_index)
    return F.cross_entropy(logits, labels, ignore_index=ignore_index)
