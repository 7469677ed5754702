"""``swiftcast train-forecast``: DeformF2F / ConvF2F training on cached SPP features (resumable, torchrun ready).

As in Šarić et al. (GCPR 2019): the segmentation model is frozen and only extracts features (cached once,
:mod:`swiftcast.forecast.features`); the forecaster learns to map the features of frames t-9, t-6, t-3, t to those
of t+k with an MSE loss. ``--finetune --init CKPT`` then continues from such a forecaster with cross-entropy
through the frozen skip-less decoder against the ground truth of frame t+k (the paper's "-FT"). The loss is taken
at the decoder's output stride 4 against the ground truth resized nearest-neighbour (centre pixel of each 4x4
cell, ignore id kept): what the node's labels come from (:func:`swiftcast.forecast.forecaster.decode_labels`), and
it spares upsampling 19 logit channels to full size and back-propagating through that (the decoder's own
parameters are frozen: only the gradient with respect to its input is computed). ``--tune-decoder`` fine-tunes a
copy of the decoder together with the forecaster instead, as Šarić et al. fine-tune F2F with the upsampling path
(its batch-norm statistics stay); the copy is saved in the forecaster's checkpoint and decodes its forecasts.

Samples are every window (t-9 .. t -> t+k) of every train sequence, or ``--samples-per-sequence K`` of them (the
protocol window, whose target is the 20th frame, plus K-1 spread over the sequence; 2 = the paper's "2 samples per
sequence" variant, a row of its own in eval-forecast). Adam (0.9, 0.99) with a
per-iteration cosine schedule; the offset convolutions of deformable layers learn at :data:`OFFSET_LR_SCALE` of the
rate. The data order is the shared resumable stream of :mod:`swiftcast.train.loop`.

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

import torch
import torch.nn.functional as F
from tqdm import tqdm

from swiftcast.checkout import recorded_path
from swiftcast.data.labels import IGNORE_ID
from swiftcast.data.transforms import labels_at_size
from swiftcast.errors import SwiftcastError
from swiftcast.forecast.protocol import FRAME_RATE_HZ, INPUT_OFFSETS, get_horizon
from swiftcast.hardware import resolve_precision
from swiftcast.models.upsample import size_at_stride
from swiftcast.train import loop

METHODS = ("conv_f2f", "deform_f2f8", "f2mf")
#: options that define the run; ``--resume`` refuses to continue with different values
RUN_DEFINING = ("data", "seg_model", "horizon", "method", "finetune", "tune_decoder", "init", "iters", "batch_size",
                "samples_per_seq", "lr", "min_lr", "wd", "seed")
DEFAULT_LR = {False: 5e-4, True: 1e-4}  # MSE from scratch / cross-entropy fine-tuning
#: learning rate of the deformable layers' offset convolutions relative to the rest, as Dai et al. (ICCV 2017) train
#: them: at the full rate DeformF2F-8's sampling offsets grew to several feature cells (tens at stride 16) and the
#: network fell back to copying frame t
OFFSET_LR_SCALE = 0.1


def param_groups(net: torch.nn.Module, lr: float, weight_decay: float) -> list[dict]:
    """Adam's parameter groups: the offset convolutions of deformable layers (if any) at ``OFFSET_LR_SCALE`` x
    ``lr``, then everything else at ``lr`` (last, the rate the progress bar shows)."""
    from swiftcast.models.f2f import DeformConvBNReLU

    offsets = [p for m in net.modules() if isinstance(m, DeformConvBNReLU) for p in m.offset.parameters()]
    ids = {id(p) for p in offsets}
    rest = [p for p in net.parameters() if id(p) not in ids]
    groups = [{"params": rest, "lr": lr, "initial_lr": lr, "weight_decay": weight_decay}]
    if offsets:
        slow = lr * OFFSET_LR_SCALE
        groups.insert(0, {"params": offsets, "lr": slow, "initial_lr": slow, "weight_decay": weight_decay})
    return groups


def _hparams(args: argparse.Namespace) -> dict:
    return {k: getattr(args, k) for k in RUN_DEFINING}


def run_training(args: argparse.Namespace) -> loop.LoopEnd:
    """Train as ``swiftcast train-forecast`` does (``args`` as :mod:`swiftcast.commands.train_forecast` parses them;
    ``args.lr`` is filled in when not given); returns how the loop ended - also on every DDP rank."""
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
    if getattr(args, "tune_decoder", False) and not args.finetune:
        raise SwiftcastError("--tune-decoder needs --finetune: the feature MSE stage never runs the decoder")
    if args.lr is None:
        args.lr = DEFAULT_LR[bool(args.finetune)]
    loop.check_new_or_resumed(out, args.resume)
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


def _run(args: argparse.Namespace, info, out: Path, started: float) -> loop.LoopEnd:
    from swiftcast.forecast.decoder import load_forecast_decoder
    from swiftcast.forecast.features import load_segmenter
    from swiftcast.forecast.forecaster import forecaster_decoder, method_label
    from swiftcast.forecast.protocol import sample_windows

    horizon = get_horizon(args.horizon)
    torch.manual_seed(args.seed)
    segmenter = load_segmenter(args.seg_model, str(info.device))
    input_size = segmenter.input_size
    decoder, _ = load_forecast_decoder(segmenter.checkpoint, info.device)
    net, init_config = _build(args, segmenter.model_id, info.device)
    tune = bool(getattr(args, "tune_decoder", False))
    if args.finetune:  # an --init that carries its own tuned decoder goes on with that one
        decoder = forecaster_decoder(args.init, init_config, decoder, info.device)
    # a decoder other than the segmentation checkpoint's is saved with the forecaster: its features are made for it
    carried = decoder if args.finetune and (tune or init_config.get("forecast_decoder") is not None) else None
    precision = resolve_precision(getattr(args, "precision", "fp32"), info.device)
    # F2MF forecasts labels from frame t's single-frame labels: its -FT and its validation need them
    fine = bool(getattr(net, "needs_last_labels", False))
    train_set, val_set = _features(args, info, segmenter, horizon, fine)

    samples = [(i, w) for i, s in enumerate(train_set.sequences)
               for w in sample_windows(len(s.frames), horizon, args.samples_per_seq)]
    # features stay float16 in memory (a split is small); on a GPU they all move there once
    store = [s.features.to(info.device) for s in train_set.sequences] if info.device.type == "cuda" else \
        [s.features for s in train_set.sequences]
    last_store = [s.labels.to(info.device) if s.labels is not None else None for s in train_set.sequences]
    label_cache: dict[str, torch.Tensor] = {}
    loss_size = size_at_stride(input_size, decoder.output_stride) if args.finetune else None

    net.to(info.device).train()
    groups = param_groups(net, args.lr, args.wd)
    slow_offsets = len(groups) > 1  # deformable layers: their offsets learn at OFFSET_LR_SCALE
    if tune:  # before the last group, whose rate the progress bar shows
        decoder.requires_grad_(True)
        groups.insert(-1, {"params": list(decoder.parameters()), "lr": args.lr, "initial_lr": args.lr,
                           "weight_decay": args.wd})
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.99))
    run = loop.start_run(out, started, args, RUN_DEFINING, net, optimizer, decoder=carried)
    loss_curve = loop.LossCurve(list(run.saved.get("loss_curve", [])), args.iters)
    # one module (one DDP wrapper) for the forecaster and the decoder its -FT runs through, tuned or not
    model = loop.wrap_ddp(ForecastAndDecode(net, decoder, input_size) if args.finetune else net, info)
    label = method_label({"method": args.method, "training": {"finetune": args.finetune, "tune_decoder": tune,
                                                               "samples_per_seq": args.samples_per_seq}})

    def step(batch_ids: list[tuple[int, int]]) -> float:
        batch = [samples[i] for i, _ in batch_ids]
        past = torch.stack([store[i][list(w.inputs)] for i, w in batch]).to(info.device).float()
        n, p, c, h, w_ = past.shape
        past = past.reshape(n, p * c, h, w_)

        def forward() -> torch.Tensor:
            if args.finetune and fine:  # F2MF: the fine-level forecast (warped labels of frame t + F2F)
                last = torch.stack([last_store[i][w.last] for i, w in batch])
                return torch.log(model(past, last).float().clamp_min(1e-6))
            return model(past)  # -FT: logits at the decoder's stride 4; MSE: the forecast features

        def loss_of(scores: torch.Tensor) -> torch.Tensor:
            if not args.finetune:
                return F.mse_loss(scores, torch.stack([store[i][w.target] for i, w in batch]).to(info.device).float())
            labels = _target_labels(train_set, batch, loss_size, label_cache, info.device)
            # log-probabilities for F2MF (its blend is a probability), logits for the others
            loss_fn = F.nll_loss if fine else F.cross_entropy
            return loss_fn(scores, labels, ignore_index=IGNORE_ID) if (labels != IGNORE_ID).any() \
                else scores.sum() * 0.0

        return loop.train_step(optimizer, forward, loss_of, info.device, precision)

    def validate(it: int) -> dict | None:
        loop.sync_buffers(net)  # collective (every rank), before rank 0 scores
        if val_set is None:
            return None
        return _validate(net, decoder, val_set, horizon, label, fine, input_size, info.device, it)

    def checkpoint(it: int, val: dict | None) -> None:
        loop.sync_buffers(net)  # collective: every rank takes part, only rank 0 writes
        if info.is_main:
            state = run.state(it, optimizer, _hparams(args), loss_curve=loss_curve.points)
            config = _config(args, info, run, segmenter, train_set, init_config, label=label, precision=precision,
                             loss=_loss_text(loss_size, fine, tune), num_samples=len(samples),
                             loss_curve=loss_curve.points, iteration=it, val=val,
                             offset_lr_scale=OFFSET_LR_SCALE if slow_offsets else None)
            loop.write_checkpoint_dir(out, net, config, state, decoder=carried)

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        print(f"training {label} for {horizon.name} term (t+{horizon.frames}) on {len(samples)} windows of "
              f"{len(train_set.sequences)} sequences, features {tuple(train_set.feature_shape)}, {args.iters} "
              f"iterations of {args.batch_size}x{info.world_size}, {'cross-entropy' if args.finetune else 'MSE'}, "
              f"{precision}")
    end = min(args.iters, args.stop_at) if args.stop_at else args.iters
    sampler = loop.StreamBatchSampler(len(samples), args.batch_size, end, run.start_iter, args.seed,
                                      info.rank, info.world_size)
    done = loop.run_loop(run, sampler, step, optimizer, info, total_iters=args.iters, end=end, min_lr=args.min_lr,
                         validate=validate, checkpoint=checkpoint, val_every=args.val_every,
                         save_every=args.save_every, desc="train-forecast", loss_digits=4, loss_curve=loss_curve)
    if done.iteration == args.iters and info.is_main:
        last_val, points = done.last_val, loss_curve.points
        print(json.dumps({"final_loss": points[-1][1] if points else None,
                          "val_miou": last_val[label]["miou"] if last_val else None,
                          "gap_closed": last_val["gap_closed_miou"] if last_val else None}))
    return done


class ForecastAndDecode(torch.nn.Module):
    """-FT's forward pass: forecaster, then the skip-less decoder to its logits at stride 4 (F2MF: its fine-level
    blend). One module, so that one DDP wrapper exchanges the gradients of both when the decoder is tuned too.
    ``train()`` leaves the decoder in eval mode: its batch-norm statistics stay those of the single-frame features."""

    def __init__(self, forecaster: torch.nn.Module, decoder: torch.nn.Module, image_size: tuple[int, int]) -> None:
        super().__init__()
        self.forecaster, self.decoder, self.image_size = forecaster, decoder, tuple(image_size)

    def forward(self, past: torch.Tensor, last_fine: torch.Tensor | None = None) -> torch.Tensor:
        from swiftcast.forecast.forecaster import fine_decoder

        # channels-last inside: the decoder's convolutions (forward and input gradient) run ~1.2-1.4x faster
        decode = fine_decoder(self.decoder, self.image_size)
        if last_fine is not None:
            return self.forecaster(past, last_fine=last_fine, decode=decode)
        return decode(self.forecaster(past))

    def train(self, mode: bool = True) -> "ForecastAndDecode":
        super().train(mode)
        self.decoder.train(False)
        return self


def _features(args: argparse.Namespace, info, segmenter, horizon, fine: bool) -> tuple:
    """The cached features of the train split and (on the main process, unless --no-val) of the val split.

    The main process extracts and caches them, the others then read the cache."""
    from swiftcast.data.cityscapes import has_split
    from swiftcast.forecast.features import load_features

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
    return train_set, val_set


def _target_labels(train_set, batch: list[tuple[int, object]], loss_size: tuple[int, int],
                   cache: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
    """Ground truth of the batch's target frames at the loss size (decoded once, up to 8192 frames kept)."""
    from swiftcast.data.transforms import label_to_tensor

    out_labels = []
    for i, w in batch:
        frame = train_set.sequences[i].frames[w.target]
        lab = cache.get(frame.stem)
        if lab is None:
            lab = label_to_tensor(labels_at_size(train_set.label(frame), loss_size))
            if len(cache) < 8192:
                cache[frame.stem] = lab
        out_labels.append(lab)
    return torch.stack(out_labels).to(device, non_blocking=True)


def _validate(net: torch.nn.Module, decoder: torch.nn.Module, val_set, horizon, label: str, fine: bool,
              input_size: tuple[int, int], device: torch.device, it: int) -> dict:
    """The protocol score of ``net`` on the val split next to oracle and copy-last, as the model card keeps it."""
    from swiftcast.eval.forecast import COPY_LAST, ORACLE, FineMethod, copy_last, evaluate_protocol, gap_closed, oracle
    from swiftcast.forecast.forecaster import decode_labels, predict_features, predict_fine

    net.eval()

    def run(features: torch.Tensor, window) -> torch.Tensor:
        past = features[list(window.inputs)].unsqueeze(0).to(device)
        return predict_features(net, past)[0]

    def run_fine(seq, window) -> torch.Tensor:
        past = seq.features[list(window.inputs)].float().unsqueeze(0).to(device)
        last = seq.labels[window.last].unsqueeze(0).to(device)
        return predict_fine(net, decoder, past, last, input_size)

    ours = FineMethod(run_fine) if fine else run
    methods = {ORACLE: {horizon.name: oracle}, COPY_LAST: {horizon.name: copy_last}, label: {horizon.name: ours}}
    results = evaluate_protocol(val_set.sequences, val_set.label,
                                lambda f, size: decode_labels(decoder, f.to(device), input_size, size)[0],
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


def _config(args: argparse.Namespace, info, run: loop.RunRecord, segmenter, train_set, init_config: dict, *,
            label: str, precision: str, loss: str, num_samples: int, loss_curve: list, iteration: int,
            val: dict | None, offset_lr_scale: float | None = None) -> dict:
    """The checkpoint's config.json at ``iteration``: what the forecaster reads and predicts, how it was trained."""
    horizon = get_horizon(args.horizon)
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
        "feature_model_id": segmenter.model_id,
        "feature_shape": list(train_set.feature_shape),
        "input_size": list(segmenter.input_size),
        "seg_model": str(args.seg_model),
        "training": {
            "command": run.commands[0],
            "resumed_with": run.commands[1:],
            "seed": args.seed,
            "finetune": bool(args.finetune),
            "tune_decoder": bool(getattr(args, "tune_decoder", False)),
            "init": {"path": recorded_path(args.init), "model_id": init_config.get("model_id"),
                     "training": init_config.get("training")} if args.init else None,
            "loss": loss,
            "precision": precision,
            "samples_per_seq": args.samples_per_seq,
            "num_samples": num_samples,
            "data": {"root": recorded_path(args.data), "split": "train",
                     "num_sequences": len(train_set.sequences),
                     "feature_cache": recorded_path(train_set.cache_file)},
            "hardware": loop.hardware_description(info),
            "wall_time_s": round(run.wall_time_s(), 1),
            "iteration": iteration,
            "total_iters": args.iters,
            "batch_size": args.batch_size * info.world_size,
            "optimizer": {"name": "Adam", "betas": [0.9, 0.99], "lr": args.lr, "weight_decay": args.wd,
                          "schedule": f"cosine per iteration to {args.min_lr}",
                          **({"offset_lr_scale": offset_lr_scale} if offset_lr_scale else {})},
            "loss_curve": loss_curve,
            "val_history": run.history,
        },
        "metrics": {"val": val} if val else {},
    }


def _loss_text(loss_size: tuple[int, int] | None, fine: bool, tune: bool = False) -> str:
    """What the model card says the objective was."""
    if loss_size is None:
        return "MSE on SPP features (frozen feature extractor)"
    through = ("the skip-less decoder, tuned with the forecaster (saved with it)" if tune
               else "the frozen skip-less decoder")
    what = ("cross-entropy of the fine-level blend (single-frame labels of frame t warped by the forecast motion + "
            f"the F2F branch through {through})" if fine else f"cross-entropy through {through}")
    return (f"{what} at its output stride 4 (ground truth resized nearest-neighbour to {list(loss_size)}), "
            f"ignore {IGNORE_ID}")


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def _finite(v: float) -> float | None:
    """NaN (e.g. a zero copy-last -> oracle gap) as JSON null, rounded for the model card."""
    return None if v != v else round(v, 4)
