"""How far warping the present can go: flow extrapolation against a warp with the target frame's own motion.

    python runs/flow_warp_bound.py data/synth_val1 data/synth_val2 data/synth_val3 [--model M] [--markdown OUT]

On the windows of the forecasting protocol (target frame index 19; short: t = 16, mid: t = 10) it scores, against
the ground truth of the target: the single-frame model on the target (oracle) and on t (copy-last); flow
extrapolation as the forecast node runs it (DIS flow from t back to t-1, carried on); and the same labels of t
warped with the motion of the *target frame itself* back to t, which uses the future images: DIS flows (preset
medium) between consecutive frames from the target back to t, followed one after the other. No forecast that warps
the labels of t can know the motion better than that last row, so its share of the copy-last -> oracle gap bounds
every such method; what is left needs content that is not visible at t (what moves into view, what a moving object
uncovers).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from swiftcast.data.cityscapes import CityscapesDataset
from swiftcast.data.transforms import read_rgb
from swiftcast.forecast.motion import FLOW_SPAN_FRAMES, FlowExtrapolation, follow_flow, warp_labels
from swiftcast.forecast.protocol import TARGET_INDEX, protocol_window
from swiftcast.metrics import ConfusionMeter
from swiftcast.runtime.segmenter import Segmenter

ROWS = ("oracle", "copy-last", "flow extrapolation", "warp with the target's own motion")


def tracked_motion(flow: FlowExtrapolation, frames: list[np.ndarray]) -> np.ndarray:
    """The displacement from the first of ``frames`` (prepared grey, newest first) back to the last, following the
    flow between each consecutive pair from where the previous one ended."""
    height, width = frames[0].shape[:2]
    start = np.stack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)), -1)
    position = start.reshape(-1, 2)
    for newer, older in zip(frames, frames[1:]):
        position = follow_flow(flow.flow_between(newer, older), position, 1.0)
    return position.reshape(height, width, 2) - start


def score_split(root: Path, segmenter: Segmenter, flow: FlowExtrapolation,
                tracker: FlowExtrapolation) -> dict[str, dict[str, float]]:
    """mIoU of every row of :data:`ROWS` per horizon on the val split of ``root``."""
    dataset = CityscapesDataset(root, "val", frames=f"index:{TARGET_INDEX}")
    meters = {(row, h): ConfusionMeter() for row in ROWS for h in ("short", "mid")}
    for seq in dataset.sequences:
        if len(seq.frames) <= TARGET_INDEX:
            continue
        target_rgb, truth = dataset.load(dataset.frames.index(seq.frames[TARGET_INDEX]))
        oracle = segmenter(target_rgb, want_features=False).labels
        grey = {i: tracker.prepare(read_rgb(seq.frames[i].image_path)) for i in range(TARGET_INDEX + 1)}
        for h in ("short", "mid"):
            window = protocol_window(h)
            rgb = read_rgb(seq.frames[window.last].image_path)
            labels = segmenter(rgb, want_features=False).labels
            past = read_rgb(seq.frames[window.last - FLOW_SPAN_FRAMES].image_path)
            motion = flow.motion(rgb, past, FLOW_SPAN_FRAMES)
            own = tracked_motion(tracker, [grey[i] for i in range(window.target, window.last - 1, -1)])
            rows = {"oracle": oracle, "copy-last": labels,
                    "flow extrapolation": flow.forecast(labels, motion, window.target - window.last),
                    "warp with the target's own motion": warp_labels(labels, own)}
            for row, pred in rows.items():
                meters[row, h].update(torch.from_numpy(pred), torch.from_numpy(truth))
    return {h: {row: meters[row, h].summary()["miou"] for row in ROWS} for h in ("short", "mid")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", type=Path, help="dataset roots with a val split")
    parser.add_argument("--model", default="models/swiftnet_efflite0_synth", help="segmentation checkpoint")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    segmenter, flow, tracker = Segmenter(args.model), FlowExtrapolation(), FlowExtrapolation("medium")
    lines = ["| val split | horizon | oracle | copy-last | flow extrapolation (gap share) | "
             "warp with the target's own motion (gap share) |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for root in args.data:
        for h, r in score_split(root, segmenter, flow, tracker).items():
            o, c = r["oracle"], r["copy-last"]
            share = {row: (r[row] - c) / (o - c) for row in ROWS[2:]}
            lines.append(f"| {root.name} | {h} | {100 * o:.1f} | {100 * c:.1f} | "
                         + " | ".join(f"{100 * r[row]:.1f} ({share[row]:.2f})" for row in ROWS[2:]) + " |")
            print(lines[-1], flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
