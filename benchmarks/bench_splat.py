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

Timed in the same rounds: :func:`~swiftcast.forecast.splat.splat_cells`, the same splat with every 2x2 cell of one
label also drawn whole where it lands (no gaps in magnified regions), against the kernel of ``splat_sources``. Its
labels: on *looming* the three regions (sky, road, block: every cell within one is drawn, those across a boundary
are not); on *noise* one label for the whole image (every cell drawn, each a scatter of a few pixels: its worst case).
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

from swiftcast.forecast.splat import splat_cells, splat_sources, warm_up  # noqa: E402
from swiftcast.hardware import cpu_description  # noqa: E402
from tests.test_splat import reference  # noqa: E402

Inputs = tuple[np.ndarray, np.ndarray, np.ndarray]  # mx, my, layer


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


#: the labels splat_cells gets with each field (see the module's docstring)
CELL_LABELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"looming": lambda layer: layer,
                                                              "noise": lambda layer: np.zeros_like(layer)}


def bench(size: tuple[int, int], field: str, rounds: int) -> dict:
    mx, my, layer = FIELDS[field](*size)
    labels = CELL_LABELS[field](layer)
    sources = splat_sources(mx, my, layer)
    if not np.array_equal(sources, reference(mx, my, layer)):
        raise SystemExit(f"{field} {size}: the kernel and the numpy reference differ")
    cells = splat_cells(mx, my, layer, labels)
    ms = interleaved({"numpy": lambda: reference(mx, my, layer), "kernel": lambda: splat_sources(mx, my, layer),
                      "cells": lambda: splat_cells(mx, my, layer, labels)}, rounds)
    return {"size": f"{size[0]}x{size[1]}", "field": field, "rounds": rounds, "ms_median": ms,
            "speedup_cpu": round(ms["numpy"]["cpu"] / ms["kernel"]["cpu"], 2),
            "speedup_wall": round(ms["numpy"]["wall"] / ms["kernel"]["wall"], 2),
            "cells_over_kernel_cpu": round(ms["cells"]["cpu"] / ms["kernel"]["cpu"], 2),
            "cells_over_kernel_wall": round(ms["cells"]["wall"] / ms["kernel"]["wall"], 2),
            "empty_pixels": {"kernel": int((sources < 0).sum()), "cells": int((cells < 0).sum())}}


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
    print(f"{'size':>10} {'field':>8}  {'numpy ms':>9} {'kernel ms':>9} {'speedup':>8} {'cells ms':>9} "
          f"{'/kernel':>8}  {'empty px':>15}   (CPU time; wall in brackets)")
    results = []
    for text in args.sizes.split(","):
        h, w = (int(v) for v in text.lower().split("x"))
        for field in args.fields.split(","):
            r = bench((h, w), field, args.rounds)
            results.append(r)
            ms = r["ms_median"]
            empty = r["empty_pixels"]
            print(f"{r['size']:>10} {field:>8}  {ms['numpy']['cpu']:9.2f} {ms['kernel']['cpu']:9.2f} "
                  f"{r['speedup_cpu']:7.1f}x {ms['cells']['cpu']:9.2f} {r['cells_over_kernel_cpu']:7.2f}x  "
                  f"{empty['kernel']:>7} -> {empty['cells']:<6}  ({ms['numpy']['wall']:.2f} / "
                  f"{ms['kernel']['wall']:.2f} / {ms['cells']['wall']:.2f} ms)", flush=True)
    if args.json:
        out = {"results": results, "kernel_ready_s": round(compile_s, 3), "kernel_from_cache": cached,
               "numba": numba.__version__, "numpy": np.__version__, "threads": 1,
               "load_average": os.getloadavg()[0]}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        stamp_cpu(Path(args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
