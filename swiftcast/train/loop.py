"""Pieces every training command shares: process-group set-up, a resumable sample stream, the cosine schedule,
the optimisation step and the iteration loop around it, safe training-state files and a description of the
hardware for checkpoint configs.

Training is counted in iterations. Each rank reads an endless stream of samples: epoch ``e`` is a
:class:`~torch.utils.data.DistributedSampler` shard shuffled with ``seed + e``, and batch ``i`` is stream positions
``[i*B, (i+1)*B)``. Every sample also carries its own augmentation seed derived from (seed, rank, position). So
iteration ``i`` always sees the same images with the same augmentation - whatever the number of loader workers and
whether or not the run was interrupted and resumed in between.
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler, Sampler
from tqdm import tqdm

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.hardware import autocast, cpu_description, resolve_device

STATE_FILE = "train_state.pt"


# --- processes -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (gloo on CPU, NCCL on GPUs).

    Without ``WORLD_SIZE`` > 1 this is a single process and nothing is initialised.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank, dev)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def sync_buffers(model: nn.Module) -> None:
    """Average floating-point buffers (BN running statistics) over DDP ranks.

    DDP broadcasts buffers from rank 0 at the start of every forward, so after the last step each replica holds
    statistics of its own last batch; averaging before validating or saving makes all replicas identical again.
    """
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return
    world = dist.get_world_size()
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf.data)
            buf.data.div_(world)


def wrap_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    """``model`` wrapped for DDP gradient exchange under torchrun, else ``model`` itself."""
    if not info.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[info.device.index] if info.device.type == "cuda" else None)


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class StopRequest:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current step (a second one interrupts)."""

    def __init__(self, enabled: bool = True) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}
        if enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame) -> None:
        if self.requested:
            self.restore()
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this iteration and saving a resumable checkpoint (again to abort)", file=sys.stderr)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers ignore Ctrl-C / SIGTERM (sent to the whole process group), so the
    main process can finish its step and save before the loader shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


# --- data order ----------------------------------------------------------------------------------------------------
def iterations_per_epoch(num_samples: int, batch_size: int, world_size: int = 1) -> int:
    per_rank = math.ceil(num_samples / world_size)
    return max(1, per_rank // batch_size)


class StreamBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches ``start_iter .. total_iters-1`` of the endless per-rank sample stream (see the module docstring).

    Yields lists of ``(dataset index, augmentation seed)`` pairs, which
    :class:`~swiftcast.data.cityscapes.CityscapesDataset` understands.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        total_iters: int,
        start_iter: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.num_samples, self.batch_size = num_samples, batch_size
        self.total_iters, self.start_iter = total_iters, start_iter
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self._shard = DistributedSampler(
            range(num_samples), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
        )
        self._epoch, self._order = -1, []

    def _epoch_order(self, epoch: int) -> list[int]:
        if epoch != self._epoch:
            self._shard.set_epoch(epoch)
            self._epoch, self._order = epoch, list(self._shard)
        return self._order

    def sample_at(self, position: int) -> tuple[int, int]:
        per_epoch = len(self._shard)
        epoch, offset = divmod(position, per_epoch)
        aug_seed = int(np.random.SeedSequence([self.seed, self.rank, position]).generate_state(1)[0])
        return self._epoch_order(epoch)[offset], aug_seed

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for it in range(self.start_iter, self.total_iters):
            first = it * self.batch_size
            yield [self.sample_at(p) for p in range(first, first + self.batch_size)]

    def __len__(self) -> int:
        return max(0, self.total_iters - self.start_iter)


# --- optimisation --------------------------------------------------------------------------------------------------
def cosine_lr(base_lr: float, iteration: int, total_iters: int, min_lr: float = 1e-6) -> float:
    """Cosine annealing from ``base_lr`` at iteration 0 to ``min_lr`` at ``total_iters`` (per-iteration, stateless)."""
    t = min(max(iteration / max(total_iters, 1), 0.0), 1.0)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


def set_learning_rates(optimizer: torch.optim.Optimizer, iteration: int, total_iters: int, min_lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = cosine_lr(group["initial_lr"], iteration, total_iters, min_lr)


def train_step(optimizer: torch.optim.Optimizer, forward: Callable[[], torch.Tensor],
               loss_of: Callable[[torch.Tensor], torch.Tensor], device: torch.device, precision: str) -> float:
    """One optimisation step; returns the loss.

    Only ``forward()`` runs under autocast: ``loss_of`` gets its output in fp32, because a loss reduced over many
    pixels in bf16 loses the precision its gradient needs.
    """
    with autocast(device, precision):
        output = forward()
    loss = loss_of(output.float())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


class LossCurve:
    """The mean training loss of every ``every`` iterations: a loss curve small enough for the model card."""

    def __init__(self, points: list, total_iters: int, every: int = 50) -> None:
        self.points, self.total_iters, self.every = points, total_iters, every
        self._window: list[float] = []

    def add(self, iteration: int, loss: float) -> None:
        self._window.append(loss)
        if len(self._window) == self.every or iteration == self.total_iters:
            self.flush(iteration)

    def flush(self, iteration: int) -> None:
        """Close the current window early (a stop), so a resumed run does not lose its losses."""
        if self._window:
            self.points.append([iteration, round(sum(self._window) / len(self._window), 6)])
            self._window = []


# --- runs ----------------------------------------------------------------------------------------------------------
@dataclass
class RunRecord:
    """What a run carries over ``--resume``: where it goes on from, its validations, its wall time and the commands
    that made it (all of them end up in the checkpoint's training record)."""

    out: Path
    started: float  # time.time() when this process began
    start_iter: int = 0
    history: list[dict] = field(default_factory=list)  # validations so far
    wall_before: float = 0.0  # seconds the earlier processes of this run took
    commands: list[str] = field(default_factory=list)
    saved: dict = field(default_factory=dict)  # the training state resumed from ({} for a new run)

    def wall_time_s(self) -> float:
        return self.wall_before + time.time() - self.started

    def state(self, iteration: int, optimizer: torch.optim.Optimizer, hparams: dict, **extra: Any) -> dict:
        """The resumable training state at ``iteration`` (``extra``: command-specific entries)."""
        return {"iteration": iteration, "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                "hparams": hparams, "history": self.history, **extra, "wall_time_s": self.wall_time_s(),
                "commands": self.commands}


def check_new_or_resumed(out: Path, resume: bool) -> None:
    """A run writes into a fresh ``out``, or continues the one there with ``--resume``."""
    if (out / "config.json").exists() and not resume:
        raise SwiftcastError(f"{out} already holds a checkpoint: add --resume to continue it, or choose another --out")


def start_run(out: Path, started: float, args: Any, run_defining: Sequence[str], model: nn.Module,
              optimizer: torch.optim.Optimizer, decoder: nn.Module | None = None) -> RunRecord:
    """The record of a new run, or with ``args.resume`` of the run saved in ``out``, loaded into ``model``,
    ``decoder`` and ``optimizer`` (see :func:`restore_run`)."""
    run = RunRecord(out, started, commands=[command_line()])
    if args.resume:
        state = restore_run(out, args, run_defining, model, optimizer, decoder)
        run.start_iter, run.history, run.saved = int(state["iteration"]), list(state.get("history", [])), state
        run.wall_before = float(state.get("wall_time_s", 0.0))
        run.commands = list(state.get("commands", [])) + run.commands
    return run


@dataclass
class LoopEnd:
    iteration: int  # the last iteration done (== total_iters when the run is complete)
    interrupted: bool  # stopped by Ctrl-C / SIGTERM (a resumable checkpoint was saved)
    last_val: dict | None  # the latest validation


def run_loop(
    run: RunRecord,
    batches: Iterable,
    step: Callable[[Any], float],
    optimizer: torch.optim.Optimizer,
    info: DistInfo,
    *,
    total_iters: int,
    end: int,
    min_lr: float,
    validate: Callable[[int], dict | None],
    checkpoint: Callable[[int, dict | None], None],
    val_every: int,
    save_every: int,
    desc: str,
    loss_digits: int = 3,
    loss_curve: LossCurve | None = None,
) -> LoopEnd:
    """Train iterations ``run.start_iter .. end-1`` with ``step(batch) -> loss``, one batch of ``batches`` each.

    Sets the cosine learning rate before every step, validates every ``val_every`` and checkpoints every
    ``save_every`` iterations, and turns the first Ctrl-C / SIGTERM into a stop after the current step. A run that
    ends before ``total_iters`` (a stop, ``--stop-at``) saves a resumable checkpoint; a complete one validates
    (unless it just did) and saves the final checkpoint. ``validate`` and ``checkpoint`` are called on every rank.
    """
    history, last_val = run.history, (run.history[-1] if run.history else None)
    pbar = tqdm(total=total_iters, initial=run.start_iter, desc=desc, disable=not info.is_main, dynamic_ncols=True)
    smooth, it = None, run.start_iter
    stop = StopRequest(enabled=not info.distributed)  # under torchrun every rank would have to agree to stop
    try:
        for batch in batches:
            set_learning_rates(optimizer, it, total_iters, min_lr)
            loss = step(batch)
            it += 1
            if loss_curve is not None:
                loss_curve.add(it, loss)
            smooth = loss if smooth is None else 0.9 * smooth + 0.1 * loss
            pbar.set_postfix(loss=f"{smooth:.{loss_digits}f}", lr=f"{optimizer.param_groups[-1]['lr']:.2e}")
            pbar.update(1)
            if val_every and it % val_every == 0 and it < total_iters:
                last_val = validate(it)
                if last_val is not None:
                    history.append(last_val)
            if save_every and it % save_every == 0 and it < total_iters:
                checkpoint(it, last_val)
                barrier()
            if stop.requested:
                break
    finally:
        pbar.close()
        stop.restore()

    if it < total_iters:
        if it < end and not stop.requested:
            raise SwiftcastError(f"data loader stopped at iteration {it} of {total_iters}")
        if loss_curve is not None:
            loss_curve.flush(it)
        checkpoint(it, last_val)
        barrier()
        if info.is_main:
            print(f"stopped at iteration {it} of {total_iters}; saved {run.out} - continue with the same command "
                  "plus --resume")
        return LoopEnd(it, stop.requested, last_val)
    if not history or history[-1].get("iteration") != total_iters:
        final = validate(total_iters)
        if final is not None:
            history.append(final)
            last_val = final
    checkpoint(total_iters, last_val)
    barrier()
    if info.is_main:
        print(f"saved {run.out} after {total_iters} iterations ({run.wall_time_s():.0f} s in all)")
    return LoopEnd(total_iters, False, last_val)


# --- training state ------------------------------------------------------------------------------------------------
def save_training_state(path: str | Path, state: dict) -> None:
    """Write the resumable state (optimizer, iteration, RNG, ...) atomically: a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_training_state(path: str | Path) -> dict:
    """Load a state written by :func:`save_training_state` without executing pickled code (``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no training state {path} to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated / corrupted / foreign file
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise CheckpointError(f"cannot read training state {path}: {reason}") from None


def write_checkpoint_dir(out_dir: str | Path, model: nn.Module, config: dict, state: dict | None,
                         decoder: nn.Module | None = None) -> None:
    """``save_checkpoint`` (with the forecast ``decoder``, if any) + training state into ``out_dir`` without ever
    leaving a half-written checkpoint there.

    Everything is written into ``out_dir/.partial`` first and then moved file by file with atomic renames (state
    first, config last); ``config.json`` and the state both record the iteration, so a mismatch is detectable.
    """
    from swiftcast.models import save_checkpoint
    from swiftcast.models.checkpoint import DECODER_WEIGHTS_NAME

    out_dir = Path(out_dir)
    partial = out_dir / ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_checkpoint(partial, model, config, decoder)
    if state is not None:
        torch.save(state, partial / STATE_FILE)
    names = sorted(p.name for p in partial.iterdir())
    order = [n for n in names if n == STATE_FILE] + [n for n in names if n not in (STATE_FILE, "config.json")]
    order += [n for n in names if n == "config.json"]
    for name in order:
        os.replace(partial / name, out_dir / name)
    if DECODER_WEIGHTS_NAME not in names:  # left by an earlier save, it is no decoder of these weights
        (out_dir / DECODER_WEIGHTS_NAME).unlink(missing_ok=True)
    partial.rmdir()


# --- provenance ----------------------------------------------------------------------------------------------------
def restore_run(
    out: Path, args: Any, run_defining: Sequence[str], model: nn.Module, optimizer: torch.optim.Optimizer,
    decoder: nn.Module | None = None,
) -> dict:
    """Load a run saved in ``out`` into ``model`` (and the forecast ``decoder``) and ``optimizer`` for
    ``--resume``; returns its training state.

    Refuses with one line when an option that defines the run (``run_defining``) changed, or when the weights and
    the training state come from different iterations (an interrupted save), so a resumed run is the same run.
    """
    from swiftcast.models import load_checkpoint

    if not (out / "config.json").exists():
        raise SwiftcastError(f"nothing to --resume in {out} (no config.json)")
    state = load_training_state(out / STATE_FILE)
    saved = state.get("hparams", {})
    changed = [k for k in run_defining if k in saved and saved[k] != getattr(args, k)]
    if changed:
        diffs = ", ".join(f"--{k.replace('_', '-')} {saved[k]!r} (now {getattr(args, k)!r})" for k in changed)
        raise SwiftcastError(f"cannot --resume {out} with different options: it was started with {diffs}")
    saved_model, saved_config = load_checkpoint(out)
    if saved_config.get("training", {}).get("iteration") != state["iteration"]:
        raise SwiftcastError(f"{out}: weights and training state are from different iterations; cannot resume")
    model.load_state_dict(saved_model.state_dict())
    if decoder is not None:
        from swiftcast.forecast.decoder import load_forecast_decoder

        decoder.load_state_dict(load_forecast_decoder(out)[0].state_dict())
    try:
        optimizer.load_state_dict(state["optimizer"])
    except ValueError:  # torch: "loaded state dict has a different number of parameter groups" and the like
        raise SwiftcastError(f"{out}: its optimizer state does not fit this version's parameter groups (it was "
                             f"saved by an older SwiftCast); start the run anew in another folder") from None
    torch.set_rng_state(state["torch_rng"])
    return state


def command_line() -> str:
    """The command as the user typed it (``swiftcast train ...``, prefixed by torchrun's shape under DDP)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("swiftcast", "__main__.py", "cli.py"):
        argv[0] = "swiftcast"
    cmd = shlex.join(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        cmd = f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', world)} {cmd}"
    return cmd


def hardware_description(info: DistInfo) -> dict:
    """What the run ran on, for model cards and checkpoint configs."""
    hw = {
        "cpu": cpu_description().get("model"),
        "cpu_features": cpu_description().get("features"),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(info.device) if info.device.type == "cpu" else torch.cuda.get_device_name(info.device),
        "world_size": info.world_size,
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    return hw
