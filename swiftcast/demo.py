"""``python -m swiftcast.demo --out out/demo`` (what ``make demo`` runs): all of SwiftCast on one synthetic drive.

1. a synthetic drive bag (``swiftcast synth-bag``, 20 s at 17 Hz) at the shipped model's input size, reused on
   later runs when its parameters did not change;
2. ``swiftcast replay`` of it through the live stack (real node processes, real DDS) with the shipped checkpoints:
   ``models/swiftnet_efflite0_synth`` and, if present, the forecasters under ``models/`` made for it;
3. a short summary table (mIoU now / +180 ms / +540 ms vs copy-last, latency p50/p99, frames dropped) and the path
   of the HTML report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from swiftcast.errors import SwiftcastError
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT, project_root, resolve_user_path

DEFAULT_CHECKPOINT = DEFAULT_SEGMENTATION_CHECKPOINT
BAG_NAME = "drive"
BAG_STAMP = ".demo_bag.json"  # the parameters the bag was generated with (inside out/, next to the bag)


def describe_forecasters(model_id: str | None) -> str:
    """What the stack's default parameters forecast each horizon with: flow extrapolation, or the learned
    forecasters ``auto`` finds under models/ for the segmentation model (``model_id``)."""
    from swiftcast.forecast.forecaster import default_forecaster
    from swiftcast.forecast.protocol import HORIZONS
    from swiftcast.forecast.runtime import AUTO, FLOW
    from swiftcast.orchestration.parameters import node_parameters, read_parameter_file
    from swiftcast.orchestration.replay_runner import params_source

    settings = node_parameters(read_parameter_file(params_source(None)), "forecast")
    parts = []
    for horizon, spec in HORIZONS.items():
        value = str(settings.get(f"{horizon}_checkpoint", FLOW))
        if value == FLOW:
            parts.append(f"{horizon}: flow extrapolation (optical flow, no model)")
        elif value == AUTO:
            found = default_forecaster(project_root() / "models", str(model_id or ""), spec.frames,
                                       with_last_labels=True)
            parts.append(f"{horizon}: {found.name if found else 'none under models/ for this model (skipped)'}")
        else:
            parts.append(f"{horizon}: {value}")
    return "; ".join(parts)


def make_bag(out: Path, seconds: float, seed: int, size: tuple[int, int], say=print) -> Path:
    """The synthetic drive, regenerated only when (seconds, seed, size) changed."""
    bag = out / BAG_NAME
    stamp = out / BAG_STAMP
    wanted = {"seconds": seconds, "seed": seed, "size": list(size)}
    if bag.exists() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        say(f"reusing the synthetic drive {bag} ({seconds:g} s, seed {seed}, {size[0]}x{size[1]})")
        return bag
    if bag.exists():
        shutil.rmtree(bag) if bag.is_dir() else bag.unlink()
    say(f"writing a {seconds:g} s synthetic drive at {size[0]}x{size[1]} (seed {seed}) ...")
    cmd = [sys.executable, "-m", "swiftcast.cli", "synth-bag", "--out", str(bag), "--seconds", f"{seconds:g}",
           "--seed", str(seed), "--size", f"{size[0]}x{size[1]}"]
    res = subprocess.run(cmd)
    if res.returncode != 0:
        raise SwiftcastError(f"synth-bag failed (exit {res.returncode}): {' '.join(cmd)}")
    stamp.write_text(json.dumps(wanted))
    return bag


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m swiftcast.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the drive (default 20 s)")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic drive (default 7)")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help=f"segmentation checkpoint (default {DEFAULT_CHECKPOINT})")
    p.add_argument("--size", help="bag image size HxW (default: the checkpoint's input size)")
    p.add_argument("--rate", default="1", help="playback speed factor (default 1: real time, as a camera would "
                   "deliver it), or 'auto': real time, but each frame only after the stack answered the previous one "
                   "(every frame processed on a CPU too slow for real time)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    try:
        from swiftcast.data.transforms import parse_size
        from swiftcast.models.checkpoint import read_config
        from swiftcast.replay.pipeline import format_summary, replay

        checkpoint = resolve_user_path(args.checkpoint)
        if not checkpoint.exists():
            raise SwiftcastError(
                f"the shipped segmentation model {args.checkpoint} is missing (looked at {checkpoint}); "
                "see models/README.md for how it is trained"
            )
        config = read_config(checkpoint)
        size = parse_size(args.size) if args.size else tuple(config.get("input_size") or (256, 512))
        print(f"forecasters: {describe_forecasters(config.get('model_id'))}")
        args.out.mkdir(parents=True, exist_ok=True)
        bag = make_bag(args.out, args.seconds, args.seed, size)
        result = replay(bag, args.out, checkpoint=str(checkpoint), rate=args.rate, progress=not args.no_progress,
                        command=f"python -m swiftcast.demo --out {args.out}")
    except SwiftcastError as exc:
        print(f"swiftcast demo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("swiftcast demo: interrupted", file=sys.stderr)
        return 130
    print()
    print(format_summary(result.metrics))
    print(f"\nreport: {result.report.resolve()}")
    print(f"demo finished in {time.monotonic() - t0:.0f} s")
    if not result.run.ok:
        print(f"swiftcast demo: partial result: {result.run.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
