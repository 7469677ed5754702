"""Pareto table: mIoU on the synthetic val split vs latency at 256x512, SwiftNet against what a user would pick instead.

Five architectures - SwiftNet RN-18, SwiftNet MNV2, SwiftNet RN-18 pyramid fusion, torchvision
LRASPP-MobileNetV3-Large and DeepLabV3-MobileNetV3-Large (``lraspp_mnv3`` / ``deeplabv3_mnv3``, no pre-trained
weights) - are trained by the same ``swiftcast train`` command with the same recipe and budget on the same
synthetic train split (Adam, cosine, backbone lr x0.25, crops, scale 0.5-2, flips, seed 0), validated on the val
split (frame index 19 of every sequence: the forecasting target frame) and then timed in this one process at 256x512,
batch 1, on every runtime of ``--runtimes`` (torch eager fp32, ONNX Runtime fp32, ONNX Runtime int8 static QDQ
calibrated on synthetic val frames), interleaved round-robin so machine load hits every model alike (median of
repeats). The front and the goals use each model's fastest runtime: what a user deploying it would pick.

    python benchmarks/pareto.py [--iters 300] [--threads 1] [--data data/synth_v2] [--out runs/pareto]
    python benchmarks/pareto.py --retime      # time again on this machine, mIoU from benchmarks/results/pareto.json

Resumable per model: a model whose run in ``--out`` is complete is not trained again; a cut-off run continues
(``--resume``); ``--retime`` trains nothing: latency does not depend on the weights, so it times the trained
checkpoints if they are still in ``--out`` and random-initialised builds of the same architectures otherwise, and
keeps the recorded mIoU. Writes benchmarks/results/pareto.{json,md,png}. Not part of ``make bench`` (training takes long):
``make pareto``. The result says nothing about these architectures on Cityscapes with ImageNet weights - only how
they compare with the same small budget on the same data, from scratch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python benchmarks/pareto.py` as well as `python -m benchmarks.pareto`

from benchmarks._common import forward_call, interleaved_times, passive_openmp, percentile  # noqa: E402
from swiftcast.checkout import recorded_path  # noqa: E402
from swiftcast.runtime.bench import environment  # noqa: E402

passive_openmp()

#: (architecture, label in tables and plot)
MODELS: tuple[tuple[str, str], ...] = (
    ("swiftnet_rn18", "SwiftNet RN-18"),
    ("swiftnet_mnv2", "SwiftNet MNV2"),
    ("swiftnet_rn18_pyramid", "SwiftNet RN-18 pyramid"),
    ("lraspp_mnv3", "LRASPP-MNV3-L (torchvision)"),
    ("deeplabv3_mnv3", "DeepLabV3-MNV3-L (torchvision)"),
)
RESULTS = ROOT / "benchmarks" / "results"


def train_command(args: argparse.Namespace, name: str, resume: bool) -> list[str]:
    """The one recipe every model gets (only --model and --out differ)."""
    cmd = [
        sys.executable, "-m", "swiftcast.cli", "train", "--data", str(args.data), "--model", name,
        "--out", str(args.out / name), "--iters", str(args.iters), "--batch-size", str(args.batch_size),
        "--size", args.size, "--crop", args.crop, "--seed", "0", "--val-frames", "index:19",
        "--save-every", str(args.save_every), "--threads", str(args.threads),
    ]
    if args.val_images:
        cmd += ["--val-max-images", str(args.val_images)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    return cmd + (["--resume"] if resume else [])


def run_state(path: Path) -> dict | None:
    """The checkpoint config of a run folder, or None if it has none yet."""
    config = path / "config.json"
    return json.loads(config.read_text()) if config.is_file() else None


def ensure_trained(args: argparse.Namespace, name: str) -> dict:
    """Train ``name`` unless its run is complete; returns its final checkpoint config."""
    run = args.out / name
    config = run_state(run)
    if config is not None:
        training = config.get("training", {})
        if training.get("total_iters") != args.iters:
            raise SystemExit(f"pareto: {run} was trained for {training.get('total_iters')} iterations, not "
                             f"--iters {args.iters}; choose another --out (the budget must be the same for all)")
        if training.get("iteration") == args.iters and "val" in config.get("metrics", {}):
            print(f"{name}: already trained ({args.iters} iterations), skipped", flush=True)
            return config
    print(f"\n=== training {name}: {' '.join(train_command(args, name, config is not None)[1:])}", flush=True)
    done = subprocess.run(train_command(args, name, config is not None), cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"pareto: training {name} failed (exit {done.returncode}); rerun to resume it")
    return run_state(run) or {}


def recalibrated_metrics(args: argparse.Namespace, name: str) -> dict | None:
    """Val metrics after re-estimating every BatchNorm's running statistics on ``--bn-batches`` training batches
    (same augmentation as training; cumulative average; weights untouched), the same for every model.

    Why: the running statistics are what eval uses, and they lag the weights by a model-specific amount -
    torchvision's MobileNetV3 uses BN momentum 0.01, SwiftNet's backbones 0.1 - so at a short budget the
    as-trained eval mostly measures how far each model's statistics have caught up, not the architecture.
    Cached in ``<run>/pareto_eval.json`` (keyed by the settings), so reruns skip it.
    """
    if args.bn_batches <= 0:
        return None
    import numpy as np
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.utils.data import DataLoader, Subset

    from swiftcast.data.cityscapes import CityscapesDataset, collate
    from swiftcast.data.transforms import EvalTransform, TrainTransform, parse_size
    from swiftcast.eval.evaluate import evaluate_model
    from swiftcast.models import load_checkpoint

    cache = args.out / name / "pareto_eval.json"
    key = {"bn_batches": args.bn_batches, "batch_size": args.batch_size, "val_images": args.val_images,
           "iters": args.iters}
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return cached["metrics"]
    torch.set_num_threads(args.threads)
    model, config = load_checkpoint(args.out / name)
    norm, size = config["normalization"], tuple(config["input_size"])
    train = CityscapesDataset(args.data, "train", transform=TrainTransform(
        parse_size(args.crop), size, tuple(config["training"]["scale_range"]), flip=True,
        mean=norm["mean"], std=norm["std"]))
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all recalibration batches
    rng = np.random.default_rng(1234)
    picks = rng.choice(len(train), size=args.bn_batches * args.batch_size, replace=False)
    model.train()
    with torch.no_grad():
        for b in tqdm(range(args.bn_batches), desc=f"{name}: BN statistics", leave=False):
            items = [train[(int(i), 1234 + int(i))] for i in picks[b * args.batch_size:(b + 1) * args.batch_size]]
            model(collate(items)["image"])
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    model.eval()
    val = CityscapesDataset(args.data, "val", frames="index:19",
                            transform=EvalTransform(size, norm["mean"], norm["std"]))
    indices = range(min(args.val_images or len(val), len(val)))
    loader = DataLoader(Subset(val, indices), batch_size=1, collate_fn=collate)
    summary = evaluate_model(model, loader, "cpu", "full", desc=f"{name}: val").summary()
    metrics = {"miou": summary["miou"], "miou_mo": summary["miou_mo"], "num_images": len(indices)}
    cache.write_text(json.dumps({"key": key, "metrics": metrics}, indent=2) + "\n")
    return metrics


RUNTIMES = ("torch", "onnxruntime-fp32", "onnxruntime-int8")


def _timed_model(args: argparse.Namespace, name: str):
    """The trained checkpoint if its run is still in ``--out``, else a random-initialised build (same latency)."""
    from swiftcast.models import build_model, load_checkpoint

    if (args.out / name / "config.json").is_file():
        return load_checkpoint(args.out / name)[0].eval(), "trained checkpoint"
    return build_model(name).eval(), "random-initialised build"


def time_models(args: argparse.Namespace, names: list[str], tmp: Path) -> dict[str, dict[str, list[float]]]:
    """Interleaved timings of every model on every runtime at ``--bench-size``, batch 1: {name: {runtime: ms}}."""
    import numpy as np
    import torch

    from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD, parse_size
    from swiftcast.runtime.onnx_export import calibration_frames, export_logits, quantize_int8
    from swiftcast.runtime.segmenter import ort_session

    torch.set_num_threads(args.bench_threads)
    size = parse_size(args.bench_size)
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    calib = None
    if "onnxruntime-int8" in runtimes:
        calib = calibration_frames(args.data, size, CITYSCAPES_MEAN, CITYSCAPES_STD, count=16)
    image = np.random.default_rng(0).standard_normal((1, 3, *size)).astype(np.float32)
    calls = {}
    for n in names:
        model, what = _timed_model(args, n)
        print(f"{n}: timing a {what}", flush=True)
        fp32 = None
        for runtime in runtimes:
            if runtime == "torch":
                calls[(n, runtime)] = forward_call(model, size)
                continue
            fp32 = fp32 or export_logits(model, size, tmp / f"{n}_fp32.onnx")
            path = fp32 if runtime == "onnxruntime-fp32" else quantize_int8(fp32, tmp / f"{n}_int8.onnx", calib)
            session = ort_session(path, args.bench_threads)
            calls[(n, runtime)] = lambda s=session: s.run(None, {"image": image})
    times = interleaved_times(calls, args.repeats, warmup=2)
    out: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for (n, runtime), t in times.items():
        out[n][runtime] = t
    return out


def pareto_front(rows: list[dict]) -> set[str]:
    """Names no other model beats on both axes (at least as fast and as accurate, strictly better on one)."""
    front = set()
    for r in rows:
        dominated = any(
            o is not r and o["latency_ms"] <= r["latency_ms"] and o["miou"] >= r["miou"]
            and (o["latency_ms"] < r["latency_ms"] or o["miou"] > r["miou"])
            for o in rows
        )
        if not dominated:
            front.add(r["model"])
    return front


def goals(rows: dict[str, dict]) -> dict[str, dict]:
    """The two Pareto goals, each with the numbers it was decided on."""
    out = {}
    rn18, deeplab = rows.get("swiftnet_rn18"), rows.get("deeplabv3_mnv3")
    if rn18 and deeplab:
        out["rn18_beats_deeplabv3_mnv3"] = {
            "met": rn18["miou"] > deeplab["miou"] and rn18["latency_ms"] < deeplab["latency_ms"],
            "miou_pp": round(100 * (rn18["miou"] - deeplab["miou"]), 2),
            "latency_ratio": round(rn18["latency_ms"] / deeplab["latency_ms"], 3),
        }
    mnv2, lraspp = rows.get("swiftnet_mnv2"), rows.get("lraspp_mnv3")
    if mnv2 and lraspp:
        dominated = (lraspp["miou"] >= mnv2["miou"] and lraspp["latency_ms"] <= mnv2["latency_ms"]
                     and (lraspp["miou"] > mnv2["miou"] or lraspp["latency_ms"] < mnv2["latency_ms"]))
        out["mnv2_not_dominated_by_lraspp"] = {
            "met": not dominated,
            "miou_pp": round(100 * (mnv2["miou"] - lraspp["miou"]), 2),
            "latency_ratio": round(mnv2["latency_ms"] / lraspp["latency_ms"], 3),
        }
    return out


RUNTIME_LABELS = {"torch": "eager fp32", "onnxruntime-fp32": "ORT fp32", "onnxruntime-int8": "ORT int8"}


def markdown(result: dict) -> str:
    b = result["budget"]
    runtimes = result.get("runtimes") or ["torch"]
    cpu = (result.get("timed_on") or {}).get("cpu") or {}
    lines = [
        f"Same recipe for all: `swiftcast train` {b['iters']} iterations x batch {b['batch_size']}, crops {b['crop']} "
        f"of {b['size']} input, from scratch (no pre-trained weights), seed 0, {b['threads']} training thread(s); "
        f"val: {result['val_images']} synthetic val images (frame 19 of each sequence). Latency: batch 1, "
        f"{result['bench_size']}, {result['bench_threads']} threads, median of {result['repeats']} interleaved runs "
        f"(same process, same moment) on each runtime"
        + (f" ({cpu.get('model', '?')}: {', '.join(cpu.get('features', [])) or 'no AVX2'})" if cpu else "")
        + "; the front and the goals use each model's fastest runtime."
        + (" Re-timed: " + result["retimed"] + "." if result.get("retimed") else ""),
        "",
        "| model | params (M) | GMACs | " + " | ".join(f"{RUNTIME_LABELS.get(r, r)} (ms)" for r in runtimes)
        + " | fastest | Hz | mIoU % | mIoU-MO % | mIoU % as trained | Pareto | train time |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in runtimes) + " | --- | ---: | ---: | ---: | ---: | :---: | ---: |",
    ]
    for r in result["rows"]:
        by = r.get("latency_ms_by_runtime") or {"torch": r["latency_ms"]}
        lines.append(
            f"| {r['label']} | {r['params_m']:.2f} | {r['gmacs']:.2f} | "
            + " | ".join(f"{by[rt]:.0f}" if rt in by else "" for rt in runtimes)
            + f" | {RUNTIME_LABELS.get(r.get('latency_runtime', 'torch'), '?')} | {1000 / r['latency_ms']:.1f} | "
            f"{100 * r['miou']:.1f} | {100 * r['miou_mo']:.1f} | {100 * r['miou_as_trained']:.1f} | "
            f"{'yes' if r['pareto'] else ''} | {r['train_wall_s'] / 60:.0f} min |"
        )
    if result.get("bn_recalibration_batches"):
        lines += ["", f"mIoU / mIoU-MO (used for the front and the goals): after re-estimating every BatchNorm's "
                  f"running statistics on {result['bn_recalibration_batches']} training batches, the same for every "
                  f"model (weights untouched); 'as trained': the training run's own val, whose statistics lag "
                  f"by a model-specific amount (BN momentum 0.01 in torchvision's MobileNetV3, 0.1 in SwiftNet's "
                  f"backbones)."]
    lines.append("")
    for key, g in result["goals"].items():
        lines.append(f"- {key}: {'**met**' if g['met'] else '**not met**'} (mIoU {g['miou_pp']:+.1f} pp, "
                     f"latency x{g['latency_ratio']:.2f})")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for r in rows:
        swift = r["model"].startswith("swiftnet")
        ax.scatter(r["latency_ms"], 100 * r["miou"], s=60, marker="o" if swift else "s",
                   color="tab:blue" if swift else "tab:orange", zorder=3)
        ax.annotate(r["label"], (r["latency_ms"], 100 * r["miou"]), textcoords="offset points", xytext=(6, 4),
                    fontsize=8)
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["latency_ms"])
    if front:  # staircase: best mIoU reachable at each latency budget
        xs, ys = [], []
        for r in front:
            if xs:
                xs.append(r["latency_ms"])
                ys.append(ys[-1])
            xs.append(r["latency_ms"])
            ys.append(100 * r["miou"])
        ax.plot(xs, ys, "--", color="gray", lw=1, zorder=2, label="Pareto front")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(0, 1.3 * max(r["latency_ms"] for r in rows))  # room for the labels
    b = result["budget"]
    ax.set_xlabel(f"latency at {result['bench_size']} (ms, each model's fastest runtime, {result['bench_threads']} "
                  "threads)")
    ax.set_ylabel("mIoU on synthetic val (%)")
    ax.set_title(f"same recipe, {b['iters']} iterations x {b['batch_size']}, from scratch", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _train_and_score(args: argparse.Namespace, names: list[str]) -> dict[str, dict]:
    """Train (or reuse) every model and validate it: {name: the row's accuracy and training columns}."""
    out = {}
    for n in names:
        config = ensure_trained(args, n)
        val = config["metrics"]["val"]
        recal = recalibrated_metrics(args, n)
        if recal:
            print(f"{n}: val mIoU {100 * val['miou']:.1f} as trained, {100 * recal['miou']:.1f} with recalibrated "
                  "BN statistics", flush=True)
        out[n] = {
            # the front and the goals use the recalibrated numbers when there are any (see recalibrated_metrics)
            "miou": (recal or val)["miou"], "miou_mo": (recal or val)["miou_mo"],
            "miou_as_trained": val["miou"], "miou_mo_as_trained": val["miou_mo"], "val_images": val.get("num_images"),
            "train_wall_s": config["training"]["wall_time_s"], "checkpoint": recorded_path(args.out / n),
            "model_id": config.get("model_id"),
        }
    return out


#: row keys a --retime keeps from the recorded table (everything about accuracy and training)
RECORDED_KEYS = ("miou", "miou_mo", "miou_as_trained", "miou_mo_as_trained", "val_images", "train_wall_s",
                 "checkpoint", "model_id")


def _recorded(path: Path, names: list[str]) -> dict:
    """The accuracy columns of an earlier run's pareto.json (for --retime), plus its budget."""
    if not path.is_file():
        raise SystemExit(f"pareto --retime: no {path} to take the mIoU from; run benchmarks/pareto.py first")
    old = json.loads(path.read_text())
    rows = {r["model"]: r for r in old["rows"]}
    missing = [n for n in names if n not in rows]
    if missing:
        raise SystemExit(f"pareto --retime: {path} has no row for {', '.join(missing)}")
    out: dict = {n: {k: rows[n][k] for k in RECORDED_KEYS if k in rows[n]} for n in names}
    out["_budget"], out["_bn_batches"] = old["budget"], old.get("bn_recalibration_batches")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "synth_v2",
                        help="Cityscapes-layout folder with train and val splits (default: data/synth_v2)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "pareto", help="run folders (default: runs/pareto)")
    parser.add_argument("--models", default=",".join(n for n, _ in MODELS), help="comma-separated architectures")
    parser.add_argument("--iters", type=int, default=300, help="training iterations per model (default: 300)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", default="256x512", help="model input size HxW (default: 256x512)")
    parser.add_argument("--crop", default="256x256", help="training crop HxW (default: 256x256)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training (default: 2)")
    parser.add_argument("--workers", type=int, help="training loader workers (default: swiftcast train's)")
    parser.add_argument("--save-every", type=int, default=50, help="resumable checkpoint every N iterations")
    parser.add_argument("--val-images", type=int, help="validate on the first N val images (default: all)")
    parser.add_argument("--bn-batches", type=int, default=20,
                        help="re-estimate BatchNorm statistics on N training batches before the val used for the "
                             "table (default 20; 0: the as-trained val only)")
    parser.add_argument("--bench-size", default="256x512", help="timing input size HxW (default: 256x512)")
    parser.add_argument("--bench-threads", type=int, default=2, help="torch threads for timing (default: 2)")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per model (default: 15)")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES),
                        help=f"comma-separated runtimes to time every model on (default: {','.join(RUNTIMES)})")
    parser.add_argument("--retime", action="store_true",
                        help="train nothing: time again, keep the mIoU of the recorded pareto.json in --results")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where pareto.{json,md,png} go")
    args = parser.parse_args(argv)

    from swiftcast.data.transforms import parse_size
    from swiftcast.models.info import count_gmacs
    from swiftcast.models.registry import SEGMENTATION, build_model

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in SEGMENTATION]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(SEGMENTATION)}")
    bad = [r for r in args.runtimes.split(",") if r.strip() and r.strip() not in RUNTIMES]
    if bad:
        parser.error(f"unknown runtime(s) {', '.join(bad)}; choose from {', '.join(RUNTIMES)}")
    if not (args.data / "gtFine" / "val").is_dir() or not (args.retime or (args.data / "gtFine" / "train").is_dir()):
        parser.error(f"{args.data} needs train and val splits (swiftcast synth --split train/val)")
    started = time.time()
    if args.retime:
        recorded = _recorded(args.results / "pareto.json", names)
    else:
        recorded = _train_and_score(args, names)

    print(f"\n=== timing at {args.bench_size}, {args.bench_threads} threads, {args.repeats} interleaved rounds, "
          f"runtimes {args.runtimes}", flush=True)
    with tempfile.TemporaryDirectory(prefix="swiftcast-pareto-") as tmp:
        times = time_models(args, names, Path(tmp))
    import torch

    labels = dict(MODELS)
    size = parse_size(args.bench_size)
    rows = []
    for n in names:
        model = build_model(n)
        with torch.device("meta"):
            gmacs = count_gmacs(build_model(n).eval(), (1, 3, *size))
        params = sum(p.numel() for p in model.parameters())
        by_runtime = {rt: statistics.median(t) for rt, t in times[n].items()}
        fastest = min(by_runtime, key=by_runtime.get)
        rows.append({
            **recorded[n], "model": n, "label": labels.get(n, n), "params_m": params / 1e6, "gmacs": gmacs,
            # the front and the goals: each model on its fastest runtime
            "latency_ms": by_runtime[fastest], "latency_runtime": fastest,
            "latency_ms_p90": percentile(times[n][fastest], 90),
            "latency_ms_by_runtime": {rt: round(v, 2) for rt, v in by_runtime.items()},
        })
    front = pareto_front(rows)
    for r in rows:
        r["pareto"] = r["model"] in front
    rows.sort(key=lambda r: r["latency_ms"])
    result = {
        "budget": recorded["_budget"] if args.retime else {
            "iters": args.iters, "batch_size": args.batch_size, "crop": args.crop, "size": args.size,
            "threads": args.threads, "seed": 0, "pretrained": False},
        "bn_recalibration_batches": recorded["_bn_batches"] if args.retime else args.bn_batches,
        "data": recorded_path(args.data), "val_images": rows[0]["val_images"], "bench_size": args.bench_size,
        "bench_threads": args.bench_threads, "repeats": args.repeats, "runtimes": list(times[names[0]]),
        "timed_on": environment(), "rows": rows, "goals": goals({r["model"]: r for r in rows}),
        "wall_s": round(time.time() - started, 1),
    }
    if args.retime:
        result["retimed"] = "mIoU columns from the recorded training runs; latency measured again on this machine"
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "pareto.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (args.results / "pareto.md").write_text(table)
    plot(result, args.results / "pareto.png")
    print("\n" + table)
    print(f"written: {args.results}/pareto.{{json,md,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
