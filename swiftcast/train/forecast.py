"""``swiftcast train-forecast``: DeformF2F / ConvF2F training on cached SPP features (resumable, torchrun ready).

As in Šarić et al. (GCPR 2019): the segmentation model is frozen and only extracts features (cached once,
:mod:`swiftcast.forecast.features`); the forecaster learns to map the features of frames t-9, t-6, t-3, t to those
of t+k with an MSE loss. ``--finetune --init CKPT`` then continues from such a forecaster with cross-entropy
through the frozen skip-less decoder against the ground truth of frame t+k (the paper's "-FT"). The loss is taken
at the decoder's output stride 4 against the ground truth resized nearest-neighbour (centre pixel of each 4x4
cell, ignore id kept): what the node's labels come from (:func:`swiftcast.forecast.forecaster.decode_labels`), and
it spares upsampling 19 logit channels to full size and back-propagating through that (the decoder's own
parameters are frozen: only the gradient with respect to its input is computed).

Samples are every window (t-9 .. t -> t+k) of every train sequence, or ``--samples-per-sequence K`` of them (the
protocol window, whose target is the 20th frame, plus K-1 spread over the sequence; 2 = the paper's "2 samples per
sequence" variant, a row of its own in eval-forecast). Adam (0.9, 0.99) with a
per-iteration cosine schedule; the data order is the shared resumable stream of :mod:`swiftcast.train.loop`.

F2MF (``--method f2mf``, :mod:`swiftcast.models.f2mf`) trains the same two stages; its -FT loss is taken on the
fine-level forecast (frame t's single-frame labels warped by the forecast motion, blended with the decoded F2F
branch), so motion and blend weights learn to correct the single-frame labels of frame t. Those labels come with
the feature cache (``with_labels``). ``--precision auto`` runs the forward pass under bf16 autocast where the CPU
has bf16 matrix instructions (or the GPU bf16), see :mod:`swiftcast.hardware`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from swiftcast.data.labels import IGNORE_ID
from swiftcast.data.transforms import labels_at_size
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT
from swiftcast.errors import SwiftcastError
from swiftcast.forecast.protocol import FRAME_RATE_HZ, HORIZONS, INPUT_OFFSETS, get_horizon
from swiftcast.hardware import TRAIN_PRECISIONS, autocast, resolve_precision
from swiftcast.models.upsample import size_at_stride

METHODS = ("conv_f2f", "deform_f2f8", "f2mf")
#: options that define the run; ``--resume`` refuses to continue with different values
RUN_DEFINING = ("data", "seg_model", "horizon", "method", "finetune", "init", "iters", "batch_size",
                "samples_per_seq", "lr", "min_lr", "wd", "seed")
DEFAULT_LR = {False: 5e-4, True: 1e-4}  # MSE from scratch / cross-entropy fine-tuning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="Cityscapes-layout folder with leftImg8bit_sequence/train")
    parser.add_argument("--seg-model", default=DEFAULT_SEGMENTATION_CHECKPOINT,
                        help="frozen segmentation checkpoint: features and skip-less decoder "
                             f"(default: {DEFAULT_SEGMENTATION_CHECKPOINT})")
    parser.add_argument("--horizon", required=True, choices=tuple(HORIZONS), help="short (t+3) or mid (t+9)")
    parser.add_argument("--method", choices=METHODS, default="deform_f2f8", help="forecaster (default: deform_f2f8)")
    parser.add_argument("--finetune", action="store_true",
                        help="cross-entropy through the frozen skip-less decoder (DeformF2F's -FT); needs --init")
    parser.add_argument("--init", help="forecaster checkpoint to start from (required by --finetune)")
    parser.add_argument("--out", required=True, help="checkpoint folder to write (weights, config, training state)")
    parser.add_argument("--iters", type=int, default=3000, help="training iterations (default: 3000)")
    parser.add_argument("--batch-size", type=int, default=12, help="samples per iteration and process (default: 12)")
    parser.add_argument("--samples-per-sequence", "--samples-per-seq", dest="samples_per_seq", type=int, default=0,
                        metavar="K",
                        help="training windows per sequence: 0 = every valid window (default), K = the protocol "
                             "window (target = the 20th frame) plus K-1 spread over the sequence; 1 and 2 are the "
                             "settings of Šarić et al., GCPR 2019 (its last table row: 2 samples per sequence)")
    parser.add_argument("--lr", type=float, help="learning rate (default: 5e-4, or 1e-4 with --finetune)")
    parser.add_argument("--min-lr", type=float, default=1e-6, help="end of the cosine schedule (default: 1e-6)")
    parser.add_argument("--wd", type=float, default=1e-4, help="weight decay (default: 1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default: 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out exactly")
    parser.add_argument("--stop-at", type=int, metavar="ITER",
                        help="stop (resumably) after iteration ITER of --iters, e.g. for a time-boxed job")
    parser.add_argument("--save-every", type=int, default=500, help="checkpoint every N iterations (default: 500)")
    parser.add_argument("--val-every", type=int, default=0,
                        help="score the protocol on the val split every N iterations (default: only at the end)")
    parser.add_argument("--no-val", action="store_true", help="skip the final protocol score on the val split")
    parser.add_argument("--cache-dir", help="feature cache (default: <data>/.cache/features)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process")
    parser.add_argument("--precision", choices=TRAIN_PRECISIONS, default="auto",
                        help="auto: bf16 autocast where the CPU has bf16 matrix instructions (AMX, AVX512-BF16) or "
                             "the GPU supports bf16, else fp32 (default: auto)")


def _hparams(args: argparse.Namespace) -> dict:
    return {k: getattr(args, k) for k in RUN_DEFINING}


def main(args: argparse.Namespace) -> int:
    from swiftcast.train import loop

    started = time.time()
    out = Path(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.iters <= 0 or args.batch_size <= 0:
        raise SwiftcastError("--iters and --batch-size must be positive")
    if args.samples_per_seq < 0:
        raise SwiftcastError("--samples-per-sequence must be >= 0")
    if args.finetune and not args.init:
        raise SwiftcastError("--finetune needs --init CKPT (the MSE-trained forecaster to fine-tune)")
    if args.lr is None:
        args.lr = DEFAULT_LR[bool(args.finetune)]
    if (out / "config.json").exists() and not args.resume:
        raise SwiftcastError(f"{out} already holds a checkpoint: add --resume to continue it, or choose another --out")
    info = loop.init_distributed(args.device)
    try:
        return _run(args, info, out, started)
    finally:
        loop.shutdown_distributed()


def _build(args: argparse.Namespace, seg_id: str, device: torch.device):
    """The forecaster to train (fresh, or --init's weights) and the --init config."""
    from swiftcast.forecast.forecaster import load_forecaster_checkpoint
    from swiftcast.models import build_forecaster

    horizon = get_horizon(args.horizon)
    if not args.init:
        return build_forecaster(args.method), {}
    net, config = load_forecaster_checkpoint(args.init, expected_feature_model_id=seg_id, device=device)
    if config.get("method", config.get("architecture")) != args.method:
        raise SwiftcastError(f"--init {args.init} is a {config.get('method')} forecaster, not --method {args.method}")
    if int(config["horizon_frames"]) != horizon.frames:
        raise SwiftcastError(f"--init {args.init} forecasts {config['horizon_frames']} frames ahead, "
                             f"not {horizon.frames} (--horizon {args.horizon})")
    return net.requires_grad_(True), config


def _run(args: argparse.Namespace, info, out: Path, started: float) -> int:
    from torch.nn.parallel import DistributedDataParallel

    from swiftcast.data.cityscapes import has_split
    from swiftcast.data.transforms import label_to_tensor
    from swiftcast.eval.forecast import COPY_LAST, ORACLE, copy_last, evaluate_protocol, gap_closed, oracle
    from swiftcast.forecast.decoder import load_forecast_decoder
    from swiftcast.forecast.features import load_features, load_segmenter
    from swiftcast.eval.forecast import FineMethod
    from swiftcast.forecast.forecaster import decode_labels, fine_decoder, method_label, predict_features, predict_fine
    from swiftcast.forecast.protocol import sample_windows
    from swiftcast.train import loop

    horizon = get_horizon(args.horizon)
    torch.manual_seed(args.seed)
    segmenter = load_segmenter(args.seg_model, str(info.device))
    seg_id, input_size = segmenter.model_id, segmenter.input_size
    decoder, _ = load_forecast_decoder(segmenter.checkpoint, info.device)
    net, init_config = _build(args, seg_id, info.device)
    precision = resolve_precision(getattr(args, "precision", "fp32"), info.device)
    # F2MF forecasts labels from frame t's single-frame labels: its -FT and its validation need them
    fine = bool(getattr(net, "needs_last_labels", False))

    # features: the main process extracts (and caches) them, the others then read the cache
    need = -min(INPUT_OFFSETS) + horizon.frames + 1
    train_labels = fine and args.finetune
    if info.is_main:
        train_set = load_features(args.data, "train", segmenter, args.cache_dir, min_frames=need,
                                  with_labels=train_labels)
    loop.barrier()
    if not info.is_main:
        train_set = load_features(args.data, "train", segmenter, args.cache_dir, min_frames=need, progress=False,
                                  with_labels=train_labels)
    val_set = None
    if not args.no_val and has_split(args.data, "val", "leftImg8bit_sequence") and info.is_main:
        val_set = load_features(args.data, "val", segmenter, args.cache_dir, with_labels=fine)

    samples = [(i, w) for i, s in enumerate(train_set.sequences)
               for w in sample_windows(len(s.frames), horizon, args.samples_per_seq)]
    # features stay float16 in memory (a split is small); on a GPU they all move there once
    store = [s.features.to(info.device) for s in train_set.sequences] if info.device.type == "cuda" else \
        [s.features for s in train_set.sequences]
    last_store = [s.labels.to(info.device) if s.labels is not None else None for s in train_set.sequences]
    label_cache: dict[str, torch.Tensor] = {}
    loss_size = size_at_stride(input_size, decoder.output_stride) if args.finetune else None

    def target_labels(batch: list[tuple[int, object]]) -> torch.Tensor:
        out_labels = []
        for i, w in batch:
            frame = train_set.sequences[i].frames[w.target]
            lab = label_cache.get(frame.stem)
            if lab is None:
                lab = label_to_tensor(labels_at_size(train_set.label(frame), loss_size))
                if len(label_cache) < 8192:
                    label_cache[frame.stem] = lab
            out_labels.append(lab)
        return torch.stack(out_labels).to(info.device, non_blocking=True)

    net.to(info.device).train()
    optimizer = torch.optim.Adam(
        [{"params": list(net.parameters()), "lr": args.lr, "initial_lr": args.lr, "weight_decay": args.wd}],
        betas=(0.9, 0.99),
    )
    start_iter, history, wall_before, commands, loss_curve = 0, [], 0.0, [loop.command_line()], []
    if args.resume:
        state = loop.restore_run(out, args, RUN_DEFINING, net, optimizer)
        start_iter, history = int(state["iteration"]), list(state.get("history", []))
        loss_curve = list(state.get("loss_curve", []))
        wall_before, commands = float(state.get("wall_time_s", 0.0)), list(state.get("commands", [])) + commands

    model = net
    if info.distributed:
        model = DistributedDataParallel(net, device_ids=[info.device.index] if info.device.type == "cuda" else None)

    label = method_label({"method": args.method, "training": {"finetune": args.finetune,
                                                               "samples_per_seq": args.samples_per_seq}})

    def validate(it: int) -> dict | None:
        loop.sync_buffers(net)  # collective (every rank), before rank 0 scores
        if val_set is None:
            return None
        net.eval()

        def run(features: torch.Tensor, window) -> torch.Tensor:
            past = features[list(window.inputs)].unsqueeze(0).to(info.device)
            return predict_features(net, past)[0]

        def run_fine(seq, window) -> torch.Tensor:
            past = seq.features[list(window.inputs)].float().unsqueeze(0).to(info.device)
            last = seq.labels[window.last].unsqueeze(0).to(info.device)
            return predict_fine(net, decoder, past, last, input_size)

        ours = FineMethod(run_fine) if fine else run
        methods = {ORACLE: {horizon.name: oracle}, COPY_LAST: {horizon.name: copy_last}, label: {horizon.name: ours}}
        results = evaluate_protocol(val_set.sequences, val_set.label,
                                    lambda f, size: decode_labels(decoder, f.to(info.device), input_size, size)[0],
                                    methods, progress=False)
        net.train()
        summary = {"iteration": it, "num_sequences": results[label][horizon.name]["num_sequences"],
                   "gap_closed_miou": _finite(gap_closed(results, label, horizon.name)),
                   "gap_closed_miou_mo": _finite(gap_closed(results, label, horizon.name, "miou_mo"))}
        for name, per_h in results.items():
            summary[name] = {k: per_h[horizon.name][k] for k in ("miou", "miou_mo", "per_class")}
        r, c, o = (summary[n] for n in (label, COPY_LAST, ORACLE))
        tqdm.write(f"iter {it}: val mIoU {label} {_pct(r['miou'])} (copy-last {_pct(c['miou'])}, oracle "
                   f"{_pct(o['miou'])}, gap closed {summary['gap_closed_miou']}); mIoU-MO {_pct(r['miou_mo'])}")
        return summary

    def config_for(it: int, val: dict | None) -> dict:
        return {
            "kind": "forecaster",
            "architecture": args.method,
            "method": args.method,
            "name": label,
            "horizon": horizon.name,
            "horizon_frames": horizon.frames,
            "horizon_ms": round(horizon.milliseconds, 1),
            "frame_rate_hz": FRAME_RATE_HZ,
            "input_offsets": list(INPUT_OFFSETS),
            "feature_model_id": seg_id,
            "feature_shape": list(train_set.feature_shape),
            "input_size": list(input_size),
            "seg_model": str(args.seg_model),
            "training": {
                "command": commands[0],
                "resumed_with": commands[1:],
                "seed": args.seed,
                "finetune": bool(args.finetune),
                "init": {"path": str(args.init), "model_id": init_config.get("model_id"),
                         "training": init_config.get("training")} if args.init else None,
                "loss": _loss_text(loss_size, fine),
                "precision": precision,
                "samples_per_seq": args.samples_per_seq,
                "num_samples": len(samples),
                "data": {"root": str(Path(args.data).resolve()), "split": "train",
                         "num_sequences": len(train_set.sequences), "feature_cache": str(train_set.cache_file)},
                "hardware": loop.hardware_description(info),
                "wall_time_s": round(wall_before + time.time() - started, 1),
                "iteration": it,
                "total_iters": args.iters,
                "batch_size": args.batch_size * info.world_size,
                "optimizer": {"name": "Adam", "betas": [0.9, 0.99], "lr": args.lr, "weight_decay": args.wd,
                              "schedule": f"cosine per iteration to {args.min_lr}"},
                "loss_curve": loss_curve,
                "val_history": history,
            },
            "metrics": {"val": val} if val else {},
        }

    def checkpoint(it: int, val: dict | None) -> None:
        loop.sync_buffers(net)  # collective: every rank takes part, only rank 0 writes
        if not info.is_main:
            return
        state = {"iteration": it, "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                 "hparams": _hparams(args), "history": history, "loss_curve": loss_curve,
                 "wall_time_s": wall_before + time.time() - started, "commands": commands}
        loop.write_checkpoint_dir(out, net, config_for(it, val), state)

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        print(f"training {label} for {horizon.name} term (t+{horizon.frames}) on {len(samples)} windows of "
              f"{len(train_set.sequences)} sequences, features {tuple(train_set.feature_shape)}, {args.iters} "
              f"iterations of {args.batch_size}x{info.world_size}, {'cross-entropy' if args.finetune else 'MSE'}, "
              f"{precision}")
    end = min(args.iters, args.stop_at) if args.stop_at else args.iters
    sampler = loop.StreamBatchSampler(len(samples), args.batch_size, end, start_iter, args.seed,
                                      info.rank, info.world_size)
    last_val = history[-1] if history else None
    pbar = tqdm(total=args.iters, initial=start_iter, desc="train-forecast", disable=not info.is_main,
                dynamic_ncols=True)
    smooth, it, window_losses = None, start_iter, []
    stop = loop.StopRequest(enabled=not info.distributed)  # Ctrl-C / SIGTERM: finish the step, save, exit
    try:
        for batch_ids in sampler:
            loop.set_learning_rates(optimizer, it, args.iters, args.min_lr)
            batch = [samples[i] for i, _ in batch_ids]
            past = torch.stack([store[i][list(w.inputs)] for i, w in batch]).to(info.device).float()
            n, p, c, h, w_ = past.shape
            past = past.reshape(n, p * c, h, w_)
            with autocast(info.device, precision):
                if args.finetune and fine:  # F2MF: the fine-level forecast (warped labels of frame t + F2F)
                    last = torch.stack([last_store[i][w.last] for i, w in batch])
                    probs = model(past, last_fine=last, decode=fine_decoder(decoder, input_size))
                    scores = torch.log(probs.float().clamp_min(1e-6))
                elif args.finetune:
                    # channels-last: the decoder's convolutions (forward and input gradient) run ~1.2-1.4x faster
                    scores = decoder(model(past).contiguous(memory_format=torch.channels_last),
                                     out_size=input_size, upsample_logits=False)
                else:
                    pred = model(past)
            if args.finetune:
                labels = target_labels(batch)
                scores = scores.float()
                # log-probabilities for F2MF (its blend is a probability), logits for the others
                loss_fn = F.nll_loss if fine else F.cross_entropy
                loss = loss_fn(scores, labels, ignore_index=IGNORE_ID) if (labels != IGNORE_ID).any() \
                    else scores.sum() * 0.0
            else:
                target = torch.stack([store[i][w.target] for i, w in batch]).to(info.device).float()
                loss = F.mse_loss(pred.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            it += 1
            value = float(loss.detach())
            window_losses.append(value)
            smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
            if len(window_losses) == 50 or it == args.iters:  # a compact loss curve for the model card
                loss_curve.append([it, round(sum(window_losses) / len(window_losses), 6)])
                window_losses = []
            pbar.set_postfix(loss=f"{smooth:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
            pbar.update(1)
            if args.val_every and it % args.val_every == 0 and it < args.iters:
                last_val = validate(it)
                if last_val is not None:
                    history.append(last_val)
            if args.save_every and it % args.save_every == 0 and it < args.iters:
                checkpoint(it, last_val)
                loop.barrier()
            if stop.requested:
                break
    finally:
        pbar.close()
        stop.restore()

    if it < args.iters:  # --stop-at or Ctrl-C / SIGTERM: a resumable checkpoint, then out
        if window_losses:
            loss_curve.append([it, round(sum(window_losses) / len(window_losses), 6)])
        checkpoint(it, last_val)
        loop.barrier()
        if info.is_main:
            print(f"stopped at iteration {it} of {args.iters}; saved {out} - continue with the same command plus "
                  "--resume")
        return 0

    if not history or history[-1].get("iteration") != args.iters:
        final = validate(args.iters)
        if final is not None:
            history.append(final)
            last_val = final
    checkpoint(args.iters, last_val)
    loop.barrier()
    if info.is_main:
        print(f"saved {out} after {args.iters} iterations ({wall_before + time.time() - started:.0f} s in all)")
        print(json.dumps({"final_loss": loss_curve[-1][1] if loss_curve else None,
                          "val_miou": last_val[label]["miou"] if last_val else None,
                          "gap_closed": last_val["gap_closed_miou"] if last_val else None}))
    return 0


def _loss_text(loss_size: tuple[int, int] | None, fine: bool) -> str:
    """What the model card says the objective was."""
    if loss_size is None:
        return "MSE on SPP features (frozen feature extractor)"
    what = ("cross-entropy of the fine-level blend (single-frame labels of frame t warped by the forecast motion + "
            "the F2F branch through the frozen skip-less decoder)" if fine
            else "cross-entropy through the frozen skip-less decoder")
    return (f"{what} at its output stride 4 (ground truth resized nearest-neighbour to {list(loss_size)}), "
            f"ignore {IGNORE_ID}")


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def _finite(v: float) -> float | None:
    """NaN (e.g. a zero copy-last -> oracle gap) as JSON null, rounded for the model card."""
    return None if v != v else round(v, 4)
