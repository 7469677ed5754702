"""The whole replay of a bag, a video or an image folder through the live stack (``swiftcast replay``, the demo).

Validates the input, starts ``swiftcast stack`` and the ``bag_replay`` player/recorder in an isolated ROS domain,
plays the camera frames at their recorded rate (x ``rate``) with a progress bar, stops the stack, then scores the
recording and writes ``DIR/metrics.json``, ``DIR/report.html``, ``DIR/figures/`` and ``DIR/outputs.mcap``.
If the stack dies mid-way, what was recorded is still scored and the report says what happened (``run.ok`` is
false: ``swiftcast replay`` exits with status 1).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from swiftcast.errors import DataError
from swiftcast.replay.bag import BagInfo, read_label_maps
from swiftcast.replay.frames import inspect_input
from swiftcast.orchestration.replay_runner import ReplayRun, params_source, run_replay
from swiftcast.runtime.paths import resolve_user_path

#: what a replay writes into DIR (removed first when DIR is reused)
PRODUCTS = ("outputs.mcap", "metrics.json", "report.html", "figures", "logs")


@dataclass
class ReplayResult:
    metrics: dict
    report: Path
    run: ReplayRun
    info: BagInfo


def parse_rate(value: float | str) -> float | str:
    """A positive playback factor, or "auto"."""
    if value == "auto":
        return "auto"
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise DataError(f"--rate must be a positive number or 'auto', got {value!r}") from None
    if not rate > 0:
        raise DataError(f"--rate must be positive, got {value!r}")
    return rate


def check_checkpoint(checkpoint: str) -> None:
    """The segmentation checkpoint must exist and be one (else the stack would die at start-up)."""
    from swiftcast.models.checkpoint import read_config

    path = resolve_user_path(checkpoint)
    if not path.exists():
        raise DataError(f"checkpoint {checkpoint} not found")
    config = read_config(path)  # CheckpointError: one line naming the problem
    if config.get("kind") != "segmentation":
        raise DataError(f"checkpoint {checkpoint} is a {config.get('kind')} model, not a segmentation model")


def prepare_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in PRODUCTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def replay(
    bag: str | Path,
    out: str | Path,
    *,
    topic: str | None = None,
    labels_topic: str | None = None,
    fps: float | None = None,
    rate: float | str = 1.0,
    params: str | None = None,
    checkpoint: str | None = None,
    namespace: str = "/perception",
    domain_id: int | None = None,
    tolerance_ms: float | None = None,
    stack_timeout: float = 180.0,
    progress: bool = True,
    command: str = "",
    say: Callable[[str], None] = print,
) -> ReplayResult:
    """The whole replay (what ``swiftcast replay`` and ``swiftcast.demo`` run); raises DataError for a bad input or
    option.

    ``bag`` may also be a video file or a folder of images (``fps``: their frame rate)."""
    rate = parse_rate(rate)
    info = inspect_input(Path(bag), topic, labels_topic, fps)
    params_source(params)
    if checkpoint:
        check_checkpoint(checkpoint)
    # imported once the bag is known to be good: a user mistake is reported before torch/matplotlib load
    from swiftcast.replay.report import write_metrics, write_report
    from swiftcast.replay.score import check_ground_truth, score_recording

    truth = read_label_maps(info)
    if truth:
        check_ground_truth(truth, info.labels_topic or "")
    out = Path(out)
    prepare_out_dir(out)
    say(f"{'input' if info.is_footage else 'bag'}: {info.describe()}")
    run = run_replay(
        info, out, rate=rate, params=params, checkpoint=checkpoint, namespace=namespace, domain_id=domain_id,
        stack_timeout=stack_timeout, progress=progress, say=say,
    )
    if not run.ok:
        say(f"warning: {run.message}")
    say("scoring ...")
    t0 = time.monotonic()
    import torch  # the confusion matrices use torch: one thread is ~15x faster than two fighting a busy CPU

    torch.set_num_threads(1)
    tolerance_ns = None if tolerance_ms is None else int(tolerance_ms * 1e6)
    scored = score_recording(out / "outputs.mcap", truth, namespace, tolerance_ns)
    metrics = scored.metrics
    run_info = {
        "status": run.status,
        "message": run.message,
        "command": command,
        "stack_exit": run.stack_exit,
        "player_exit": run.player_exit,
        "domain_id": run.domain_id,
        "rate": rate,
        "rate_used": run.player.get("rate_used"),
        "wall_time_s": run.wall_time_s,
        "warmup_latency_ms": run.player.get("warmup_latency_ms"),
        "stack_command": run.stack_command,
        "logs": run.logs,
        "bag": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(info).items()},
                "description": info.describe(), "rate_hz": round(info.rate_hz, 3), "transport": info.transport},
    }
    metrics["run"] = run_info
    write_metrics(out, metrics)
    report = write_report(out, scored, info, run_info)
    say(f"scored and reported in {time.monotonic() - t0:.1f} s")
    return ReplayResult(metrics=metrics, report=report, run=run, info=info)


def format_summary(metrics: dict) -> str:
    """The terminal summary: accuracy now and per horizon vs copy-last, latency, drops."""
    from swiftcast.replay.report import pct

    lines = [f"{'':<26}{'mIoU %':>8}{'mIoU-MO %':>11}{'copy-last mIoU %':>18}{'copy-last MO %':>16}"]
    lines.append(f"{'single frame (now)':<26}{pct(metrics.get('miou')):>8}{pct(metrics.get('miou_mo')):>11}")
    for name, h in metrics.get("horizons", {}).items():
        f, c = h.get("forecast") or {}, h.get("copy_last") or {}
        label = f"forecast +{h['horizon_ms']:.0f} ms ({name})"
        lines.append(f"{label:<26}{pct(f.get('miou')):>8}{pct(f.get('miou_mo')):>11}"
                     f"{pct(c.get('miou')):>18}{pct(c.get('miou_mo')):>16}")
    if not metrics.get("horizons"):
        lines.append("forecasts                 unavailable (no forecast models in the stack, or none produced)")
    else:
        shares = [f"{name} {100 * h['labelled_frames_with_forecast']:.0f} %" for name, h in metrics["horizons"].items()
                  if h.get("labelled_frames_with_forecast") is not None]
        if shares:
            lines.append(f"labelled frames with a forecast: {', '.join(shares)}")
    if metrics.get("reference") != "ground_truth":
        lines.append("(no ground truth in the input: forecasts scored against the stack's own later labels)")
    lab = metrics["latency_ms"].get("labels")
    fr = metrics["frames"]
    lat = f"latency p50 {lab['p50']:.0f} ms, p99 {lab['p99']:.0f} ms" if lab else "latency n/a (no answers)"
    lines.append(f"{lat}; frames dropped {fr['dropped']}/{fr['published']}; "
                 f"labels at {metrics['throughput_hz'].get('labels') or 0:.1f} Hz "
                 f"(input {metrics['throughput_hz'].get('input') or 0:.1f} Hz)")
    used = (metrics.get("run") or {}).get("rate_used")
    if used is not None and used < 0.999:
        how = "each frame after the previous answer" if metrics["run"]["rate"] == "auto" else "--rate"
        lines.append(f"the drive played at {used:.2f}x real time ({how})")
    return "\n".join(lines)

