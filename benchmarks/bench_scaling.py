"""Scaling: SwiftNet latency vs input size (256x512 -> 1024x2048) and vs CPU threads (1, 2), torch eager fp32.

Every (model, size, threads) configuration is timed in this one process, interleaved round-robin (the thread count
is set before each call), so load on the shared machine hits all alike; median of ``--repeats`` rounds after a
warm-up round. How cost grows with resolution: a least-squares fit latency ~ pixels^k per model and thread count
(k = 1: linear in pixels, as the MAC count is; k < 1: small inputs waste part of the machine; k > 1: large inputs
fall out of cache). Writes ``--json``, and scaling.png / scaling.md next to it.

    python benchmarks/bench_scaling.py [--models swiftnet_rn18,swiftnet_mnv2] [--sizes ...] [--threads 1,2]
        [--repeats 3] [--json benchmarks/results/bench_scaling.json]

Random-initialised weights (latency does not depend on them), batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python benchmarks/bench_scaling.py` as well as `python -m benchmarks.bench_scaling`

from benchmarks._common import forward_call, interleaved_times, passive_openmp, percentile  # noqa: E402

passive_openmp()

import numpy as np  # noqa: E402
import torch  # noqa: E402

DEFAULT_SIZES = "256x512,512x1024,768x1536,1024x2048"


def fit_exponent(pixels: list[float], ms: list[float]) -> float:
    """k in latency ~ pixels^k (least squares in log-log)."""
    return float(np.polyfit(np.log(pixels), np.log(ms), 1)[0])


def run(models: list[str], sizes: list[tuple[int, int]], threads: list[int], repeats: int) -> dict:
    from swiftcast.models import build_model
    from swiftcast.models.info import count_gmacs

    torch.manual_seed(0)
    built = {m: build_model(m).eval() for m in models}
    calls, settings = {}, {}
    for m in models:
        for h, w in sizes:
            for t in threads:
                key = f"{m}@{h}x{w}/{t}t"
                calls[key] = forward_call(built[m], (h, w))
                settings[key] = t
    times = interleaved_times(calls, repeats, warmup=1, before=lambda key: torch.set_num_threads(settings[key]))
    rows = []
    for m in models:
        for h, w in sizes:
            with torch.device("meta"):
                gmacs = count_gmacs(build_model(m).eval(), (1, 3, h, w))
            for t in threads:
                ms = times[f"{m}@{h}x{w}/{t}t"]
                rows.append({"model": m, "size": f"{h}x{w}", "pixels": h * w, "threads": t, "gmacs": gmacs,
                             "ms_median": statistics.median(ms), "ms_p90": percentile(ms, 90),
                             "gmac_per_s": gmacs / (statistics.median(ms) / 1e3), "runs": len(ms)})
    fits = {}
    for m in models:
        for t in threads:
            sel = [r for r in rows if r["model"] == m and r["threads"] == t]
            fits[f"{m}/{t}t"] = fit_exponent([r["pixels"] for r in sel], [r["ms_median"] for r in sel])
    speedups = {}
    if len(threads) >= 2:
        lo, hi = min(threads), max(threads)
        for m in models:
            for h, w in sizes:
                by_t = {r["threads"]: r["ms_median"] for r in rows if r["model"] == m and r["size"] == f"{h}x{w}"}
                speedups[f"{m}@{h}x{w}"] = by_t[lo] / by_t[hi]
    return {"rows": rows, "exponent_vs_pixels": fits, "thread_speedup": speedups, "repeats": repeats,
            "torch": torch.__version__, "threads": threads, "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0]}


def markdown(result: dict) -> str:
    rows = result["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    threads = result["threads"]
    head = ["size", "MPix"] + [f"{m} {t}T (ms)" for m in models for t in threads]
    if len(threads) >= 2:
        head += [f"{m} {max(threads)}T/{min(threads)}T speed-up" for m in models]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for s in sizes:
        cells = [s, f"{next(r['pixels'] for r in rows if r['size'] == s) / 1e6:.2f}"]
        for m in models:
            for t in threads:
                r = next(r for r in rows if r["model"] == m and r["size"] == s and r["threads"] == t)
                cells.append(f"{r['ms_median']:.0f}")
        if len(threads) >= 2:
            cells += [f"{result['thread_speedup'][f'{m}@{s}']:.2f}x" for m in models]
        lines.append("| " + " | ".join(cells) + " |")
    fits = ", ".join(f"{k} k = {v:.2f}" for k, v in result["exponent_vs_pixels"].items())
    lines += ["", f"latency ~ pixels^k: {fits}. Median of {result['repeats']} interleaved runs; load average "
                  f"{result['load_average_1min']:.1f} on {result['cpu_count']} cores at the end of the run."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    for m in dict.fromkeys(r["model"] for r in rows):
        for t in result["threads"]:
            sel = [r for r in rows if r["model"] == m and r["threads"] == t]
            k = result["exponent_vs_pixels"][f"{m}/{t}t"]
            axes[0].plot([r["pixels"] / 1e6 for r in sel], [r["ms_median"] for r in sel], "o-" if t > 1 else "s--",
                         label=f"{m}, {t} thread{'s' if t > 1 else ''} (k={k:.2f})")
        if len(result["threads"]) >= 2:
            sel = [r for r in rows if r["model"] == m and r["threads"] == max(result["threads"])]
            axes[1].plot([r["pixels"] / 1e6 for r in sel],
                         [result["thread_speedup"][f"{m}@{r['size']}"] for r in sel], "o-", label=m)
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    sizes = {r["size"]: r["pixels"] / 1e6 for r in rows}
    from matplotlib.ticker import NullFormatter

    axes[0].xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_xticks(list(sizes.values()), labels=list(sizes), fontsize=8)
    axes[0].set_xlabel("input size (log of pixels)")
    axes[0].set_ylabel("latency (ms, median)")
    axes[0].set_title("latency ~ pixels^k (torch eager fp32, batch 1)", fontsize=10)
    axes[0].legend(fontsize=7)
    axes[0].grid(alpha=0.3, which="both")
    axes[1].axhline(1.0, color="gray", lw=0.8)
    axes[1].set_xlabel("input megapixels")
    axes[1].set_ylabel(f"speed-up {max(result['threads'])} vs {min(result['threads'])} threads")
    axes[1].set_title("thread scaling", fontsize=10)
    axes[1].legend(fontsize=7)
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="swiftnet_rn18,swiftnet_mnv2", help="comma-separated architectures")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated HxW (default {DEFAULT_SIZES})")
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per configuration (default 3)")
    parser.add_argument("--json", help="write the results here (and scaling.png / scaling.md next to it)")
    args = parser.parse_args(argv)
    from swiftcast.data.transforms import parse_size

    models = [m for m in args.models.split(",") if m]
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    result = run(models, sizes, threads, args.repeats)
    table = markdown(result)
    print(table)
    for key, k in result["exponent_vs_pixels"].items():
        print(f"{key}: latency grows as pixels^{k:.2f} from {sizes[0][0]}x{sizes[0][1]} to {sizes[-1][0]}x{sizes[-1][1]}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        (out.parent / "scaling.md").write_text(table)
        plot(result, out.parent / "scaling.png")
        print(f"written: {out}, {out.parent / 'scaling.md'}, {out.parent / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
