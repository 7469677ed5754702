"""Options of resumable training runs (``train-forecast``): seed, resume, cadence, cache, device, threads, precision."""

from __future__ import annotations

import argparse


def add_run_options(parser: argparse.ArgumentParser, *, save_every: int, val: str, cache: str,
                    threads: str = "torch CPU threads") -> None:
    """Seed, resume/stop, checkpoint and validation cadence, cache, device, threads and precision; ``val`` says
    what the validation scores, ``cache`` what is cached where."""
    from swiftcast.hardware import TRAIN_PRECISIONS

    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default: 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out exactly")
    parser.add_argument("--stop-at", type=int, metavar="ITER",
                        help="stop (resumably) after iteration ITER of --iters, e.g. for a time-boxed job")
    parser.add_argument("--save-every", type=int, default=save_every,
                        help=f"checkpoint every N iterations (default: {save_every})")
    parser.add_argument("--val-every", type=int, default=0,
                        help=f"score {val} every N iterations (default: only at the end)")
    parser.add_argument("--no-val", action="store_true", help=f"skip scoring {val}")
    parser.add_argument("--cache-dir", help=cache)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, help=threads)
    parser.add_argument("--precision", choices=TRAIN_PRECISIONS, default="auto",
                        help="auto: bf16 autocast where the CPU has bf16 matrix instructions (AMX, AVX512-BF16) or "
                             "the GPU supports bf16, else fp32 (default: auto)")
