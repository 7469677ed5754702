"""Šarić et al.'s feature-to-feature forecasters on finer features: the SwiftNet ladder's stride-16 output.

    python runs/f2f_stride16.py features            # data/forecast (train) and the val splits of seeds 1, 2, 3
    python runs/f2f_stride16.py decoder             # a skip-less decoder of stride-16 features (--level s32: SPP's)
    python runs/f2f_stride16.py train --horizon short   # ConvF2F, DeformF2F-8, DeformF2F-8-FT (and: --horizon mid)
    python runs/f2f_stride16.py score [--markdown OUT]

Why: at the model's input size (256x512) the SPP features that ``train-forecast`` forecasts are an 8x16 grid. A
skip-less decoder of that grid gets 32-38 mIoU on the target frame (oracle), and the same decoder on the features of
frame t (copy-last) is within 0.0-2.1 points of it at +3 frames: three frames of motion barely move anything on
cells of 32 pixels, so no forecaster can show the ordering of Šarić et al. (GCPR 2019) there. Cityscapes frames are
four times as wide and as tall, their SPP grid 32x64. This study forecasts the ladder's first step instead (the SPP
features upsampled to stride 16 and blended with the backbone's stride-16 skip, 128 channels, 16x32), decoded by a
skip-less decoder trained for them, with the recipes of ``train-forecast``: feature MSE (Adam, lr 1e-3 with the
deformable offsets at a tenth, cosine, batch 12), then -FT, cross-entropy through the frozen decoder at its output
stride 4 (lr 1e-4, batch 8). Everything is scored with the protocol of Šarić et al. on the val splits of three world
seeds never used in training.

Needs ``data/forecast``, 120 train sequences of world seed 0 (``swiftcast synth --out data/forecast --split train
--sequences 120 --seed 0``), and ``data/synth_val1`` .. ``3`` (``swiftcast synth --out data/synth_valN --split val
--sequences 50 --seed N``).

Every step is deterministic on one thread (seed 0) and writes under ``runs/f2f_stride16/``; ``train`` resumes from
its last save (every 200 iterations). One thread per process: run the two horizons side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from swiftcast.data.cityscapes import CityscapesDataset
from swiftcast.data.transforms import read_label, read_rgb
from swiftcast.forecast.decoder import SkiplessDecoder
from swiftcast.forecast.features import load_segmenter
from swiftcast.forecast.protocol import get_horizon, training_windows
from swiftcast.metrics import ConfusionMeter
from swiftcast.models.f2f import conv_f2f, deform_f2f8
from swiftcast.train.forecast import param_groups

OUT = Path("runs/f2f_stride16")
SEG_MODEL = "models/swiftnet_efflite0_synth"
TRAIN_DATA = "data/forecast"  # 120 train sequences of world seed 0 (what train-forecast's recipes use)
VAL_DATA = ("data/synth_val1", "data/synth_val2", "data/synth_val3")
SEQUENCE_FRAMES = 30
#: the frames of a val sequence the protocol reads (0-based): mid-term inputs 1, 4, 7, 10, short-term 7, 10, 13, 16,
#: target 19
VAL_FRAMES = (1, 4, 7, 10, 13, 16, 19)
PAST = {"short": (2, 3, 4, 5), "mid": (0, 1, 2, 3)}  # positions in VAL_FRAMES
TARGET = 6
DECODER_WIDTHS = (64, 32, 16)  # the shipped skip-less decoder's widths
LEVELS = ("s32", "s16")
STAGES = (  # (name, builder, finetune, iterations, batch)
    ("conv_f2f", conv_f2f, False, 800, 12),
    ("deform_f2f8", deform_f2f8, False, 800, 12),
    ("deform_f2f8_ft", deform_f2f8, True, 200, 8),
)
ROWS = ("Oracle", "DeformF2F-8-FT", "DeformF2F-8", "ConvF2F", "Copy last")


def extract(args: argparse.Namespace) -> None:
    """SPP (stride 32) and ladder stride-16 features of every train frame and of the val protocol frames, with the
    ground truth, one file per split."""
    missing = [root for root in (TRAIN_DATA, *VAL_DATA) if not Path(root).is_dir()]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: see how to make them at the top of {__file__}")
    segmenter = load_segmenter(SEG_MODEL)
    model = segmenter.model.eval()
    OUT.mkdir(parents=True, exist_ok=True)
    splits = [("train", TRAIN_DATA, "train", None)] + [(Path(v).name, v, "val", VAL_FRAMES) for v in VAL_DATA]
    for name, root, split, keep in splits:
        target = OUT / f"features_{name}.pt"
        if target.exists():
            continue
        sequences = CityscapesDataset(root, split, layout="leftImg8bit_sequence", require_labels=False).sequences
        frames = [f for s in sequences for i, f in enumerate(s.frames) if keep is None or i in keep]
        s32, s16, truth = [], [], []
        for frame in tqdm(frames, desc=name, mininterval=10):
            with torch.no_grad():
                spp, skips = model.encode(segmenter.preprocess(read_rgb(frame.image_path)))
                s32.append(spp[0].half())
                s16.append(model.upsample[0](spp, skips[0])[0].half())  # the ladder's first step: stride 16
            label = read_label(frame.label_path) if frame.label_path else np.full(segmenter.input_size, 255, np.uint8)
            truth.append(torch.from_numpy(label))
        torch.save({"s32": torch.stack(s32), "s16": torch.stack(s16), "gt": torch.stack(truth)}, target)


def load_split(name: str, level: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = torch.load(OUT / f"features_{name}.pt")
    return data[level], data["gt"]


def protocol_frames(root: str, level: str) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """The val split's protocol frames at ``level``, (N, len(VAL_FRAMES), C, h, w) float, the ground truth of their
    targets (N, H, W) and its size."""
    features, truth = load_split(Path(root).name, level)
    size = tuple(truth.shape[-2:])
    features = features.view(-1, len(VAL_FRAMES), *features.shape[1:]).float()
    return features, truth.view(-1, len(VAL_FRAMES), *size)[:, TARGET], size


def decode(decoder: torch.nn.Module, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Labels at ``size``: the decoder up to stride 4, argmax, nearest resize (as eval-forecast decodes)."""
    with torch.no_grad():
        logits = decoder(features.float(), out_size=size, upsample_logits=False)
    return F.interpolate(logits.argmax(1, keepdim=True).float(), size=size, mode="nearest")[:, 0].long()


def miou(labels: torch.Tensor, truth: torch.Tensor) -> float:
    meter = ConfusionMeter()
    meter.update(labels, truth.long())
    return 100 * meter.summary()["miou"]


def cosine(step: int, total: int, lr: float, min_lr: float = 1e-6) -> float:
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * step / total))


def train_decoder(args: argparse.Namespace) -> None:
    """Skip-less decoder of stride-16 (``--level s16``) or SPP (``s32``) features: cross-entropy at stride 4 against
    the ground truth's centre pixel of each 4x4 cell, batch 16, horizontal flips, 2000 iterations."""
    torch.manual_seed(0)
    features, truth = load_split("train", args.level)
    size = tuple(truth.shape[-2:])
    truth = truth[:, 2::4, 2::4].contiguous()
    decoder = SkiplessDecoder(128, 19, widths=DECODER_WIDTHS)
    lr, iters, batch = 1e-3, 2000, 16
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=1e-4)
    generator = torch.Generator().manual_seed(0)
    for it in tqdm(range(iters), desc="decoder", mininterval=10):
        for group in optimizer.param_groups:
            group["lr"] = cosine(it, iters, lr)
        pick = torch.randint(len(features), (batch,), generator=generator)
        x, y = features[pick].float(), truth[pick].long()
        if torch.rand(1, generator=generator) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = decoder(x.contiguous(memory_format=torch.channels_last), out_size=size, upsample_logits=False)
        loss = F.cross_entropy(logits.float(), y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.save(decoder.state_dict(), OUT / f"decoder_{args.level}.pt")


def frozen_decoder(level: str = "s16") -> SkiplessDecoder:
    decoder = SkiplessDecoder(128, 19, widths=DECODER_WIDTHS)
    decoder.load_state_dict(torch.load(OUT / f"decoder_{level}.pt"))
    decoder.eval()
    for p in decoder.parameters():
        p.requires_grad_(False)
    return decoder


def train_forecasters(args: argparse.Namespace) -> None:
    """The three stages of one horizon, one after the other (skipped once finished)."""
    for name, build, finetune, iters, batch in STAGES:
        init = OUT / f"deform_f2f8_{args.horizon}" if finetune else None
        train_stage(OUT / f"{name}_{args.horizon}", build, args.horizon, finetune, iters, batch, init)


def train_stage(out: Path, build, horizon_name: str, finetune: bool, iters: int, batch: int,
                init: Path | None) -> None:
    if (out / "weights.pt").exists():
        return
    torch.manual_seed(0)
    horizon = get_horizon(horizon_name)
    features, truth = load_split("train", "s16")
    size = tuple(truth.shape[-2:])
    truth = truth[:, 2::4, 2::4].contiguous()
    windows = [(s, w) for s in range(len(features) // SEQUENCE_FRAMES)
               for w in training_windows(SEQUENCE_FRAMES, horizon)]
    decoder = frozen_decoder()
    net = build()
    if init is not None:
        net.load_state_dict(torch.load(init / "weights.pt"))
    lr = 1e-4 if finetune else 1e-3
    # train-forecast's groups: the deformable layers' offsets at a tenth of the rate
    optimizer = torch.optim.Adam(param_groups(net, lr, 1e-4), betas=(0.9, 0.99))
    out.mkdir(parents=True, exist_ok=True)
    start = 0
    if (out / "state.pt").exists():
        state = torch.load(out / "state.pt")
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["iteration"]
    generator = torch.Generator().manual_seed(0)
    net.train()
    started = time.time()
    for it in range(iters):
        pick = torch.randint(len(windows), (batch,), generator=generator)
        if it < start:  # replays the data order of the iterations already done
            continue
        for group in optimizer.param_groups:
            group["lr"] = cosine(it, iters, group["initial_lr"])
        chosen = [windows[i] for i in pick.tolist()]
        past = torch.stack([features[[s * SEQUENCE_FRAMES + j for j in w.inputs]] for s, w in chosen]).float()
        past = past.reshape(batch, -1, *past.shape[-2:])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            forecast = net(past)
            if finetune:
                logits = decoder(forecast.contiguous(memory_format=torch.channels_last), out_size=size,
                                 upsample_logits=False)
        if finetune:
            target = torch.stack([truth[s * SEQUENCE_FRAMES + w.target] for s, w in chosen]).long()
            loss = F.cross_entropy(logits.float(), target, ignore_index=255)
        else:
            target = torch.stack([features[s * SEQUENCE_FRAMES + w.target] for s, w in chosen]).float()
            loss = F.mse_loss(forecast.float(), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (it + 1) % 100 == 0:
            print(f"{out.name} {it + 1}/{iters} loss {loss.item():.4f} {time.time() - started:.0f} s", flush=True)
        if (it + 1) % 200 == 0 or it + 1 == iters:
            torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "iteration": it + 1},
                       out / "state.pt")
    torch.save(net.state_dict(), out / "weights.pt")


def score(args: argparse.Namespace) -> None:
    """mIoU of every row per seed and horizon, the margins between neighbouring rows, and whether they hold."""
    decoder = frozen_decoder()
    results: dict = {}
    for horizon in ("short", "mid"):
        nets = {}
        for row, stage in (("ConvF2F", "conv_f2f"), ("DeformF2F-8", "deform_f2f8"),
                           ("DeformF2F-8-FT", "deform_f2f8_ft")):
            net = (deform_f2f8 if stage.startswith("deform") else conv_f2f)()
            net.load_state_dict(torch.load(OUT / f"{stage}_{horizon}" / "weights.pt"))
            nets[row] = net.eval()
        per_seed = {row: [] for row in ROWS}
        for root in VAL_DATA:
            features, truth, size = protocol_frames(root, "s16")
            past = features[:, list(PAST[horizon])].flatten(1, 2)
            rows = {"Oracle": features[:, TARGET], "Copy last": features[:, PAST[horizon][-1]]}
            with torch.no_grad():
                rows.update({row: net(past) for row, net in nets.items()})
            for row in ROWS:
                per_seed[row].append(round(miou(decode(decoder, rows[row], size), truth), 2))
        results[horizon] = per_seed
    margins = {}
    for horizon, per_seed in results.items():
        for upper, lower in zip(ROWS, ROWS[1:]):
            diffs = [u - l for u, l in zip(per_seed[upper], per_seed[lower])]
            margins[f"{horizon}: {upper} - {lower}"] = {
                "per_seed": [round(d, 2) for d in diffs], "mean": round(float(np.mean(diffs)), 2),
                "spread": round(max(diffs) - min(diffs), 2),
                "holds": bool(min(diffs) > 0 and np.mean(diffs) > max(diffs) - min(diffs))}
    # how far the future is from the present at each level: oracle and copy-last with a decoder of the same recipe
    headroom = {}
    for level in LEVELS:
        if not (OUT / f"decoder_{level}.pt").exists():
            continue
        decoder = frozen_decoder(level)
        for root in VAL_DATA:
            features, truth, size = protocol_frames(root, level)
            for row, position in (("Oracle", TARGET), ("Copy last, short", PAST["short"][-1]),
                                  ("Copy last, mid", PAST["mid"][-1])):
                headroom.setdefault(level, {}).setdefault(row, []).append(
                    round(miou(decode(decoder, features[:, position], size), truth), 2))
    report = {"miou": results, "margins": margins, "headroom": headroom}
    (OUT / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


def markdown(report: dict) -> str:
    seeds = ", ".join(Path(v).name for v in VAL_DATA)
    lines = [f"mIoU on the val splits of {seeds} (stride-16 features, skip-less decoder):", "",
             "| | short (+3) | mid (+9) |", "| --- | --- | --- |"]
    for row in ROWS:
        cells = [" / ".join(f"{v:.1f}" for v in report["miou"][h][row]) for h in ("short", "mid")]
        lines.append(f"| {row} | {cells[0]} | {cells[1]} |")
    lines += ["", "Margins between neighbouring rows, per seed (mean; spread = largest - smallest):", "",
              "| | per seed | mean | spread | holds |", "| --- | --- | ---: | ---: | --- |"]
    for name, m in report["margins"].items():
        lines.append(f"| {name} | {' / '.join(f'{d:+.2f}' for d in m['per_seed'])} | {m['mean']:+.2f} | "
                     f"{m['spread']:.2f} | {'yes' if m['holds'] else 'no'} |")
    if report["headroom"]:
        lines += ["", "Oracle and copy-last per level (skip-less decoders of the same recipe):", "",
                  "| level | " + " | ".join(next(iter(report["headroom"].values()))) + " |",
                  "| --- |" + " --- |" * len(next(iter(report["headroom"].values())))]
        for level, rows in report["headroom"].items():
            name = {"s32": "SPP, stride 32 (8x16)", "s16": "ladder, stride 16 (16x32)"}[level]
            lines.append(f"| {name} | " + " | ".join(" / ".join(f"{v:.1f}" for v in vals) for vals in rows.values())
                         + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("features", "decoder", "train", "score"))
    parser.add_argument("--horizon", choices=("short", "mid"), default="short")
    parser.add_argument("--level", choices=LEVELS, default="s16", help="features the decoder step trains on")
    parser.add_argument("--markdown", help="also write the score tables to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"features": extract, "decoder": train_decoder, "train": train_forecasters, "score": score}[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
