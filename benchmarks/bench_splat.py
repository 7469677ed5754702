"""The splat of flow extrapolation per horizon: the numpy code of ``LabelProjection.ahead`` against the compiled kernel.

    python benchmarks/bench_splat.py [--sizes 256x512,512x1024] [--rounds 20] [--json OUT]

Both give the same (H, W) map of which present pixel lands on each future pixel (checked here before timing; the
numpy code is the reference that tests/test_splat.py pins). One thread: numpy's element-wise work is single-threaded
and the kernel (:mod:`swiftcast.forecast.splat`) is too. Calls are interleaved round by round with the order
rotating, so load on a shared machine hits both alike; the ratio is measured within this run, by CPU time (stable on
a busy machine) and by wall clock. Also printed: how long the kernel took to compile, or to load from numba's cache,
in this process.

Two displacement fields at every size: *looming*, driving ahead (-0.1 (pixel - centre) per span, 9 spans: the
image spreads to nearly twice its size) with a nearer block moving sideways, on three drawing layers (sky, road,
block): what the forecast node draws; and *noise*, random displacements of a few pixels on five layers: scattered
writes, the kernel's worst case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import stamp_cpu  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

from swiftcast.forecast.splat import splat_sources, warm_up  # noqa: E402
from swiftcast.hardware import cpu_description  # noqa: E402
from tests.test_splat import reference  # noqa: E402

Inputs = tuple[np.ndarray, np.ndarray, np.ndarray]


def looming(height: int, width: int) -> Inputs:
    """Driving ahead 9 spans, a block (a nearer layer) moving sideways; sky farther than road."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    mx = 0.9 * (xs - (width - 1) / 2)
    my = 0.9 * (ys - (height - 1) / 2)
    block = (slice(height // 3, height // 2), slice(width // 5, width // 2))
    mx[block] += 0.05 * width
    layer = np.zeros((height, width), np.uint8)
    layer[height // 2:] = 1
    layer[block] = 2
    return mx.astype(np.float32), my.astype(np.float32), layer


def noise(height: int, width: int) -> Inputs:
    rng = np.random.default_rng(0)
    mx, my = (rng.standard_normal((2, height, width)) * 3).astype(np.float32)
    return mx, my, rng.integers(0, 5, (height, width)).astype(np.uint8)


FIELDS: dict[str, Callable[[int, int], Inputs]] = {"looming": looming, "noise": noise}


def interleaved(calls: dict[str, Callable[[], object]], rounds: int, warmup: int = 2) -> dict[str, dict[str, float]]:
    """Median wall and CPU milliseconds of each call over ``rounds`` interleaved rounds (the order rotating)."""
    wall: dict[str, list[float]] = {n: [] for n in calls}
    cpu: dict[str, list[float]] = {n: [] for n in calls}
    names = list(calls)
    for r in range(-warmup, rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            t0, c0 = time.perf_counter(), time.process_time()
            calls[name]()
            if r >= 0:
                wall[name].append((time.perf_counter() - t0) * 1e3)
                cpu[name].append((time.process_time() - c0) * 1e3)
    return {n: {"wall": round(statistics.median(wall[n]), 3), "cpu": round(statistics.median(cpu[n]), 3)}
            for n in names}


def bench(size: tuple[int, int], field: str, rounds: int) -> dict:
    mx, my, layer = FIELDS[field](*size)
    if not np.array_equal(splat_sources(mx, my, layer), reference(mx, my, layer)):
        raise SystemExit(f"{field} {size}: the kernel and the numpy reference differ")
    ms = interleaved({"numpy": lambda: reference(mx, my, layer), "kernel": lambda: splat_sources(mx, my, layer)},
                     rounds)
    return {"size": f"{size[0]}x{size[1]}", "field": field, "rounds": rounds, "ms_median": ms,
            "speedup_cpu": round(ms["numpy"]["cpu"] / ms["kernel"]["cpu"], 2),
            "speedup_wall": round(ms["numpy"]["wall"] / ms["kernel"]["wall"], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256x512,512x1024", help="comma-separated HxW (default 256x512,512x1024)")
    parser.add_argument("--fields", default=",".join(FIELDS), help=f"comma-separated, of {', '.join(FIELDS)}")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds per configuration (default 20)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    numba.set_num_threads(1)  # the kernel is serial anyway; nothing else here would use numba's threads
    from swiftcast.forecast import splat

    compile_s = warm_up()
    cached = sum(splat._splat.stats.cache_hits.values()) > 0
    cpu = cpu_description()
    print(f"{cpu['model']} ({', '.join(cpu['features']) or 'no AVX2'}), numba {numba.__version__}, numpy "
          f"{np.__version__}, one thread; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"kernel ready in {compile_s:.2f} s ({'loaded from numba cache' if cached else 'compiled: no cache yet'})")
    print(f"{'size':>10} {'field':>8}  {'numpy ms':>9} {'kernel ms':>9} {'speedup':>8}   (CPU time; wall in brackets)")
    results = []
    for text in args.sizes.split(","):
        h, w = (int(v) for v in text.lower().split("x"))
        for field in args.fields.split(","):
            r = bench((h, w), field, args.rounds)
            results.append(r)
            ms = r["ms_median"]
            print(f"{r['size']:>10} {field:>8}  {ms['numpy']['cpu']:9.2f} {ms['kernel']['cpu']:9.2f} "
                  f"{r['speedup_cpu']:7.1f}x   ({ms['numpy']['wall']:.2f} / {ms['kernel']['wall']:.2f} ms: "
                  f"{r['speedup_wall']:.1f}x)", flush=True)
    if args.json:
        out = {"results": results, "kernel_ready_s": round(compile_s, 3), "kernel_from_cache": cached,
               "numba": numba.__version__, "numpy": np.__version__, "threads": 1,
               "load_average": os.getloadavg()[0]}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        stamp_cpu(Path(args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
