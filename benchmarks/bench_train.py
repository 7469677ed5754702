"""Training throughput on this CPU: fp32 against bf16 autocast + channels_last, PNG decoding against the decoded
uint8 cache, in one run.

    python benchmarks/bench_train.py [--model swiftnet_efflite0] [--steps 8] [--data DIR] [--json OUT]

Each configuration runs the training step of ``swiftcast train`` (forward, cross-entropy, backward, Adam) on batches
of 8 random 256x256 crops produced by the real loader (one worker process, as ``swiftcast train`` uses on 2 cores)
and reports images/s and the share of step time the main process spent waiting for the next batch. bf16 rows run
only where the CPU has bf16 matrix instructions (AMX or AVX512-BF16); elsewhere the fp32 path is what ``--precision
auto`` picks and the table says so. The configurations are interleaved step by step in rounds, so a busy machine
slows all of them alike; the ratios are the result, the absolute numbers belong to the CPU named in the output.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _make_data(root: Path, sequences: int) -> Path:
    """A few synthetic sequences, rendered in a child process (an OpenGL context must not be forked into loaders)."""
    import subprocess

    swiftcast = Path(sys.executable).with_name("swiftcast")
    subprocess.run([str(swiftcast), "synth", "--out", str(root), "--split", "train", "--sequences", str(sequences),
                    "--seed", "0", "--size", "256x512", "--workers", "1", "--quiet"], check=True)
    return root


class Config:
    """One (precision, data path) configuration with its own model, optimizer and loader iterator."""

    def __init__(self, model_name: str, precision: str, cached: bool, data: Path, cache_root: Path, batch: int):
        import torch
        from torch.utils.data import DataLoader

        from swiftcast.data.cityscapes import CityscapesDataset, collate
        from swiftcast.data.transforms import PhotometricAugment, TrainTransform
        from swiftcast.models import build_model
        from swiftcast.train.loop import StreamBatchSampler

        self.name = f"{precision} {'cache' if cached else 'png'}"
        self.precision, self.cached = precision, cached
        torch.manual_seed(0)
        self.model = build_model(model_name).train()
        backbone = self.model.backbone
        dataset = CityscapesDataset(data, "train", frames="every:2")
        from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD

        mean = getattr(backbone, "input_mean", CITYSCAPES_MEAN)  # what the backbone's pre-trained weights expect
        std = getattr(backbone, "input_std", CITYSCAPES_STD)
        dataset.transform = TrainTransform((256, 256), (256, 512), (0.5, 2.0), mean=mean, std=std,
                                           photometric=PhotometricAugment())
        if cached:
            dataset.use_cache((256, 512), root=cache_root, progress=False)
        if precision == "bf16":
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), 1e-4)
        sampler = StreamBatchSampler(len(dataset), batch, 10_000, 0, 0)
        self.loader = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=1, collate_fn=collate))
        self.wait_s = self.step_s = 0.0
        self.images = 0

    def step(self, timed: bool) -> None:
        import torch

        from swiftcast.train.segmentation import segmentation_step

        t0 = time.perf_counter()
        batch = next(self.loader)
        t1 = time.perf_counter()
        segmentation_step(self.model, self.optimizer, batch, torch.device("cpu"), self.precision)
        t2 = time.perf_counter()
        if timed:
            self.wait_s += t1 - t0
            self.step_s += t2 - t0
            self.images += len(batch["image"])

    def result(self) -> dict:
        return {"images_per_s": self.images / self.step_s, "s_per_step": self.step_s * 8 / max(self.images, 1),
                "data_wait_share": self.wait_s / self.step_s, "images": self.images}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="swiftnet_efflite0")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per configuration (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, help="Cityscapes-layout folder (default: 4 synthetic sequences)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import torch

    from swiftcast.hardware import cpu_description, cpu_has_bf16, resolve_precision
    from swiftcast.runtime.bench import environment

    torch.set_num_threads(args.threads)
    precisions = ["fp32", "bf16"] if cpu_has_bf16() else ["fp32"]
    cpu = cpu_description()
    print(f"CPU: {cpu['model']} ({', '.join(cpu['features'])}); --precision auto picks "
          f"{resolve_precision('auto', torch.device('cpu'))}")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or _make_data(Path(tmp) / "data", 4)
        configs = [Config(args.model, p, cached, data, Path(tmp) / "cache", args.batch)
                   for p in precisions for cached in (False, True)]
        for _ in range(args.warmup):
            for c in configs:
                c.step(timed=False)
        for _ in range(args.steps):
            for c in configs:
                c.step(timed=True)
        results = {c.name: c.result() for c in configs}
    base = results["fp32 png"]["images_per_s"]
    print(f"\n{args.model}, batch {args.batch} of 256x256 crops, {args.threads} threads, 1 loader worker")
    print(f"{'configuration':<14}{'images/s':>10}{'s/step':>9}{'waiting for data':>18}{'vs fp32 png':>13}")
    for name, r in results.items():
        print(f"{name:<14}{r['images_per_s']:>10.1f}{r['s_per_step']:>9.2f}{100 * r['data_wait_share']:>17.0f}%"
              f"{r['images_per_s'] / base:>12.2f}x")
    if len(precisions) == 1:
        print("bf16: this CPU has no bf16 matrix instructions (AMX / AVX512-BF16); training runs the fp32 path")
    if args.json:
        payload = {"benchmark": "bench_train", "model": args.model, "batch": args.batch, "crop": [256, 256],
                   "threads": args.threads, "results": results, "environment": environment()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
