"""``make bench``: every benchmark in this folder, one after the other, each printing its own ratios.

Each benchmark measures its comparison inside one run (interleaved), so the ratios hold even on a busy machine;
results go to benchmarks/results/<name>.json.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("bench_synth.py", "bench_node_latency.py", "bench_forecast_cost.py")


def main() -> int:
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        cmd = [sys.executable, str(HERE / name), "--json", str(results / f"{Path(name).stem}.json")]
        if subprocess.run(cmd).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nresults in {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
