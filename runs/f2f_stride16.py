"""Šarić et al.'s feature-to-feature forecasters on finer features: the SwiftNet ladder's stride-16 output.

    python runs/f2f_stride16.py features            # data/forecast (train) and the val splits of seeds 1, 2, 3
    python runs/f2f_stride16.py decoder             # a skip-less decoder of stride-16 features (--level s32: SPP's)
    python runs/f2f_stride16.py train --horizon short   # ConvF2F, DeformF2F-8 and its -FT (and: --horizon mid)
    python runs/f2f_stride16.py score [--sequences 50|200] [--markdown OUT]
    python runs/f2f_stride16.py report              # runs/f2f_stride16.md from every score run saved

``--train-sequences 600`` (every step but ``decoder``) learns from all 600 train sequences of ``data/synth`` instead.

Why: at the model's input size (256x512) the SPP features that ``train-forecast`` forecasts are an 8x16 grid. A
skip-less decoder of that grid gets 32-38 mIoU on the target frame (oracle), and the same decoder on the features of
frame t (copy-last) is within 0.0-2.1 points of it at +3 frames: three frames of motion barely move anything on
cells of 32 pixels, so no forecaster can show the ordering of Šarić et al. (GCPR 2019) there. They forecast
Cityscapes frames downscaled to 1024x512, an SPP grid of 16x32. This study forecasts the ladder's first step instead
(the SPP features upsampled to stride 16 and blended with the backbone's stride-16 skip, 128 channels, 16x32: the
paper's grid), decoded by a skip-less decoder trained for them, with the recipes of ``train-forecast``: feature MSE,
1500 iterations (Adam, lr 1e-3 with the deformable offsets at a tenth, cosine, batch 12), then -FT, 300 iterations
of cross-entropy at the decoder's output stride 4 (lr 1e-4, batch 8), fine-tuning the decoder jointly with the
forecaster as Šarić et al. fine-tune F2F with the upsampling path (its batch-norm statistics stay); -FT through the
frozen decoder, what ``train-forecast --finetune`` does without ``--tune-decoder``, is scored as an extra row.
Everything is scored with the protocol of Šarić et al. on the val splits of three world seeds never used in
training: the 50 sequences of every other table, and 150 more of each seed (``score --sequences 200``, the default),
so that the spread of a margin over the seeds is less the luck of 50 sequences.

Needs ``data/forecast``, 120 train sequences of world seed 0 (``swiftcast synth --out data/forecast --split train
--sequences 120 --seed 0``; ``data/synth`` with 600 for ``--train-sequences 600``), ``data/synth_val1`` .. ``3``
(``swiftcast synth --out data/synth_valN --split val --sequences 50 --seed N``) and ``data/synth_val1_more`` .. ``3``
(``swiftcast synth --out data/synth_valN_more --split val --sequences 150 --start 50 --seed N``).

Every step is deterministic on one thread (seed 0; ``features --threads 2`` is faster and may differ in the last bits)
and writes under ``runs/f2f_stride16/``; ``train`` resumes from
its last save (every 200 iterations). One thread per process: run the two horizons side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from functools import partial
from pathlib import Path
from typing import Sequence

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
#: train sequences of world seed 0 by how many: 120 (what train-forecast's recipes use) or all 600 of data/synth
TRAIN_DATA = {120: "data/forecast", 600: "data/synth"}
VAL_DATA = ("data/synth_val1", "data/synth_val2", "data/synth_val3")
#: 150 more val sequences of each of those seeds (``--start 50``): ``score --sequences 200`` scores on both folders,
#: four times the frames, so that the spread of a margin over the seeds is less the luck of 50 sequences
MORE_VAL_DATA = ("data/synth_val1_more", "data/synth_val2_more", "data/synth_val3_more")
SEQUENCE_FRAMES = 30
#: the frames of a val sequence the protocol reads (0-based): mid-term inputs 1, 4, 7, 10, short-term 7, 10, 13, 16,
#: target 19
VAL_FRAMES = (1, 4, 7, 10, 13, 16, 19)
PAST = {"short": (2, 3, 4, 5), "mid": (0, 1, 2, 3)}  # positions in VAL_FRAMES
TARGET = 6
DECODER_WIDTHS = (64, 32, 16)  # the shipped skip-less decoder's widths
LEVELS = ("s32", "s16")
STAGES = (  # (name, builder, finetune: None (feature MSE) | "frozen" | "joint" decoder, iterations, batch)
    ("conv_f2f", conv_f2f, None, 1500, 12),
    ("deform_f2f8", deform_f2f8, None, 1500, 12),
    ("deform_f2f8_ft", deform_f2f8, "frozen", 300, 8),
    ("deform_f2f8_ft_joint", deform_f2f8, "joint", 300, 8),
    # the paper's ablation: DeformF2F-8's own layers with plain convolutions (ConvF2F's first layer is a 3x3 conv
    # of the 512 stacked channels where DeformF2F-8 has a 1x1, so it sees farther and has 9x those weights)
    ("deform_f2f8_plain", partial(deform_f2f8, deformable=False), None, 1500, 12),
)
BUILDERS = {name: build for name, build, *_ in STAGES}
#: (row, stage) of every trained forecaster. -FT is Šarić et al.'s: fine-tuned jointly with the upsampling path
FORECASTER_ROWS = (("DeformF2F-8-FT", "deform_f2f8_ft_joint"), ("DeformF2F-8", "deform_f2f8"),
                   ("ConvF2F", "conv_f2f"), ("DeformF2F-8-FT, frozen decoder", "deform_f2f8_ft"),
                   ("DeformF2F-8, plain convolutions", "deform_f2f8_plain"))
#: the paper's order, best first: the margins between neighbours are what the study measures
ROWS = ("Oracle", "DeformF2F-8-FT", "DeformF2F-8", "ConvF2F", "Copy last")
ALL_ROWS = ROWS + tuple(row for row, _ in FORECASTER_ROWS if row not in ROWS)


def extract(args: argparse.Namespace) -> None:
    """SPP (stride 32) and ladder stride-16 features of every train frame and of the val protocol frames, with the
    ground truth, one file per split."""
    missing = [root for root in (TRAIN_DATA[args.train_sequences], *VAL_DATA) if not Path(root).is_dir()]
    more = [root for root in MORE_VAL_DATA if Path(root).is_dir()]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: see how to make them at the top of {__file__}")
    segmenter = load_segmenter(SEG_MODEL)
    model = segmenter.model.eval()
    OUT.mkdir(parents=True, exist_ok=True)
    splits = [(train_split(args.train_sequences), TRAIN_DATA[args.train_sequences], "train", None)]
    splits += [(Path(v).name, v, "val", VAL_FRAMES) for v in (*VAL_DATA, *more)]
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


def train_split(sequences: int) -> str:
    """The name the features of ``sequences`` train sequences are saved under."""
    return "train" if sequences == 120 else f"train{sequences}"


def run_dir(stage: str, horizon: str, sequences: int) -> Path:
    """Where a forecaster trained on ``sequences`` train sequences lives."""
    return OUT / (f"{stage}_{horizon}" if sequences == 120 else f"{stage}_{horizon}_{sequences}seq")


def load_split(name: str, level: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = torch.load(OUT / f"features_{name}.pt")
    return data[level], data["gt"]


def protocol_frames(roots: Sequence[str], level: str) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """The protocol frames of the val splits ``roots`` (one seed) at ``level``, (N, len(VAL_FRAMES), C, h, w) float,
    the ground truth of their targets (N, H, W) and its size."""
    splits = [load_split(Path(root).name, level) for root in roots]
    features, truth = torch.cat([f for f, _ in splits]), torch.cat([t for _, t in splits])
    size = tuple(truth.shape[-2:])
    features = features.view(-1, len(VAL_FRAMES), *features.shape[1:]).float()
    return features, truth.view(-1, len(VAL_FRAMES), *size)[:, TARGET], size


def stage_decoder(stage_dir: Path) -> SkiplessDecoder:
    """The decoder a forecaster is scored with: its own where it was fine-tuned jointly with it, else the frozen one."""
    decoder = frozen_decoder()
    if (stage_dir / "decoder.pt").exists():
        decoder.load_state_dict(torch.load(stage_dir / "decoder.pt"))
    return decoder


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
    """The :data:`STAGES` of one horizon, one after the other (skipped once finished); the train features are read
    once, for the first stage that still has to train."""
    train: tuple[torch.Tensor, torch.Tensor] | None = None
    for name, build, finetune, iters, batch in STAGES:
        out = run_dir(name, args.horizon, args.train_sequences)
        if (out / "weights.pt").exists():
            continue
        if train is None:
            train = load_split(train_split(args.train_sequences), "s16")
        init = run_dir("deform_f2f8", args.horizon, args.train_sequences) if finetune else None
        train_stage(out, build, args.horizon, finetune, iters, batch, init, *train)


def train_stage(out: Path, build, horizon_name: str, finetune: str | None, iters: int, batch: int,
                init: Path | None, features: torch.Tensor, truth: torch.Tensor) -> None:
    """One forecaster on the train ``features`` (stride 16) and ``truth``: feature MSE, or -FT (cross-entropy at
    stride 4) from ``init``'s weights, through the frozen decoder or fine-tuning it jointly ("joint": the decoder's
    weights learn too, its batch-norm statistics stay; the decoder is saved with the forecaster)."""
    torch.manual_seed(0)
    horizon = get_horizon(horizon_name)
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
    groups = param_groups(net, lr, 1e-4)
    if finetune == "joint":
        decoder.requires_grad_(True)
        groups.append({"params": list(decoder.parameters()), "lr": lr, "initial_lr": lr, "weight_decay": 1e-4})
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.99))
    out.mkdir(parents=True, exist_ok=True)
    start = 0
    if (out / "state.pt").exists():
        state = torch.load(out / "state.pt")
        net.load_state_dict(state["net"])
        if "decoder" in state:
            decoder.load_state_dict(state["decoder"])
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
            state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(), "iteration": it + 1}
            if finetune == "joint":
                state["decoder"] = decoder.state_dict()
            torch.save(state, out / "state.pt")
    if finetune == "joint":
        torch.save(decoder.state_dict(), out / "decoder.pt")
    torch.save(net.state_dict(), out / "weights.pt")


def score(args: argparse.Namespace) -> None:
    """mIoU of every row per seed and horizon, the margins between neighbouring rows, and whether they hold."""
    seeds = [(root,) if args.sequences == 50 else (root, more) for root, more in zip(VAL_DATA, MORE_VAL_DATA)]
    missing = [root for roots in seeds for root in roots if not (OUT / f"features_{Path(root).name}.pt").exists()]
    if missing:
        sys.exit(f"no features of {', '.join(missing)}: run the features step (see the top of {__file__})")
    decoder = frozen_decoder()
    val = [protocol_frames(roots, "s16") for roots in seeds]  # read once, scored at both horizons
    results: dict = {}
    for horizon in ("short", "mid"):
        nets, decoders = {}, {"Oracle": decoder, "Copy last": decoder}
        for row, stage in FORECASTER_ROWS:
            stage_dir = run_dir(stage, horizon, args.train_sequences)
            if not (stage_dir / "weights.pt").exists():
                sys.exit(f"{stage_dir} is not trained: run the train step")
            net = BUILDERS[stage]()
            net.load_state_dict(torch.load(stage_dir / "weights.pt"))
            nets[row] = net.eval()
            decoders[row] = stage_decoder(stage_dir)
        per_seed = {row: [] for row in ALL_ROWS}
        for features, truth, size in val:
            past = features[:, list(PAST[horizon])].flatten(1, 2)
            rows = {"Oracle": features[:, TARGET], "Copy last": features[:, PAST[horizon][-1]]}
            with torch.no_grad():
                rows.update({row: net(past) for row, net in nets.items()})
            for row in ALL_ROWS:
                per_seed[row].append(round(miou(decode(decoders[row], rows[row], size), truth), 2))
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
        for roots in seeds:
            features, truth, size = protocol_frames(roots, level)
            for row, position in (("Oracle", TARGET), ("Copy last, short", PAST["short"][-1]),
                                  ("Copy last, mid", PAST["mid"][-1])):
                headroom.setdefault(level, {}).setdefault(row, []).append(
                    round(miou(decode(decoder, features[:, position], size), truth), 2))
    report = {"train_sequences": args.train_sequences, "sequences_per_seed": args.sequences, "miou": results,
              "margins": margins, "headroom": headroom}
    saved = OUT / f"results_train{args.train_sequences}_val{args.sequences}.json"
    saved.write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


def markdown(report: dict) -> str:
    seeds = ", ".join(Path(v).name for v in VAL_DATA)
    lines = [f"Forecasters trained on {report['train_sequences']} sequences; mIoU on "
             f"{report['sequences_per_seed']} val sequences of each world seed ({seeds}; stride-16 features, "
             "skip-less decoder):", "",
             "| | short (+3) | mid (+9) |", "| --- | --- | --- |"]
    for row in (row for row in ALL_ROWS if row in report["miou"]["short"]):  # rows added since a run was scored
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


def write_report(args: argparse.Namespace) -> None:
    """``runs/f2f_stride16.md``: the tables of every score run saved so far, most train and val sequences first."""
    runs = [json.loads(path.read_text()) for path in OUT.glob("results_train*_val*.json")]
    runs.sort(key=lambda r: (-r["train_sequences"], -r["sequences_per_seed"]))
    parts = ["# Šarić et al.'s forecasters on stride-16 features", "",
             "Written by `python runs/f2f_stride16.py report` from the saved `score` runs.", ""]
    for run in runs:
        parts += [f"## {run['train_sequences']} train sequences, {run['sequences_per_seed']} val sequences per "
                  "seed", "", markdown(run)]
    Path(__file__).with_suffix(".md").write_text("\n".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("features", "decoder", "train", "score", "report"))
    parser.add_argument("--horizon", choices=("short", "mid"), default="short")
    parser.add_argument("--level", choices=LEVELS, default="s16", help="features the decoder step trains on")
    parser.add_argument("--markdown", help="also write the score tables to this file")
    parser.add_argument("--sequences", type=int, choices=(50, 200), default=200,
                        help="val sequences per seed that score reads: the 50 of data/synth_valN, or 150 more "
                        "with them")
    parser.add_argument("--train-sequences", type=int, choices=tuple(TRAIN_DATA), default=120,
                        help="train sequences the forecasters learn from (features, train and score)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the features step may take more)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = {"features": extract, "decoder": train_decoder, "train": train_forecasters, "score": score,
             "report": write_report}
    steps[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
