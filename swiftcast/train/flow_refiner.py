"""``swiftcast train-flow-refiner``: teach a refiner where flow extrapolation goes wrong (resumable).

Samples are windows of the train sequences: the frozen segmentation model labels frame t, DIS flow goes from t
back to t-3 (the forecast node's rule at the training frame rate), the labels are carried 3 and 9 frames on
(:func:`swiftcast.forecast.refine.refiner_inputs`, exactly what the node computes) and the ground truth of t+3 and
t+9 is the target. They are built once and cached next to the data (``<data>/.cache/flow_refiner``, keyed by the
segmentation model, the flow preset and the windows). The loss is cross-entropy at half the labels' resolution
(every second pixel, ignore id kept) of ``scale * onehot(warped) + residual``; horizontal flips (labels, and the
x of displacement and flow) double the drives. AdamW with the shared cosine schedule, bf16 autocast where the CPU
has it. The final validation scores the protocol windows of the val split (target = the 20th frame): flow
extrapolation against the refined forecast.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from swiftcast.data.labels import IGNORE_ID, NUM_CLASSES
from swiftcast.errors import DataError, SwiftcastError
from swiftcast.forecast.protocol import FRAME_RATE_HZ, HORIZONS, protocol_window
from swiftcast.hardware import resolve_precision
from swiftcast.train import loop

#: options that define the run; ``--resume`` refuses to continue with different values
RUN_DEFINING = ("data", "seg_model", "flow_preset", "iters", "batch_size", "lr", "min_lr", "wd", "seed",
                "class_weights")
#: frames between the two frames of a flow (the forecasters' input spacing 3P at the training rate)
FLOW_SPAN = 3
#: the horizons a refiner learns (frames ahead of t)
HORIZON_FRAMES = tuple(h.frames for h in HORIZONS.values())
CACHE_FORMAT = "swiftcast.flow_refiner_samples/v1"


@dataclass
class SampleSet:
    """Cached refiner samples: one row per (window, horizon)."""

    warped: np.ndarray  # (N, H, W) uint8
    truth: np.ndarray  # (N, H, W) uint8
    displacement: np.ndarray  # (N, 2, h, w) float16, grid cells
    flow: np.ndarray  # (N, 2, h, w) float16, grid cells
    steps: np.ndarray  # (N,) float32
    horizon: np.ndarray  # (N,) int16: frames ahead
    root: Path

    def __len__(self) -> int:
        return len(self.steps)


def train_times(length: int, step: int = 2) -> list[int]:
    """The newest frames t of the training windows of a sequence: every ``step``-th frame with t-3 and t+9 in it."""
    return list(range(FLOW_SPAN, length - max(HORIZON_FRAMES), step))


def build_samples(data: str | Path, split: str, segmenter, preset: str, times: dict[int, list[int]] | None = None,
                  cache_dir: str | Path | None = None, progress: bool = True) -> SampleSet:
    """The refiner samples of a split (built and cached on first use).

    ``times``: horizon frames -> the frames t to use in every sequence (default: :func:`train_times` for both).
    """
    from swiftcast.data.cityscapes import CityscapesDataset, read_train_ids
    from swiftcast.data.transforms import read_rgb, resize_label
    from swiftcast.forecast.motion import FlowExtrapolation
    from swiftcast.forecast.refine import grid_size, refiner_inputs

    dataset = CityscapesDataset(data, split, require_labels=False)
    sequences = [s for s in dataset.sequences if len(s.frames) > FLOW_SPAN + max(HORIZON_FRAMES)]
    if not sequences:
        raise DataError(f"no sequence of {data} ({split}) has the {FLOW_SPAN + max(HORIZON_FRAMES) + 1} frames a "
                        "refiner sample needs")
    size = tuple(int(v) for v in segmenter.input_size)
    grid = grid_size(size)
    plan = []  # (sequence, t, horizon frames)
    for seq in sequences:
        for k in HORIZON_FRAMES:
            for t in (times or {}).get(k, train_times(len(seq.frames))):
                frame = seq.frames[t + k] if t + k < len(seq.frames) else None
                if t >= FLOW_SPAN and frame is not None and frame.label_path is not None:
                    plan.append((seq, t, k))
    if not plan:
        raise DataError(f"no refiner sample in {data} ({split}): the target frames have no ground truth")
    key = json.dumps([segmenter.model_id, preset, list(size), FLOW_SPAN,
                      [(s.frames[t].stem, k) for s, t, k in plan]])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    root = Path(cache_dir) if cache_dir else Path(data) / ".cache" / "flow_refiner"
    root = root / f"{segmenter.model_id}-{preset}-{split}-{digest}"
    meta_path = root / "meta.json"
    n = len(plan)
    shapes = {"warped": ((n, *size), np.uint8), "truth": ((n, *size), np.uint8),
              "displacement": ((n, 2, *grid), np.float16), "flow": ((n, 2, *grid), np.float16),
              "steps": ((n,), np.float32), "horizon": ((n,), np.int16)}
    if not meta_path.is_file():
        root.mkdir(parents=True, exist_ok=True)
        arrays = {name: np.lib.format.open_memmap(root / f"{name}.npy", "w+", dtype, shape)
                  for name, (shape, dtype) in shapes.items()}
        flow = FlowExtrapolation(preset)
        row, current = 0, None
        images: dict[int, np.ndarray] = {}
        for seq, t, k in tqdm(plan, desc=f"refiner samples ({split})", unit="sample", disable=not progress):
            if seq is not current:
                current, images, labels_of, motions = seq, {}, {}, {}

            def rgb(i: int) -> np.ndarray:
                if i not in images:
                    images[i] = read_rgb(seq.frames[i].image_path)
                return images[i]

            if t not in labels_of:
                labels_of[t] = segmenter(rgb(t), want_features=False).labels
                motions[t] = flow.motion(rgb(t), rgb(t - FLOW_SPAN), FLOW_SPAN)
            inputs = refiner_inputs(labels_of[t], motions[t], k, size)
            truth = read_train_ids(seq.frames[t + k])
            arrays["warped"][row] = inputs.warped
            arrays["truth"][row] = truth if truth.shape == size else resize_label(truth, size)
            arrays["displacement"][row] = inputs.displacement
            arrays["flow"][row] = inputs.flow
            arrays["steps"][row] = inputs.steps
            arrays["horizon"][row] = k
            row += 1
        for a in arrays.values():
            a.flush()
        del arrays
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "samples": n, "seg_model_id": segmenter.model_id,
                                   "flow_preset": preset, "size": list(size), "split": split,
                                   "data": str(Path(data).resolve())}, indent=2))
        os.replace(tmp, meta_path)
    loaded = {name: np.load(root / f"{name}.npy", mmap_mode="r") for name in shapes}
    return SampleSet(root=root, **loaded)


def batch_tensors(samples: SampleSet, rows: list[int], flips: list[bool] | None = None,
                  device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """(warped, truth, displacement, flow, steps) of some rows, flipped left-right where ``flips`` says."""
    order = np.argsort(rows)  # memory-mapped reads in file order
    rows_sorted = [rows[i] for i in order]
    warped = samples.warped[rows_sorted].copy()
    truth = samples.truth[rows_sorted].copy()
    disp = samples.displacement[rows_sorted].astype(np.float32)
    flow = samples.flow[rows_sorted].astype(np.float32)
    if flips is not None:
        for j, i in enumerate(order):
            if flips[i]:
                warped[j], truth[j] = warped[j, :, ::-1], truth[j, :, ::-1]
                disp[j], flow[j] = disp[j, :, :, ::-1], flow[j, :, :, ::-1]
                disp[j, 0] *= -1
                flow[j, 0] *= -1
    return (torch.from_numpy(warped).to(device), torch.from_numpy(truth).to(device),
            torch.from_numpy(np.ascontiguousarray(disp)).to(device),
            torch.from_numpy(np.ascontiguousarray(flow)).to(device),
            torch.from_numpy(samples.steps[rows_sorted].copy()).to(device))


@torch.no_grad()
def score(net: torch.nn.Module, samples: SampleSet, device: torch.device, batch_size: int = 8) -> dict[int, dict]:
    """mIoU of flow extrapolation and of the refined forecast per horizon (frames ahead) on a sample set."""
    from swiftcast.metrics import ConfusionMeter

    was_training = net.training
    net.eval()
    meters = {}
    for start in range(0, len(samples), batch_size):
        rows = list(range(start, min(start + batch_size, len(samples))))
        warped, truth, disp, flow, steps = batch_tensors(samples, rows, device=device)
        refined = net.refine(warped, disp, flow, steps)
        for j, row in enumerate(rows):
            plain, ours = meters.setdefault(int(samples.horizon[row]), (ConfusionMeter(), ConfusionMeter()))
            plain.update(warped[j].cpu(), truth[j].cpu())
            ours.update(refined[j].to(torch.uint8).cpu(), truth[j].cpu())
    net.train(was_training)
    out = {}
    for k, (plain, ours) in sorted(meters.items()):
        p, o = plain.summary(), ours.summary()
        out[k] = {"flow_miou": p["miou"], "refined_miou": o["miou"], "flow_miou_mo": p["miou_mo"],
                  "refined_miou_mo": o["miou_mo"], "num_samples": int((samples.horizon == k).sum())}
    return out


def class_weights(samples: SampleSet, power: float = 0.5, every: int = 10) -> torch.Tensor:
    """Per-class loss weights ``frequency ** -power`` (mean 1 over the classes present; absent classes 0) from the
    ground truth of every ``every``-th sample: the metric is a mean over classes, the pixels are mostly road."""
    counts = np.zeros(NUM_CLASSES, np.int64)
    for row in range(0, len(samples), every):
        counts += np.bincount(samples.truth[row].ravel(), minlength=256)[:NUM_CLASSES]
    present = counts > 0
    weights = np.zeros(NUM_CLASSES, np.float64)
    weights[present] = (counts[present] / counts.sum()) ** -power
    weights[present] /= weights[present].mean()
    return torch.tensor(weights, dtype=torch.float32)


def run_training(args: argparse.Namespace) -> loop.LoopEnd:
    """Train as ``swiftcast train-flow-refiner`` does (``args`` as its command parses them)."""
    from swiftcast.forecast.features import load_segmenter
    from swiftcast.forecast.motion import check_preset
    from swiftcast.models.registry import build_refiner

    started = time.time()
    out = Path(args.out)
    loop.check_schedule(args)
    try:
        check_preset(args.flow_preset)
    except ValueError as exc:
        raise SwiftcastError(str(exc)) from None
    loop.check_new_or_resumed(out, args.resume)
    info = loop.init_distributed(args.device)
    if info.distributed:
        raise SwiftcastError("train-flow-refiner runs in one process (its samples are small): start it without "
                             "torchrun")
    torch.manual_seed(args.seed)
    segmenter = load_segmenter(args.seg_model, str(info.device))
    precision = resolve_precision(args.precision, info.device)
    train_set = build_samples(args.data, "train", segmenter, args.flow_preset, cache_dir=args.cache_dir)
    val_set = None
    if not args.no_val:
        from swiftcast.data.cityscapes import has_split

        if has_split(args.data, "val", "leftImg8bit_sequence"):
            times = {h.frames: [protocol_window(h).last] for h in HORIZONS.values()}
            val_set = build_samples(args.data, "val", segmenter, args.flow_preset, times, args.cache_dir)

    weights = class_weights(train_set).to(info.device) if args.class_weights == "balanced" else None
    net = build_refiner("flow_refiner", num_classes=NUM_CLASSES).to(info.device).train()
    optimizer = torch.optim.AdamW(
        [{"params": list(net.parameters()), "lr": args.lr, "initial_lr": args.lr, "weight_decay": args.wd}])
    run = loop.start_run(out, started, args, RUN_DEFINING, net, optimizer)
    loss_curve = loop.LossCurve(list(run.saved.get("loss_curve", [])), args.iters)

    def step(batch_ids: list[tuple[int, int]]) -> float:
        rows = [i for i, _ in batch_ids]
        flips = [bool(np.random.default_rng(seed).random() < 0.5) for _, seed in batch_ids]
        warped, truth, disp, flow, steps = batch_tensors(train_set, rows, flips, info.device)
        half = truth[:, ::2, ::2].long()
        return loop.train_step(optimizer, lambda: net(warped[:, ::2, ::2], disp, flow, steps),
                               lambda scores: F.cross_entropy(scores, half, weights, ignore_index=IGNORE_ID),
                               info.device, precision)

    def validate(it: int) -> dict | None:
        if val_set is None:
            return None
        scores = score(net, val_set, info.device)
        tqdm.write(f"iter {it}: val mIoU " + "; ".join(
            f"t+{k}: flow {100 * s['flow_miou']:.1f} -> refined {100 * s['refined_miou']:.1f}"
            for k, s in scores.items()))
        return {"iteration": it, **{f"t+{k}": v for k, v in scores.items()}}

    def checkpoint(it: int, val: dict | None) -> None:
        state = run.state(it, optimizer, {k: getattr(args, k) for k in RUN_DEFINING}, loss_curve=loss_curve.points)
        config = {
            "kind": "flow_refiner", "architecture": "flow_refiner", "name": "Flow extrapolation + refiner",
            "seg_model_id": segmenter.model_id, "seg_model": str(args.seg_model),
            "input_size": list(segmenter.input_size),
            "flow": {"preset": args.flow_preset, "span_frames": FLOW_SPAN, "frame_rate_hz": FRAME_RATE_HZ},
            "horizon_frames": list(HORIZON_FRAMES),
            "training": {
                "command": run.commands[0], "resumed_with": run.commands[1:], "seed": args.seed,
                "loss": "cross-entropy of scale * onehot(flow-extrapolated labels) + residual at half resolution "
                        f"(ground truth of t+3 and t+9, every second pixel), ignore {IGNORE_ID}"
                        + (", classes weighted by frequency^-0.5" if weights is not None else ""),
                "class_weights": None if weights is None else [round(float(w), 4) for w in weights],
                "precision": precision, "num_samples": len(train_set), "samples": str(train_set.root),
                "data": {"root": str(Path(args.data).resolve()), "split": "train"},
                "hardware": loop.hardware_description(info), "wall_time_s": round(run.wall_time_s(), 1),
                "iteration": it, "total_iters": args.iters, "batch_size": args.batch_size,
                "optimizer": {"name": "AdamW", "lr": args.lr, "weight_decay": args.wd,
                              "schedule": f"cosine per iteration to {args.min_lr}"},
                "augmentation": "horizontal flip", "loss_curve": loss_curve.points, "val_history": run.history,
            },
            "metrics": {"val": val} if val else {},
        }
        loop.write_checkpoint_dir(out, net, config, state)

    out.mkdir(parents=True, exist_ok=True)
    print(f"training a flow refiner on {len(train_set)} samples (t+{' and t+'.join(map(str, HORIZON_FRAMES))}) of "
          f"{args.data}, {args.iters} iterations of {args.batch_size}, {precision}")
    end = min(args.iters, args.stop_at) if args.stop_at else args.iters
    sampler = loop.StreamBatchSampler(len(train_set), args.batch_size, end, run.start_iter, args.seed)
    return loop.run_loop(run, sampler, step, optimizer, info, total_iters=args.iters, end=end, min_lr=args.min_lr,
                         validate=validate, checkpoint=checkpoint, val_every=args.val_every,
                         save_every=args.save_every, desc="train-flow-refiner", loss_digits=4, loss_curve=loss_curve)

