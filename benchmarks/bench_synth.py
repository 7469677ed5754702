"""Generation speed of the synthetic world: frames/s per core, render only and render + PNG writing.

    python benchmarks/bench_synth.py [--sizes 256x512,512x1024] [--sequences 3] [--json OUT]

One process with one llvmpipe thread (``LP_NUM_THREADS=0``, set before the GL context exists), so CPU time per
frame is the cost on one core; ``swiftcast synth --workers K`` runs K such processes side by side. Both variants
run on the same sequences in the same run and include building the world (amortised over its 30 frames):

- *render*: world + scene update + rasterisation + read-back + camera effects (noise, blur);
- *render + write*: the same plus the three PNGs per frame (image, labelIds, labelTrainIds), i.e. what
  ``swiftcast synth`` does.

frames/s per core = frames / process CPU seconds (wall-clock frames/s is printed too; on a shared machine it is
lower than the CPU figure when other jobs take the core).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LP_NUM_THREADS", "0")  # before any GL context: one rasteriser thread = one core


def _run(fn, frames: int) -> dict:
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"frames": frames, "cpu_s": cpu, "wall_s": wall, "fps_per_core": frames / cpu, "fps_wall": frames / wall}


def bench_size(size: tuple[int, int], sequences: int, seed: int) -> dict:
    from swiftcast.synth.render import Renderer
    from swiftcast.synth.sequences import FRAMES_PER_SEQUENCE, render_sequence, write_sequence

    h, w = size
    renderer = Renderer(h, w)
    frames = sequences * FRAMES_PER_SEQUENCE
    # warm-up: shader compilation, texture upload, first-frame allocations
    for _ in render_sequence(renderer, h, w, seed, "test", 10_000, frames=2):
        pass

    def render_only():
        for k in range(sequences):
            for _ in render_sequence(renderer, h, w, seed, "test", k):
                pass

    with tempfile.TemporaryDirectory() as tmp:
        def render_write():
            for k in range(sequences):
                write_sequence(renderer, Path(tmp), h, w, seed, "test", k)

        result = {"render": _run(render_only, frames), "render_write": _run(render_write, frames)}
    renderer.release()
    return result


def main(argv: list[str] | None = None) -> int:
    from swiftcast.data.transforms import parse_size

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="256x512", help="comma-separated HxW sizes (default 256x512)")
    p.add_argument("--sequences", type=int, default=3, help="30-frame sequences per measurement (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    results = {}
    print(f"{'size':>10}  {'render fps/core':>16}  {'render+write fps/core':>22}  {'wall fps (r / r+w)':>19}")
    for text in args.sizes.split(","):
        size = parse_size(text)
        r = bench_size(size, args.sequences, args.seed)
        results[text] = r
        print(f"{text:>10}  {r['render']['fps_per_core']:16.1f}  {r['render_write']['fps_per_core']:22.1f}  "
              f"{r['render']['fps_wall']:8.1f} / {r['render_write']['fps_wall']:.1f}")
    print(f"(LP_NUM_THREADS={os.environ['LP_NUM_THREADS']}, {args.sequences} sequences x 30 frames per cell, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "load_average": os.getloadavg()[0]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
