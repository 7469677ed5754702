"""The long fuzz run (``make fuzz``): the same generator and harness as tests/test_fuzz_nodes.py, any number of cases.

    source tools/ros_env.sh && python benchmarks/fuzz_nodes.py --cases 20000 [--seed 1] [--json OUT]

Starts a semseg node on raw images, one on compressed images and a forecast node (tiny random checkpoints), feeds
them the cases of :func:`fuzz_cases.generate_cases` with valid inputs interleaved, and prints one
line: ``fuzz: N cases, 0 crashes, 0 wrong-shape outputs, rejected by reason: ...``. The full report (counters of
every node, expected vs counted rejections, transport losses, examples of anything wrong) goes to the JSON file.
Exit status 1 if anything failed (a node died, an internal error, a wrong or missing answer, a count that does
not add up, a problem kind with no log line).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the harness lives with the test that runs it in make test
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000, help="number of generated cases (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1; the test suite uses 9)")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "fuzz_nodes.json"),
                        help="report file (default benchmarks/results/fuzz_nodes.json)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the node logs (printed path)")
    args = parser.parse_args(argv)

    import torch
    from tqdm import tqdm

    from benchmarks._common import stamp_cpu
    from fuzz_world import FuzzWorld, problems, write_report
    from fuzz_cases import generate_cases

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="swiftcast-fuzz-"))
    t0 = time.monotonic()
    print(f"starting the nodes (logs in {tmp})", flush=True)
    world = FuzzWorld(tmp)
    try:
        cases = generate_cases(args.cases, world.spec, args.seed)
        with tqdm(total=len(cases), unit="case", mininterval=2.0) as bar:
            report = world.run(cases, progress=lambda i: bar.update(1))
    finally:
        report_codes = world.close()
    report.update(exit_codes=report_codes, seed=args.seed, total_seconds=round(time.monotonic() - t0, 1),
                  logs=str(tmp))
    write_report(report, Path(args.json))
    stamp_cpu(Path(args.json))
    print(report["summary"])
    print(f"{report['outputs_checked']} outputs checked; {report['unanswered']} valid inputs unanswered; transport "
          f"losses: " + ", ".join(f"{n} {v['lost_in_transport']}/{v['sent']}" for n, v in report["nodes"].items())
          + f"; {report['seconds']:.0f} s feeding, {report['total_seconds']:.0f} s in all")
    failed = problems(report) + [f"{n} exited with {c}" for n, c in report_codes.items() if c != 0]
    for line in failed:
        print(f"FAIL: {line}", file=sys.stderr)
    print(f"report: {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
