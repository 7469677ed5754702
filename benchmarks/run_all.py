"""``make bench``: every benchmark in this folder, one after the other, each printing its own ratios.

Each benchmark measures its comparison inside one run (interleaved), so the ratios hold even on a busy machine;
results go to benchmarks/results/<name>.json (bench_scaling also writes scaling.png / scaling.md there), each
stamped with the CPU it ran on. At the end benchmarks/report.py renders docs/performance.md and the README's
performance table from the result files. The Pareto table (benchmarks/pareto.py) trains models and is its own
target: ``make pareto``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # `python benchmarks/run_all.py` as well as `python -m benchmarks.run_all`

from benchmarks import report  # noqa: E402
from benchmarks._common import stamp_cpu  # noqa: E402

BENCHMARKS = ("bench_synth.py", "bench_node_latency.py", "bench_forecast_cost.py", "bench_load.py", "bench_scaling.py",
              "bench_realtime.py", "bench_camera_rate.py", "bench_train.py", "bench_deform.py")
#: result files not named after their script
RESULT_NAMES = {"bench_realtime.py": "realtime.json"}


def main() -> int:
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    failed, started = [], time.monotonic()
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        t0 = time.monotonic()
        out = results / RESULT_NAMES.get(name, f"{Path(name).stem}.json")
        cmd = [sys.executable, str(HERE / name), "--json", str(out)]
        if subprocess.run(cmd).returncode != 0:
            failed.append(name)
        elif out.exists():
            stamp_cpu(out)
        print(f"({name}: {time.monotonic() - t0:.0f} s)", flush=True)
    print(f"\nmake bench: {(time.monotonic() - started) / 60:.1f} min in all", flush=True)
    report.main([])  # docs/performance.md and the README's table, from every result file present
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nresults in {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
