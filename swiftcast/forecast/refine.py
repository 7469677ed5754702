"""Flow extrapolation + refiner: the forecast that warps the present, corrected where warping cannot be right.

:mod:`swiftcast.forecast.motion` carries the newest labels along the optical flow; a refiner checkpoint
(:mod:`swiftcast.models.flow_refiner`, kind ``flow_refiner``) then changes the labels of the cells where its
training drives taught it the warp goes wrong. One refiner serves every horizon and camera rate: the number of
flow steps is one of its inputs.

Everything the refiner sees is built here by :func:`refiner_inputs`, from the same labels, flow and chain as the
plain forecast, for training (``swiftcast train-flow-refiner``), evaluation and the forecast node alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import cv2
import numpy as np
import torch

from swiftcast.data.transforms import resize_label
from swiftcast.errors import CheckpointError
from swiftcast.forecast.forecaster import discover_checkpoints
from swiftcast.forecast.motion import FlowForecaster, Motion, chain_flow, warp_labels
from swiftcast.models.flow_refiner import GRID_STRIDE

if TYPE_CHECKING:
    from swiftcast.forecast.protocol import Horizon

#: the checkpoint kind of a refiner
KIND = "flow_refiner"


@dataclass
class RefinerInputs:
    """One forecast as the refiner sees it (numpy, ready to batch)."""

    warped: np.ndarray  # (H, W) uint8: the labels of t carried on along the flow (the plain forecast)
    displacement: np.ndarray  # (2, H/4, W/4) float32: the chained displacement, in grid cells
    flow: np.ndarray  # (2, H/4, W/4) float32: one step of the backward flow, in grid cells
    steps: float  # how many flow steps the horizon is


def grid_size(size: Sequence[int]) -> tuple[int, int]:
    """The refiner's grid for labels of ``size`` (H, W), both multiples of 8."""
    height, width = int(size[0]), int(size[1])
    if height % (2 * GRID_STRIDE) or width % (2 * GRID_STRIDE):
        raise ValueError(f"refined labels must be a multiple of {2 * GRID_STRIDE} in size, got {width}x{height}")
    return height // GRID_STRIDE, width // GRID_STRIDE


def _to_grid(field: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(h, w, 2) pixel displacements at the flow's resolution -> (2, H/4, W/4) in grid cells (area average)."""
    cells = cv2.resize(field, (grid[1], grid[0]), interpolation=cv2.INTER_AREA)
    scale = np.array([grid[1] / field.shape[1], grid[0] / field.shape[0]], np.float32)
    return np.ascontiguousarray((cells * scale).transpose(2, 0, 1), dtype=np.float32)


def refiner_inputs(labels: np.ndarray, motion: Motion, horizon: float, size: Sequence[int]) -> RefinerInputs:
    """The refiner's inputs for the newest ``labels`` (any size; resized nearest to ``size``, the refiner's) carried
    ``horizon`` on (in the unit of ``motion.span``)."""
    size = (int(size[0]), int(size[1]))
    grid = grid_size(size)
    if labels.shape != size:
        labels = resize_label(labels, size)
    steps = horizon / motion.span
    displacement = chain_flow(motion.flow, steps, motion.whole_steps)
    return RefinerInputs(warp_labels(labels, displacement), _to_grid(displacement, grid),
                         _to_grid(motion.flow, grid), float(steps))


def as_batch(inputs: Sequence[RefinerInputs], device: torch.device | str = "cpu"
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(warped, displacement, flow, steps) tensors of a list of :class:`RefinerInputs`."""
    return (torch.from_numpy(np.stack([i.warped for i in inputs])).to(device),
            torch.from_numpy(np.stack([i.displacement for i in inputs])).to(device),
            torch.from_numpy(np.stack([i.flow for i in inputs])).to(device),
            torch.tensor([i.steps for i in inputs], dtype=torch.float32, device=device))


def load_refiner(path: str | os.PathLike[str], expected_seg_model_id: str | None = None,
                 device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """A refiner checkpoint (eval mode, frozen) and its config, checked against the segmentation model whose labels
    it refines (``seg_model_id``)."""
    from swiftcast.models import load_checkpoint
    from swiftcast.runtime.paths import resolve_user_path

    resolved = resolve_user_path(path)
    if not resolved.exists():
        raise CheckpointError(f"flow refiner checkpoint {path} not found (looked at {resolved})")
    net, config = load_checkpoint(resolved, device=device)
    if config.get("kind") != KIND:
        raise CheckpointError(f"{path} is a {config.get('kind')} checkpoint, not a flow refiner")
    seg_id = config.get("seg_model_id")
    if expected_seg_model_id is not None and seg_id != expected_seg_model_id:
        raise CheckpointError(f"{path} refines the labels of segmentation model {seg_id!r}, not of "
                              f"{expected_seg_model_id!r}")
    try:
        grid_size(config["input_size"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: config has no valid input_size (got {config.get('input_size')!r})") from None
    return net.eval().requires_grad_(False), config


def discover_refiners(models_dir: str | os.PathLike[str], seg_model_id: str | None = None) -> list[Path]:
    """Refiner checkpoints directly under ``models_dir`` (sorted), optionally only those for one segmentation model."""
    return discover_checkpoints(models_dir, KIND, seg_model_id=seg_model_id)


class FlowRefinement:
    """A loaded refiner: newest labels + :class:`Motion` + horizon -> refined forecast labels.

    Args:
        checkpoint: refiner checkpoint folder (relative paths per :mod:`swiftcast.runtime.paths`).
        seg_model_id: the segmentation model whose labels come in (checked against the checkpoint), or None.
    """

    def __init__(self, checkpoint: str | os.PathLike[str], seg_model_id: str | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.net, self.config = load_refiner(checkpoint, seg_model_id, self.device)
        self.checkpoint = str(checkpoint)
        self.size: tuple[int, int] = (int(self.config["input_size"][0]), int(self.config["input_size"][1]))

    @property
    def model_id(self) -> str:
        return str(self.config.get("model_id", ""))

    @torch.inference_mode()
    def __call__(self, labels: np.ndarray, motion: Motion, horizon: float) -> np.ndarray:
        """``labels`` (H, W) uint8 carried ``horizon`` on and refined, at the size they came in."""
        inputs = refiner_inputs(labels, motion, horizon, self.size)
        refined = self.net.refine(*as_batch([inputs], self.device))[0].to(torch.uint8).cpu().numpy()
        return refined if refined.shape == labels.shape else resize_label(refined, labels.shape)


class RefinedFlowForecaster(FlowForecaster):
    """Flow extrapolation for one horizon, corrected by a refiner (shared by the horizons of a runtime)."""

    def __init__(self, horizon: "Horizon", refinement: FlowRefinement, preset: str = "ultrafast") -> None:
        super().__init__(horizon, preset)
        self.refinement = refinement
        self.model_id = f"flow-extrapolation-{preset}+{refinement.model_id}"

    def __call__(self, motion: Motion, last_labels: np.ndarray, horizon_ns: int) -> np.ndarray:
        """``last_labels`` carried ``horizon_ns`` on along ``motion`` (spans in ns), refined."""
        return self.refinement(last_labels, motion, horizon_ns)
