"""DeformF2F-8 on the CPU: torchvision's deformable-convolution kernel against the ``grid_sample`` form SwiftCast runs
(:func:`swiftcast.models.f2f.sampled_deform_conv2d`), in one run.

    python benchmarks/bench_deform.py [--rounds 6] [--threads 1] [--json OUT]

Timed, interleaved round by round (so load hits both alike), by the process's CPU time:

- one ``train-forecast`` MSE step of DeformF2F-8 (forward, feature MSE, backward, Adam; batch 12) on the SPP map of
  a 256x512 input (8x16) and on the ladder's stride-16 map (16x32);
- one forecast of the forecast node's eager backend (batch 1, no gradient) on both maps.

Both forms compute the same convolution (tests/test_forecasters.py checks values and gradients); the ratio
torchvision / sampled is the speed-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import passive_openmp  # noqa: E402

passive_openmp()  # before torch loads
import torch  # noqa: E402

from swiftcast.models import build_forecaster  # noqa: E402
from swiftcast.models.f2f import DeformConvBNReLU  # noqa: E402

#: (name, feature map height, width) of the maps timed: 256x512 input at stride 32 and at stride 16
MAPS = (("SPP 8x16", 8, 16), ("stride-16 16x32", 16, 32))
KERNELS = ("torchvision", "sampled")
#: the library's own deformable convolution (grid_sample of the taps + 1x1 conv), kept to switch back to
_SAMPLED = DeformConvBNReLU.deform


def _use(kernel: str) -> None:
    """Route every deformable layer through ``kernel`` (the benchmark's switch; the library always samples)."""
    if kernel == "torchvision":
        DeformConvBNReLU.deform = lambda self, x, offset: self.conv(x, offset)
    else:
        DeformConvBNReLU.deform = _SAMPLED


def _calls(h: int, w: int) -> dict[str, Callable[[], object]]:
    torch.manual_seed(0)
    net = build_forecaster("deform_f2f8")
    for layer in net.modules():  # trained offsets are not zero: sample off the grid, as a trained net does
        if isinstance(layer, DeformConvBNReLU):
            torch.nn.init.normal_(layer.offset.weight, std=0.01)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    past, target = torch.randn(12, 512, h, w), torch.randn(12, 128, h, w)
    one = torch.randn(1, 512, h, w)

    def train_step() -> None:
        net.train()
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(net(past), target).backward()
        optimizer.step()

    def forecast() -> None:
        net.eval()
        with torch.inference_mode():
            net(one)

    return {"train step (batch 12)": train_step, "forecast (batch 1)": forecast}


def bench(rounds: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    result: dict = {"threads": threads, "rounds": rounds, "ms_cpu_median": {}, "speedup": {}}
    for name, h, w in MAPS:
        calls = _calls(h, w)
        times: dict[str, list[float]] = {f"{c}, {k}": [] for c in calls for k in KERNELS}
        for round_ in range(-1, rounds):
            order = KERNELS if round_ % 2 else KERNELS[::-1]
            for kernel in order:
                _use(kernel)
                for call_name, call in calls.items():
                    t0 = time.process_time()
                    call()
                    if round_ >= 0:
                        times[f"{call_name}, {kernel}"].append((time.process_time() - t0) * 1e3)
        _use("sampled")
        medians = {k: round(statistics.median(v), 2) for k, v in times.items()}
        result["ms_cpu_median"][name] = medians
        result["speedup"][name] = {c: round(medians[f"{c}, torchvision"] / medians[f"{c}, sampled"], 2)
                                   for c in calls}
    return result


def report(r: dict) -> None:
    print(f"DeformF2F-8, ms of CPU per call (median of {r['rounds']} rounds, {r['threads']} thread(s)):")
    print(f"{'map':18s} {'call':24s} {'torchvision':>12s} {'sampled':>9s} {'speed-up':>9s}")
    for name, medians in r["ms_cpu_median"].items():
        for call, ratio in r["speedup"][name].items():
            print(f"{name:18s} {call:24s} {medians[f'{call}, torchvision']:12.1f} {medians[f'{call}, sampled']:9.1f} "
                  f"{ratio:8.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as the node)")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be at least 1")
    result = bench(args.rounds, args.threads)
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
