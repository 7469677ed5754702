"""End-to-end latency of the semseg node (publish -> labels received, across processes over DDS) against a bare
``Segmenter`` call on the same image, measured in the same run, interleaved frame by frame so machine load hits
both alike (the order alternates so neither side always follows the other). Two references, both printed:

- the Segmenter call time measured inside the node on the same frames (its /diagnostics ``model_ms_p50``): same
  process, same thread, same moment, so the ratio isolates what ROS adds (transport, conversion, hand-over);
- a bare ``Segmenter`` call in this process, interleaved with the node frames (ratio of medians and median of
  per-frame ratios), on a worker thread like the node's. On an idle machine both agree; on a heavily shared CPU
  they drift apart (the two processes' OpenMP pools compete), and the first is the meaningful one.

    source tools/ros_env.sh && python benchmarks/bench_node_latency.py [--sizes 256x512,512x1024] [--frames 20]

The camera image and the model input have the same size (no resize), (256x512 and 512x1024 by default).
Without ``--checkpoint`` a random-initialised SwiftNet RN-18 is used (latency does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# Before torch loads OpenMP: with the default (spinning) wait policy, torch called from this process's threads
# ran ~3x slower than inside the node on a shared, oversubscribed CPU; passive waiting matches the node's timing.
_OMP_SET_BY_USER = "OMP_WAIT_POLICY" in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script or as benchmarks.bench_node_latency
from benchmarks._common import percentile as _percentile, random_checkpoint  # noqa: E402
from swiftcast.data.transforms import parse_size  # noqa: E402
from swiftcast.orchestration.rosenv import child_env, loopback_settings, node_executable  # noqa: E402
from swiftcast.runtime.images import ColorImage  # noqa: E402
from swiftcast.runtime.segmenter import Segmenter  # noqa: E402


def _checkpoint(path: str | None, size: tuple[int, int], tmp: Path) -> Path:
    return Path(path) if path else random_checkpoint(tmp, size)


def measure(
    size: tuple[int, int], frames: int, checkpoint: str | None, device: str, tmp: Path, pause: float = 0.2
) -> dict:
    """Interleaved bare-vs-node timings for one image size (the node is started and stopped here)."""
    os.environ.update(loopback_settings())  # before this process's first DDS participant
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from swiftcast_ros.probe import RosProbe, stamp_is

    ckpt = _checkpoint(checkpoint, size, tmp)
    h, w = size
    bgr = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    domain = random.randint(1, 101)
    env = child_env(loopback=True, domain_id=domain, log_dir=tmp / "ros-log")
    env.update(loopback_settings())
    if not _OMP_SET_BY_USER:
        env.pop("OMP_WAIT_POLICY", None)  # the node runs as users run it
    cmd = [
        str(node_executable("semseg_node", "semseg_node")), "--ros-args", "-r", "__node:=semseg",
        "-r", "__ns:=/perception", "-p", f"checkpoint:={ckpt}", "-p", f"input_size:=[{h},{w}]",
        "-p", f"device:={device}", "-p", "log_period_s:=0.0",
    ]
    node = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bare-segmenter")
    segmenter = worker.submit(Segmenter, ckpt, device=device, input_size=size).result()
    image = ColorImage(bgr, "bgr")
    try:
        with RosProbe(domain, name="bench") as probe:
            labels = probe.subscribe(Image, "/perception/semseg/labels")
            diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics")
            pub = probe.publisher(Image, "/camera/image_raw")
            probe.wait_for_subscribers(pub, timeout=180)
            msg = Image(height=h, width=w, encoding="bgr8", step=w * 3, data=bgr.tobytes())

            def bare_call() -> tuple[float, float]:
                # on a long-lived worker thread, as in the node: with torch's OpenMP pool on a busy machine the
                # calling thread matters (main-thread calls measured several times slower here under load)
                def run() -> tuple[float, float]:
                    t0 = time.perf_counter()
                    result = segmenter(image)
                    return (time.perf_counter() - t0) * 1e3, result.model_ms

                return worker.submit(run).result()

            lost = [0]

            def node_call() -> float:
                # stamped with the wall clock at publish: the node's age_ms (stamp -> labels published) then splits
                # the end-to-end time into "to and through the node" and "labels back to this process"
                for _attempt in range(3):  # camera input is best effort: a lost frame is re-sent, and counted
                    now = time.time_ns()
                    sec, nanosec = divmod(now, 1_000_000_000)
                    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
                    t0 = time.perf_counter()
                    pub.publish(msg)
                    if labels.wait_for(stamp_is(sec, nanosec), timeout=60) is not None:
                        return (time.perf_counter() - t0) * 1e3
                    lost[0] += 1
                raise RuntimeError(f"no labels for 3 frames in a row at {h}x{w}")

            bare, model_only, e2e = [], [], []
            for i in range(-3, frames):  # 3 warm-up rounds
                # alternate the order so neither side always runs right after the other (OpenMP threads spin on)
                if i % 2:
                    b, m = bare_call()
                    time.sleep(pause)
                    e = node_call()
                else:
                    e = node_call()
                    time.sleep(pause)
                    b, m = bare_call()
                time.sleep(pause)
                if i >= 0:
                    bare.append(b)
                    model_only.append(m)
                    e2e.append(e)
            time.sleep(1.5)  # one more diagnostics period
            node_stats = {}
            for m in reversed(diagnostics.messages):
                for status in m.status:
                    if "semseg: frames" in status.name:
                        node_stats = {kv.key: kv.value for kv in status.values}
                        break
                if node_stats:
                    break
    finally:
        worker.shutdown()
        node.send_signal(signal.SIGINT)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
    pairs = [e / b for e, b in zip(e2e, bare)]
    return {
        "size": f"{h}x{w}",
        "frames": frames,
        "frames_lost": lost[0],
        "load_average_1min": os.getloadavg()[0],
        "bare_segmenter_ms_median": statistics.median(bare),
        "bare_model_ms_median": statistics.median(model_only),
        "node_end_to_end_ms_median": statistics.median(e2e),
        "node_end_to_end_ms_p90": _percentile(e2e, 90),
        "node_internal_latency_ms_p50": float(node_stats.get("latency_ms_p50", "nan")),
        "node_model_ms_p50": float(node_stats.get("model_ms_p50", "nan")),
        "node_age_ms_p50": float(node_stats.get("age_ms_p50", "nan")),
        "ratio_vs_node_model": statistics.median(e2e) / float(node_stats.get("model_ms_p50", "nan")),
        "ratio_of_medians": statistics.median(e2e) / statistics.median(bare),
        "ratio_paired_median": statistics.median(pairs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256x512,512x1024", help="comma-separated HxW (default 256x512,512x1024)")
    parser.add_argument("--frames", type=int, default=20, help="measured frames per size (default 20)")
    parser.add_argument("--checkpoint", default=None, help="segmentation checkpoint (default: random-init RN-18)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if not node_executable("semseg_node", "semseg_node").exists():
        print("bench_node_latency: ros2_ws is not built (make setup)", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp:
        for text in args.sizes.split(","):
            results.append(measure(parse_size(text), args.frames, args.checkpoint, args.device, Path(tmp)))
            r = results[-1]
            print(
                f"{r['size']:>9}: publish->labels {r['node_end_to_end_ms_median']:.1f} ms (p90 "
                f"{r['node_end_to_end_ms_p90']:.1f}; publish->labels sent {r['node_age_ms_p50']:.1f}; receive->"
                f"publish inside the node {r['node_internal_latency_ms_p50']:.1f}) | Segmenter call in the node "
                f"{r['node_model_ms_p50']:.1f} ms"
                f" -> ratio {r['ratio_vs_node_model']:.3f} (goal <= 1.10) | bare Segmenter in this process "
                f"{r['bare_segmenter_ms_median']:.1f} ms -> ratio {r['ratio_of_medians']:.3f} (paired "
                f"{r['ratio_paired_median']:.3f}) | load avg {r['load_average_1min']:.1f}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
