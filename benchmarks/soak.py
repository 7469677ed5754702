"""Soak run (``make soak``, not in CI): a 30 Hz camera into the live stack for minutes; memory, latency, drops, errors.

    source tools/ros_env.sh && python benchmarks/soak.py [--minutes 10] [--rate 30] [--size 256x512]

Starts ``swiftcast stack`` (semseg + forecast nodes, the shipped models in models/, launch/params/perception.yaml)
and streams a camera at ``--rate`` Hz (sensor-data QoS, stamped with the wall clock, a moving synthetic street
pattern) for ``--minutes`` after a ``--warmup-s`` warm-up. Recorded per minute: end-to-end latency percentiles
(camera publish -> semseg/labels received; and -> the short-horizon forecast of that frame), frames published vs
labels received (the rest were dropped by the newest-frame policy: a CPU slower than the camera skips frames
instead of queueing them), forecasts received, and the RSS of every node process. At the end: RSS growth from
after the warm-up to the end (goal < 5 %), the nodes' /diagnostics counters (errors, rejected, dropped) and any
error or traceback in their logs (goal 0). Prints a table; writes ``benchmarks/results/<name>.json`` and
``<name>.png`` (``--name``, default soak). Latencies on a shared machine are noisy: read them with the load average
printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/soak.py` as well as `python -m benchmarks.soak`

from benchmarks._common import rss_mb, stamp_cpu  # noqa: E402
from swiftcast.data.transforms import parse_size  # noqa: E402
from swiftcast.orchestration.rosenv import child_env, loopback_settings  # noqa: E402

NS = 1_000_000_000
ERROR_PATTERNS = re.compile(r"Traceback|\[ERROR\]|\bfailed\b|Exception", re.IGNORECASE)


def street_frames(size: tuple[int, int], count: int = 64, seed: int = 0) -> list[np.ndarray]:
    """A small loop of BGR frames: sky, buildings, road and a few moving boxes (content does not change cost)."""
    h, w = size
    rng = np.random.default_rng(seed)
    frames = []
    boxes = [(rng.integers(h // 2, h - h // 6), rng.integers(0, w), rng.integers(h // 10, h // 4),
              rng.integers(w // 20, w // 6), rng.integers(2, 8), rng.integers(0, 255, 3)) for _ in range(6)]
    for i in range(count):
        img = np.empty((h, w, 3), np.uint8)
        img[: h // 3] = (235, 206, 135)  # sky
        img[h // 3 : h // 2] = (70, 70, 70)  # buildings
        img[h // 2 :] = (128, 64, 128)  # road
        for y, x, bh, bw, speed, colour in boxes:
            x0 = int((x + speed * i) % w)
            img[max(0, y - bh) : y, x0 : x0 + bw] = colour
        noise = rng.integers(0, 12, img.shape, dtype=np.uint8)
        frames.append(np.ascontiguousarray(img + noise))
    return frames


def rss_growth(samples: list[dict], names: list[str], window_s: float = 60.0) -> dict[str, float | None]:
    """RSS growth in % from the first to the last ``window_s`` of the measurement, median of the samples (every
    10 s) in each window: a single reading swings by a few % with the buffers of the frame being processed."""
    out: dict[str, float | None] = {}
    end = max((s["t_s"] for s in samples), default=0.0)
    for name in names:
        first = [s[name] for s in samples if s.get(name) is not None and s["t_s"] < window_s]
        last = [s[name] for s in samples if s.get(name) is not None and s["t_s"] > end - window_s]
        out[name] = round(float(100 * (np.median(last) / np.median(first) - 1)), 2) if first and last else None
    return out


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None}
    p = np.percentile(np.asarray(values), [50, 90, 99])
    return {"p50": round(float(p[0]), 1), "p90": round(float(p[1]), 1), "p99": round(float(p[2]), 1)}


class Recorder:
    """Publish times by stamp, and what came back for each stamp (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published: dict[int, float] = {}
        self.labels: dict[int, float] = {}
        self.forecasts: dict[str, dict[int, float]] = defaultdict(dict)
        self.diagnostics: dict[str, dict[str, str]] = {}

    def on_labels(self, msg) -> None:
        now = time.monotonic()
        with self.lock:
            self.labels.setdefault(msg.header.stamp.sec * NS + msg.header.stamp.nanosec, now)

    def on_forecast(self, horizon: str):
        def callback(msg) -> None:
            now = time.monotonic()
            with self.lock:
                self.forecasts[horizon].setdefault(msg.source_stamp.sec * NS + msg.source_stamp.nanosec, now)
        return callback

    def on_diagnostics(self, msg) -> None:
        with self.lock:
            for status in msg.status:
                if status.name.endswith(": frames"):
                    self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured time after the warm-up (default 10)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate in Hz (default 30)")
    parser.add_argument("--size", default="256x512", help="camera image HxW (default 256x512)")
    parser.add_argument("--warmup-s", type=float, default=30.0, help="streaming before the measurement starts")
    parser.add_argument("--params", default=None, help="stack parameter file (default launch/params/perception.yaml)")
    parser.add_argument("--input-size", default=None, help="semseg model input HxW (default: the checkpoint's); a "
                        "smaller one lets a slow CPU segment often enough for the forecast node to find its past "
                        "frames (t-3P, t-6P, t-9P within P/2)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="folder for the results")
    parser.add_argument("--name", default="soak", help="result file names: NAME.json, NAME.png (default soak)")
    args = parser.parse_args(argv)
    size = parse_size(args.size)

    tmp = Path(tempfile.mkdtemp(prefix="swiftcast-soak-"))
    domain = random.randint(1, 101)
    os.environ.update(loopback_settings())  # before this process's first DDS participant
    os.environ["ROS_LOG_DIR"] = str(tmp / "probe-log")
    env = child_env(loopback=True, domain_id=domain, log_dir=tmp / "ros-log")
    env.update(loopback_settings())
    command = [sys.executable, "-m", "swiftcast.cli", "stack", "--camera-topic", "/soak/camera"]
    if args.params:
        command += ["--params", args.params]
    if args.input_size:
        command += ["--input-size", args.input_size]
    stack_log = tmp / "stack.log"
    log = open(stack_log, "wb")
    stack = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, cwd=REPO)
    print(f"soak: stack pid {stack.pid}, ROS domain {domain}, logs in {tmp}", flush=True)

    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from swiftcast_msgs.msg import SemanticForecast
    from swiftcast_ros.probe import RosProbe
    from swiftcast_ros.qos import SENSOR_QOS

    rec = Recorder()
    probe = RosProbe(domain_id=domain, name="soak")
    result: dict = {}
    try:
        probe.node.create_subscription(Image, "/perception/semseg/labels", rec.on_labels, 50)
        for h in ("short", "mid"):
            probe.node.create_subscription(SemanticForecast, f"/perception/forecast/{h}", rec.on_forecast(h), 50)
        probe.node.create_subscription(DiagnosticArray, "/diagnostics", rec.on_diagnostics, 50)
        camera = probe.publisher(Image, "/soak/camera", SENSOR_QOS)

        deadline = time.monotonic() + 300
        while not re.search(rb"ready: /perception/semseg/features", stack_log.read_bytes()) or \
                not re.search(rb"ready: /soak/camera", stack_log.read_bytes()):
            if stack.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the stack did not start:\n{stack_log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        text = stack_log.read_text(errors="replace")
        pids = {name: int(pid) for name, pid in re.findall(r"started /perception/(\w+) \(pid (\d+)\)", text)}
        probe.wait_for_subscribers(camera)
        print(f"soak: nodes {pids}; streaming {args.rate:g} Hz {size[0]}x{size[1]} for {args.warmup_s:g} s warm-up "
              f"+ {args.minutes:g} min", flush=True)

        frames = street_frames(size)
        h, w = size
        msg = Image(height=h, width=w, encoding="bgr8", is_bigendian=0, step=3 * w)
        msg.header.frame_id = "soak_camera"
        period = 1.0 / args.rate
        t_start = time.monotonic()
        t_measure = t_start + args.warmup_s
        t_end = t_measure + args.minutes * 60
        rss_start: dict[str, float] = {}
        rss_samples: list[dict] = []
        next_sample = t_measure
        i = 0
        late = 0
        while True:
            tick = t_start + i * period
            now = time.monotonic()
            if tick >= t_end:
                break
            if tick > now:
                time.sleep(tick - now)
            elif now - tick > period:
                late += 1  # this process could not keep the rate (machine load)
            msg.data = frames[i % len(frames)].tobytes()
            stamp = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = stamp // NS, stamp % NS
            t_pub = time.monotonic()
            camera.publish(msg)
            with rec.lock:
                rec.published[stamp] = t_pub
            i += 1
            if t_pub >= next_sample:
                sample = {"t_s": round(t_pub - t_measure, 1), "load1": os.getloadavg()[0]}
                sample.update({name: rss_mb(pid) for name, pid in pids.items()})
                rss_samples.append(sample)
                if not rss_start:
                    rss_start = {name: sample[name] for name in pids}
                next_sample += 10.0
            if stack.poll() is not None:
                raise SystemExit(f"the stack exited during the soak:\n{stack_log.read_text(errors='replace')[-3000:]}")
        time.sleep(3.0)  # the last answers
        rss_end = {name: rss_mb(pid) for name, pid in pids.items()}
        rss_samples.append({"t_s": round(time.monotonic() - t_measure, 1), "load1": os.getloadavg()[0],
                            **rss_end})

        # --- per-minute table ------------------------------------------------------------------------------------
        with rec.lock:
            published = dict(rec.published)
            labels = dict(rec.labels)
            forecasts = {k: dict(v) for k, v in rec.forecasts.items()}
            diagnostics = dict(rec.diagnostics)
        minutes = []
        n_min = max(1, int(np.ceil(args.minutes)))
        for m in range(n_min):
            lo, hi = t_measure + 60 * m, min(t_measure + 60 * (m + 1), t_end)
            stamps = [s for s, t in published.items() if lo <= t < hi]
            lat = [(labels[s] - published[s]) * 1e3 for s in stamps if s in labels]
            flat = [(forecasts.get("short", {})[s] - published[s]) * 1e3 for s in stamps
                    if s in forecasts.get("short", {})]
            loads = [r["load1"] for r in rss_samples if 60 * m <= r["t_s"] < 60 * (m + 1)]
            minutes.append({
                "minute": m + 1, "published": len(stamps), "labels": len(lat),
                "dropped": len(stamps) - len(lat),
                "forecasts_short": sum(1 for s in stamps if s in forecasts.get("short", {})),
                "forecasts_mid": sum(1 for s in stamps if s in forecasts.get("mid", {})),
                "latency_ms": percentiles(lat), "forecast_short_latency_ms": percentiles(flat),
                "load1": round(float(np.mean(loads)), 2) if loads else None,
            })
        measured = [s for s, t in published.items() if t_measure <= t < t_end]
        all_lat = [(labels[s] - published[s]) * 1e3 for s in measured if s in labels]
        growth = rss_growth(rss_samples, list(pids))
    finally:
        probe.close()
        if stack.poll() is None:
            stack.send_signal(signal.SIGINT)
            try:
                stack.wait(60)
            except subprocess.TimeoutExpired:
                stack.kill()
        log.close()
    output = stack_log.read_text(errors="replace")
    error_lines = [line for line in output.splitlines() if ERROR_PATTERNS.search(line)]
    counters = {name.split(": ")[0]: {k: v for k, v in values.items()
                                      if k in ("frames_in", "frames_out", "frames_dropped", "frames_rejected",
                                               "errors", "waiting_history", "history_resets", "resumed")}
                for name, values in diagnostics.items()}
    node_errors = sum(int(c.get("errors", 0)) for c in counters.values())
    result = {
        "minutes": args.minutes, "rate_hz": args.rate, "size": list(size), "warmup_s": args.warmup_s,
        "input_size": args.input_size or "checkpoint's",
        "published": len(measured), "labels": len(all_lat), "dropped": len(measured) - len(all_lat),
        "camera_ticks_late": late, "latency_ms": percentiles(all_lat), "per_minute": minutes,
        "rss_mib_start": rss_start, "rss_mib_end": rss_end, "rss_growth_pct": growth,
        "rss_growth_pct_endpoints": {n: None if not rss_start.get(n) or rss_end.get(n) is None else
                                     round(100 * (rss_end[n] / rss_start[n] - 1), 2) for n in rss_start},
        "rss_samples": rss_samples,
        "node_counters": counters, "node_errors": node_errors, "log_error_lines": error_lines[:50],
        "stack_exit_code": stack.returncode, "cpu_count": os.cpu_count(), "logs": str(tmp),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    stamp_cpu(out / f"{args.name}.json")
    print_table(result)
    plot(result, out / f"{args.name}.png")
    print(f"results: {out / args.name}.json, .png")
    ok = node_errors == 0 and not error_lines and stack.returncode == 0
    return 0 if ok else 1


def print_table(r: dict) -> None:
    fmt = lambda v: "   -" if v is None else f"{v:6.0f}"  # noqa: E731
    print(f"\nsoak: {r['minutes']:g} min at {r['rate_hz']:g} Hz, {r['size'][0]}x{r['size'][1]}, model input "
          f"{r['input_size']} (after {r['warmup_s']:g} s warm-up; {r['cpu_count']} CPU cores, shared)")
    print(f"{'min':>3} {'published':>9} {'labels':>6} {'dropped':>7} {'fc short':>8} {'p50 ms':>6} {'p90 ms':>6} "
          f"{'p99 ms':>6} {'fc p50':>6} {'load':>5}")
    for m in r["per_minute"]:
        lat, flat = m["latency_ms"], m["forecast_short_latency_ms"]
        print(f"{m['minute']:>3} {m['published']:>9} {m['labels']:>6} {m['dropped']:>7} {m['forecasts_short']:>8} "
              f"{fmt(lat['p50'])} {fmt(lat['p90'])} {fmt(lat['p99'])} {fmt(flat['p50'])} "
              f"{'-' if m['load1'] is None else format(m['load1'], '5.1f')}")
    lat = r["latency_ms"]
    print(f"all: {r['published']} published, {r['labels']} labelled ({100 * r['labels'] / max(1, r['published']):.1f} %"
          f"; the rest dropped by the newest-frame policy), latency p50/p90/p99 {lat['p50']}/{lat['p90']}/{lat['p99']} ms")
    for name, growth in r["rss_growth_pct"].items():
        print(f"RSS {name}: {r['rss_mib_start'].get(name, 0):.0f} -> {r['rss_mib_end'].get(name) or 0:.0f} MiB "
              f"(single readings), growth first -> last minute (medians): "
              f"{'n/a' if growth is None else f'{growth:+.2f} %'} (goal < 5 %)")
    print(f"errors counted by the nodes: {r['node_errors']}; error lines in the logs: {len(r['log_error_lines'])}; "
          f"stack exit status {r['stack_exit_code']}")
    for name, c in r["node_counters"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in c.items()))


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    mins = [m["minute"] for m in r["per_minute"]]
    for q, style in (("p50", "-o"), ("p90", "-s"), ("p99", "-^")):
        ax1.plot(mins, [m["latency_ms"][q] for m in r["per_minute"]], style, label=f"labels {q}")
    ax1.plot(mins, [m["forecast_short_latency_ms"]["p50"] for m in r["per_minute"]], "--", label="short forecast p50")
    ax1.set(xlabel="minute", ylabel="ms from camera publish", title="end-to-end latency per minute")
    ax1.legend(fontsize=8)
    samples = r["rss_samples"]
    for name in r["rss_mib_start"]:
        ax2.plot([s["t_s"] / 60 for s in samples], [s.get(name) for s in samples], label=name)
    ax2.set(xlabel="minute", ylabel="RSS MiB", title="resident memory of the node processes")
    ax2.legend(fontsize=8)
    fig.suptitle(f"soak: {r['rate_hz']:g} Hz {r['size'][0]}x{r['size'][1]}, {r['minutes']:g} min", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
