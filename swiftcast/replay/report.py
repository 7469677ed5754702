"""The replay report: ``metrics.json``, matplotlib figures, an animated overlay and one self-contained HTML page.

``report.html`` opens on its own (figures and the animation are inlined as base64), so it can be mailed or
attached to a CI run; the same figures are also written as PNGs under ``figures/`` for slides and the README.
The page leads with what a person asks first (is it accurate, does the forecast beat copy-last, how fast, did it
drop frames, did anything go wrong), then shows frames so the numbers can be believed.

Everything drawn comes from one :class:`~swiftcast.replay.score.ReplayScore`: the report scores nothing and reads
no recording again. The page's layout and wording live in ``templates/report.html`` (Jinja2).
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any, Sequence

import cv2
import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from swiftcast.data.labels import CLASS_COLORS_RGB, CLASS_NAMES, MOVING_TRAIN_IDS, colorize_train_ids  # noqa: E402
from swiftcast.replay.bag import BagInfo, PackedLabels  # noqa: E402
from swiftcast.replay.frames import open_frames  # noqa: E402
from swiftcast.replay.score import Matches, ReplayScore  # noqa: E402

NS = 1_000_000_000
MAX_TILE_WIDTH = 384  # pixels per image in strips
GIF_PANEL_WIDTH = 320
GIF_MAX_FRAMES = 120
STRIP_ROWS = 4
#: the figures a page shows (``render_html``'s keys), in the order they are drawn
FIGURES = ("per_class", "latency_hist", "latency_timeline", "strips", "legend", "animation")


def write_metrics(out_dir: Path, metrics: dict) -> Path:
    path = Path(out_dir) / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2, allow_nan=False))
    return path


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}"


def horizon_label(h: dict, name: str) -> str:
    return f"{name} (+{h['horizon_ms']:.0f} ms)"


# --- figures ---------------------------------------------------------------------------------------------------------


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_per_class(metrics: dict, path: Path) -> Path | None:
    """Per-class IoU: single frame, then per horizon forecast next to copy-last."""
    panels: list[tuple[str, list[tuple[str, dict, str]]]] = []
    if metrics.get("single_frame"):
        panels.append(("single frame vs ground truth", [("single frame", metrics["single_frame"], "#4c72b0")]))
    for name, h in metrics.get("horizons", {}).items():
        bars = [(b, h[k], c) for b, k, c in (("forecast", "forecast", "#dd8452"), ("copy-last", "copy_last", "#999999"))
                if h.get(k)]
        if bars:
            ref = "ground truth" if h["reference"] == "ground_truth" else "own single-frame labels"
            panels.append((f"{horizon_label(h, name)} vs {ref}", bars))
    if not panels:
        return None
    names = list(CLASS_NAMES)
    y = np.arange(len(names))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 1.2, 6.2), sharey=True, squeeze=False)
    for ax, (title, bars) in zip(axes[0], panels):
        height = 0.8 / len(bars)
        for i, (label, summary, colour) in enumerate(bars):
            values = [summary["per_class"].get(n) for n in names]
            vals = np.array([np.nan if v is None else 100 * v for v in values])
            ax.barh(y - 0.4 + height * (i + 0.5), np.nan_to_num(vals), height=height, color=colour,
                    label=f"{label}: mIoU {pct(summary['miou'])}")
        ax.set_title(title, fontsize=9)
        ax.set_xlim(0, 100)
        ax.set_xlabel("IoU %")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        for t in MOVING_TRAIN_IDS:  # shade the moving-object classes scored by mIoU-MO
            ax.axhspan(t - 0.5, t + 0.5, color="#f3e9d2", zorder=0)
    axes[0][0].set_yticks(y, names, fontsize=8)
    axes[0][0].invert_yaxis()
    fig.suptitle("Per-class IoU (shaded: moving objects, mIoU-MO)", fontsize=10)
    return _save(fig, path)


def plot_latency_hist(series: dict[str, list[tuple[float, float]]], metrics: dict, path: Path) -> Path | None:
    if not any(series.values()):
        return None
    fig, ax = plt.subplots(figsize=(7, 3.4))
    all_values = np.concatenate([np.array([v for _, v in s]) for s in series.values() if s])
    bins = np.linspace(0, max(1.0, float(np.percentile(all_values, 99.5)) * 1.1), 50)
    for name, s in series.items():
        if s:
            ax.hist(np.clip([v for _, v in s], None, bins[-1]), bins=bins, alpha=0.55, label=_series_label(name, metrics))
    lab = metrics["latency_ms"].get("labels")
    if lab:
        for q, style in (("p50", "--"), ("p99", ":")):
            ax.axvline(lab[q], color="k", linestyle=style, linewidth=1)
            ax.text(lab[q], ax.get_ylim()[1] * 0.95, f" labels {q} {lab[q]:.0f} ms", fontsize=7, va="top")
    ax.set_xlabel("latency: camera frame published -> output received (ms)")
    ax.set_ylabel("messages")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _series_label(name: str, metrics: dict) -> str:
    if name == "labels":
        return "single-frame labels"
    h = metrics.get("horizons", {}).get(name)
    return f"forecast {horizon_label(h, name)}" if h else f"forecast {name}"


def plot_latency_timeline(
    series: dict[str, list[tuple[float, float]]], matches: Matches, metrics: dict, path: Path
) -> Path | None:
    outputs = matches.outputs
    if not outputs.played:
        return None
    t0 = min(outputs.played.values())
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for name, s in series.items():
        if s:
            xs, ys = zip(*s)
            ax.plot(xs, ys, ".", markersize=3, label=_series_label(name, metrics))
    dropped = [(t - t0) / NS for s, t in outputs.played.items() if s not in outputs.labels]
    if dropped:
        ax.plot(dropped, np.zeros(len(dropped)), "|", color="red", markersize=10,
                label=f"dropped by the stack ({len(dropped)})")
    ax.set_xlabel("time since the first frame was published (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=-2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def _tile(image_bgr: np.ndarray, width: int) -> np.ndarray:
    h, w = image_bgr.shape[:2]
    if w > width:
        image_bgr = cv2.resize(image_bgr, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return image_bgr[..., ::-1]  # RGB for matplotlib / PIL


def _labels_tile(labels: np.ndarray, width: int) -> np.ndarray:
    h, w = labels.shape
    if w > width:
        labels = cv2.resize(labels, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_NEAREST)
    return colorize_train_ids(labels)[..., ::-1]


def _confidence_tile(confidence: np.ndarray, width: int) -> np.ndarray:
    """255 x max softmax as a colour map (dark = unsure, bright = sure), RGB."""
    h, w = confidence.shape
    if w > width:
        confidence = cv2.resize(confidence, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return cv2.applyColorMap(confidence, cv2.COLORMAP_INFERNO)[..., ::-1]


def pick_strip_sources(matches: Matches, horizons: Sequence[str], rows: int = STRIP_ROWS) -> list[int]:
    """Source frames, spread over the drive, that have labels and a forecast for every horizon (if any)."""
    candidates = sorted(matches.own)
    if horizons:
        full = [s for s in candidates if all(s in matches.by_source.get(h, {}) for h in horizons)]
        candidates = full or [s for s in candidates if any(s in matches.by_source.get(h, {}) for h in horizons)] or candidates
    if len(candidates) <= rows:
        return candidates
    idx = np.linspace(0, len(candidates) - 1, rows + 2)[1:-1].round().astype(int)
    return [candidates[i] for i in idx]


def plot_strips(matches: Matches, frames: dict[int, np.ndarray], sources: list[int], horizons: list[tuple[str, float]],
                path: Path) -> Path | None:
    """Rows of camera | labels | forecast +h | reference at t+h ... for a few source frames."""
    if not sources:
        return None
    cols: list[str] = ["camera (t)", "labels (t)"]
    with_confidence = any(s in matches.outputs.confidence for s in sources)
    if with_confidence:
        cols.append("confidence (t)")
    for name, ms in horizons:
        cols += [f"forecast t+{ms:.0f} ms", f"{'GT' if matches.truth else 'own labels'} t+{ms:.0f} ms"]
    if not horizons and matches.truth:
        cols.append("ground truth (t)")
    t0 = min(matches.outputs.played) if matches.outputs.played else 0  # drive time: stamps, not wall time
    cells: list[list[np.ndarray | None]] = []
    for s in sources:
        row: list[np.ndarray | None] = [
            _tile(frames[s], MAX_TILE_WIDTH) if s in frames else None,
            _labels_tile(matches.own[s].unpack(), MAX_TILE_WIDTH),
        ]
        if with_confidence:
            conf = matches.outputs.confidence.get(s)
            row.append(_confidence_tile(conf.unpack(), MAX_TILE_WIDTH) if conf is not None else None)
        for name, _ in horizons:
            f = matches.by_source.get(name, {}).get(s)
            row.append(_labels_tile(f.labels.unpack(), MAX_TILE_WIDTH) if f else None)
            ref = matches.reference(f.target_ns) if f else None
            row.append(_labels_tile(ref, MAX_TILE_WIDTH) if ref is not None else None)
        if not horizons and matches.truth:
            ref = matches.reference(s)
            row.append(_labels_tile(ref, MAX_TILE_WIDTH) if ref is not None else None)
        cells.append(row)
    shape = next(c.shape for r in cells for c in r if c is not None)
    aspect = shape[0] / shape[1]
    fig, axes = plt.subplots(len(cells), len(cols), figsize=(2.3 * len(cols), 2.3 * aspect * len(cells) + 0.6),
                             squeeze=False)
    for r, row in enumerate(cells):
        for c, img in enumerate(row):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if img is None:
                ax.set_facecolor("#eeeeee")
                ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, fontsize=8, color="#777")
            else:
                ax.imshow(img, interpolation="nearest")
            if r == 0:
                ax.set_title(cols[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(f"t = {(sources[r] - t0) / NS:.2f} s", fontsize=8)
    fig.subplots_adjust(wspace=0.03, hspace=0.08)
    return _save(fig, path)


def plot_legend(path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 0.45))
    ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=np.array(c) / 255) for c in CLASS_COLORS_RGB]
    ax.legend(handles, CLASS_NAMES, ncol=10, fontsize=7, loc="center", frameon=False, handlelength=1.2)
    return _save(fig, path)


def make_overlay_animation(matches: Matches, frames: dict[int, np.ndarray], stamps: list[int], horizon: str | None,
                           path: Path, fps: float) -> Path | None:
    """GIF: camera + labels overlay, next to camera + the forecast made ``horizon`` earlier for this instant."""
    if not stamps:
        return None
    images = []
    for s in stamps:
        if s not in frames:
            continue
        cam = frames[s]
        panels = [_overlay_panel(cam, matches.own.get(s), "now: segmentation" if s in matches.own else "now: dropped")]
        if horizon is not None:
            f = matches.forecast_for(horizon, s)
            ms = f.horizon_ns / 1e6 if f else 0
            title = f"forecast made {ms:.0f} ms earlier" if f else "forecast: none yet"
            panels.append(_overlay_panel(cam, f.labels if f else None, title))
        # fast octree palette per frame (PIL's default median cut takes ~50 ms a frame)
        images.append(PILImage.fromarray(np.concatenate(panels, axis=1)).quantize(256, PILImage.Quantize.FASTOCTREE))
    if not images:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, round(1000 / fps)), loop=0,
                   optimize=False)
    return path


def _overlay_panel(camera_bgr: np.ndarray, labels: PackedLabels | None, title: str) -> np.ndarray:
    h, w = camera_bgr.shape[:2]
    width = GIF_PANEL_WIDTH
    height = max(1, round(h * width / w))
    cam = cv2.resize(camera_bgr, (width, height), interpolation=cv2.INTER_AREA if w > width else cv2.INTER_NEAREST)
    if labels is not None:
        lab = cv2.resize(labels.unpack(), (width, height), interpolation=cv2.INTER_NEAREST)
        cam = cv2.addWeighted(colorize_train_ids(lab), 0.5, cam, 0.5, 0.0)
    else:
        cam = (cam * 0.5).astype(np.uint8)
    bar = np.full((18, width, 3), 255, np.uint8)
    cv2.putText(bar, title, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, cam], axis=0)[..., ::-1]


# --- the page ----------------------------------------------------------------------------------------------------------


def _data_uri(path: Path | None) -> str:
    if path is None or not path.is_file():
        return ""
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def summary_rows(metrics: dict) -> list[list[str]]:
    """The headline table: rows = single frame and each horizon; forecast next to copy-last (as printed too)."""
    rows = []
    sf = metrics.get("single_frame")
    rows.append(["single frame (now)", pct(metrics.get("miou")), pct(metrics.get("miou_mo")), "", "",
                 str(sf["frames"]) if sf else "0"])
    for name, h in metrics.get("horizons", {}).items():
        f, c = h.get("forecast") or {}, h.get("copy_last") or {}
        share = h.get("labelled_frames_with_forecast")
        scored = str(h["pairs_scored"]) + (f" ({100 * share:.0f} % of labelled frames forecast)" if share is not None else "")
        rows.append([f"forecast {horizon_label(h, name)}", pct(f.get("miou")), pct(f.get("miou_mo")),
                     pct(c.get("miou")), pct(c.get("miou_mo")), scored])
    return rows


def _cards(metrics: dict) -> list[tuple[str, str]]:
    """(what, value) of the headline cards."""
    frames, lab = metrics["frames"], metrics["latency_ms"].get("labels") or {}
    cards = [("single-frame mIoU", pct(metrics.get("miou")) + ("%" if metrics.get("miou") is not None else "")),
             ("single-frame mIoU-MO", pct(metrics.get("miou_mo")) + ("%" if metrics.get("miou_mo") is not None else ""))]
    for h in metrics.get("horizons", {}).values():
        f, c = h.get("forecast") or {}, h.get("copy_last") or {}
        cards.append((f"forecast +{h['horizon_ms']:.0f} ms mIoU (copy-last)", f"{pct(f.get('miou'))} ({pct(c.get('miou'))})"))
    cards += [("latency p50 / p99", f"{lab['p50']:.0f} / {lab['p99']:.0f} ms" if lab else "n/a"),
              ("frames dropped", f"{frames['dropped']} / {frames['published']}")]
    return cards


def _per_class(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the per-class table: single frame, then forecast and copy-last per horizon."""
    sf = metrics.get("single_frame")
    hz = list(metrics.get("horizons", {}).items())
    rows = []
    for cname in CLASS_NAMES:
        row = [cname, pct(sf["per_class"].get(cname)) if sf else "n/a"]
        for _, h in hz:
            for key in ("forecast", "copy_last"):
                row.append(pct(h[key]["per_class"].get(cname)) if h.get(key) else "n/a")
        rows.append(row)
    header = ["class", "single frame"] + [f"{lbl} {n}" for n, _ in hz for lbl in ("forecast", "copy-last")]
    return header, rows


def _run_rows(metrics: dict, run: dict) -> list[list[str]]:
    bag = run.get("bag", {})
    return [[k, str(v)] for k, v in (
        ("bag", bag.get("description", "")), ("command", run.get("command", "")),
        ("status", run.get("status", "ok")), ("stack exit", run.get("stack_exit")), ("ROS domain", run.get("domain_id")),
        ("playback rate", f"{run.get('rate')} (used: {run.get('rate_used')}x the recorded rate)"),
        ("wall time", f"{run.get('wall_time_s', 0):.1f} s"),
        ("models", ", ".join(f"{t}: {m}" for t, m in metrics.get("model_ids", {}).items()) or "n/a"),
        ("recorded topics", ", ".join(f"{t} ({n})" for t, n in metrics.get("recorded_topics", {}).items())),
        ("warm-up latency", run.get("warmup_latency_ms")),
    )]


#: autoescaped: every value reaches the page as text, whatever a bag's topic names or a node's diagnostics hold
_PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("swiftcast.replay", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(out_dir: Path, metrics: dict, run: dict, figures: dict[str, Path | None]) -> str:
    """The page (``templates/report.html``) for these metrics, with the figures inlined."""
    frames, lat, thr = metrics["frames"], metrics["latency_ms"], metrics["throughput_hz"]
    bag = run.get("bag", {})
    horizons = []
    for name, h in metrics.get("horizons", {}).items():
        now = h.get("single_frame_at_target")
        horizons.append({"label": horizon_label(h, name), "upper_bound": pct(now["miou"]) if now else None})
    summary = summary_rows(metrics)
    if not horizons:
        summary = [[r[0], r[1], r[2], r[5]] for r in summary]
    per_class_header, per_class_rows = _per_class(metrics)
    return _PAGES.get_template("report.html").render(
        bag_name=Path(bag.get("path", "bag")).name,
        description=bag.get("description", ""),
        status=run.get("status", "ok"),
        message=run.get("message", ""),
        frames=frames,
        recording_error=metrics.get("recording_error"),
        ground_truth=metrics["reference"] == "ground_truth",
        ref_name="ground truth" if metrics["reference"] == "ground_truth" else "own single-frame labels",
        tolerance_ms=metrics["tolerance_ms"],
        horizons=horizons,
        cards=_cards(metrics),
        summary=summary,
        has_confidence=any(t.endswith("/semseg/confidence") for t in metrics.get("recorded_topics", {})),
        latency_rows=[[_series_label(name, metrics), p["n"], p["p50"], p["p90"], p["p99"], p["max"],
                       f"{thr.get(name) or 0:.2f}"] for name, p in lat.items() if p],
        input_hz=thr.get("input") or 0,
        drop_pct=pct(frames.get("drop_rate")),
        rate=run.get("rate"),
        rate_used=run.get("rate_used"),
        per_class_header=per_class_header,
        per_class_rows=per_class_rows,
        run_rows=_run_rows(metrics, run),
        diagnostics=[(name, [[k, v] for k, v in values.items()])
                     for name, values in (metrics.get("diagnostics") or {}).items()],
        figures={key: _figure(figures.get(key), out_dir) for key in FIGURES},
    )


def _figure(path: Path | None, out_dir: Path) -> dict[str, str] | None:
    return {"src": _data_uri(path), "file": path.relative_to(out_dir).as_posix()} if path is not None else None


def write_report(out_dir: Path, scored: ReplayScore, info: BagInfo, run: dict) -> Path:
    """Figures, the animation and report.html in ``out_dir``; returns the page's path."""
    out_dir = Path(out_dir)
    figdir = out_dir / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    metrics, matches = scored.metrics, scored.matches
    horizons = [(name, h["horizon_ms"]) for name, h in metrics.get("horizons", {}).items()]
    sources = pick_strip_sources(matches, [n for n, _ in horizons])
    played = sorted(matches.outputs.played)
    step = max(1, math.ceil(len(played) / GIF_MAX_FRAMES))
    gif_stamps = played[::step]
    frames = dict(open_frames(info).frames_at(set(sources) | set(gif_stamps)))
    figures: dict[str, Path | None] = {
        "per_class": plot_per_class(metrics, figdir / "per_class_iou.png"),
        "latency_hist": plot_latency_hist(scored.latency, metrics, figdir / "latency_hist.png"),
        "latency_timeline": plot_latency_timeline(scored.latency, matches, metrics, figdir / "latency_timeline.png"),
        "strips": plot_strips(matches, frames, sources, horizons, figdir / "strips.png"),
        "legend": plot_legend(figdir / "legend.png"),
    }
    fps = (info.rate_hz or 17.0) / step  # the drive at its recorded speed
    longest = horizons[-1][0] if horizons else None
    figures["animation"] = make_overlay_animation(matches, frames, gif_stamps, longest, figdir / "overlay.gif", fps)
    page = out_dir / "report.html"
    page.write_text(render_html(out_dir, metrics, run, figures))
    return page
