"""The replay report: ``metrics.json``, matplotlib figures, an animated overlay and one self-contained HTML page.

``report.html`` opens on its own (figures and the animation are inlined as base64), so it can be mailed or
attached to a CI run; the same figures are also written as PNGs under ``figures/`` for slides and the README.
The page leads with what a person asks first (is it accurate, does the forecast beat copy-last, how fast, did it
drop frames, did anything go wrong), then shows frames so the numbers can be believed.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Sequence

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from swiftcast.data.labels import CLASS_COLORS_RGB, CLASS_NAMES, MOVING_TRAIN_IDS, colorize_train_ids  # noqa: E402
from swiftcast.replay.bag import BagInfo, PackedLabels  # noqa: E402
from swiftcast.replay.frames import open_frames  # noqa: E402
from swiftcast.replay.score import Outputs, StampIndex, latency_series  # noqa: E402

NS = 1_000_000_000
MAX_TILE_WIDTH = 384  # pixels per image in strips
GIF_PANEL_WIDTH = 320
GIF_MAX_FRAMES = 120
STRIP_ROWS = 4


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


def plot_latency_hist(outputs: Outputs, metrics: dict, path: Path) -> Path | None:
    series = latency_series(outputs)
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


def plot_latency_timeline(outputs: Outputs, metrics: dict, path: Path) -> Path | None:
    series = latency_series(outputs)
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


class _Lookup:
    """The label maps a report draws, found by stamp (nearest within the scoring tolerance)."""

    def __init__(self, outputs: Outputs, truth: dict[int, PackedLabels], tolerance_ns: int) -> None:
        self.outputs, self.truth, self.tol = outputs, truth, tolerance_ns
        self.own = {s: v[1] for s, v in outputs.labels.items() if s in outputs.played}
        self.own_index, self.truth_index = StampIndex(list(self.own)), StampIndex(list(truth))
        self.by_source = {name: {f.source_ns: f for f in items} for name, items in outputs.forecasts.items()}
        self.by_target = {name: StampIndex([f.target_ns for f in items]) for name, items in outputs.forecasts.items()}
        self.target_map = {name: {f.target_ns: f for f in items} for name, items in outputs.forecasts.items()}

    def reference(self, t: int) -> tuple[np.ndarray | None, str]:
        if self.truth:
            s = self.truth_index.nearest(t, self.tol)
            return (self.truth[s].unpack() if s is not None else None), "ground truth"
        s = self.own_index.nearest(t, self.tol)
        return (self.own[s].unpack() if s is not None else None), "own labels"


def pick_strip_sources(lookup: _Lookup, horizons: Sequence[str], rows: int = STRIP_ROWS) -> list[int]:
    """Source frames, spread over the drive, that have labels and a forecast for every horizon (if any)."""
    candidates = sorted(lookup.own)
    if horizons:
        full = [s for s in candidates if all(s in lookup.by_source.get(h, {}) for h in horizons)]
        candidates = full or [s for s in candidates if any(s in lookup.by_source.get(h, {}) for h in horizons)] or candidates
    if len(candidates) <= rows:
        return candidates
    idx = np.linspace(0, len(candidates) - 1, rows + 2)[1:-1].round().astype(int)
    return [candidates[i] for i in idx]


def plot_strips(lookup: _Lookup, frames: dict[int, np.ndarray], sources: list[int], horizons: list[tuple[str, float]],
                path: Path) -> Path | None:
    """Rows of camera | labels | forecast +h | reference at t+h ... for a few source frames."""
    if not sources:
        return None
    cols: list[str] = ["camera (t)", "labels (t)"]
    with_confidence = any(s in lookup.outputs.confidence for s in sources)
    if with_confidence:
        cols.append("confidence (t)")
    for name, ms in horizons:
        cols += [f"forecast t+{ms:.0f} ms", f"{'GT' if lookup.truth else 'own labels'} t+{ms:.0f} ms"]
    if not horizons and lookup.truth:
        cols.append("ground truth (t)")
    t0 = min(lookup.outputs.played) if lookup.outputs.played else 0  # drive time: stamps, not wall time
    cells: list[list[np.ndarray | None]] = []
    for s in sources:
        row: list[np.ndarray | None] = [
            _tile(frames[s], MAX_TILE_WIDTH) if s in frames else None,
            _labels_tile(lookup.own[s].unpack(), MAX_TILE_WIDTH),
        ]
        if with_confidence:
            conf = lookup.outputs.confidence.get(s)
            row.append(_confidence_tile(conf.unpack(), MAX_TILE_WIDTH) if conf is not None else None)
        for name, _ in horizons:
            f = lookup.by_source.get(name, {}).get(s)
            row.append(_labels_tile(f.labels.unpack(), MAX_TILE_WIDTH) if f else None)
            ref = lookup.reference(f.target_ns)[0] if f else None
            row.append(_labels_tile(ref, MAX_TILE_WIDTH) if ref is not None else None)
        if not horizons and lookup.truth:
            ref = lookup.reference(s)[0]
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


def make_overlay_animation(lookup: _Lookup, frames: dict[int, np.ndarray], stamps: list[int], horizon: str | None,
                           path: Path, fps: float) -> Path | None:
    """GIF: camera + labels overlay, next to camera + the forecast made ``horizon`` earlier for this instant."""
    if not stamps:
        return None
    images = []
    for s in stamps:
        if s not in frames:
            continue
        cam = frames[s]
        panels = [_overlay_panel(cam, lookup.own.get(s), "now: segmentation" if s in lookup.own else "now: dropped")]
        if horizon is not None:
            target_stamp = lookup.by_target[horizon].nearest(s, lookup.tol)
            f = lookup.target_map[horizon].get(target_stamp) if target_stamp is not None else None
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


def _img(path: Path | None, alt: str, out_dir: Path) -> str:
    if path is None:
        return ""
    rel = path.relative_to(out_dir).as_posix()
    return f'<figure><img src="{_data_uri(path)}" alt="{html.escape(alt)}" data-file="{rel}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}">{head}<tbody>{body}</tbody></table>'


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


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:18px 24px 60px}
h1{font-size:22px;margin:6px 0 2px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;font-size:13px;margin-bottom:12px}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-size:14px}
.ok{background:#e6f4ea;border:1px solid #9bd3a8}.warn{background:#fff4e5;border:1px solid #f0c36d}
.bad{background:#fdecea;border:1px solid #f5a9a0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:24px;font-weight:600}.card .k{font-size:12px;color:#666}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #e2e2e2;padding:4px 9px;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
table.kv td{text-align:left;vertical-align:top}table.kv td:first-child{font-weight:600;white-space:nowrap}
figure{margin:10px 0;background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px;display:inline-block;max-width:100%}
figure img{max-width:100%;height:auto;display:block}figcaption{font-size:12px;color:#666;margin-top:4px}
.grid2{display:flex;flex-wrap:wrap;gap:10px}.note{font-size:13px;color:#444}
code{background:#f0f0f0;padding:1px 4px;border-radius:3px;font-size:12px}
details{margin:8px 0}summary{cursor:pointer;color:#335}
"""


def render_html(out_dir: Path, metrics: dict, run: dict, figures: dict[str, Path | None]) -> str:
    frames, lat, thr = metrics["frames"], metrics["latency_ms"], metrics["throughput_hz"]
    status = run.get("status", "ok")
    bag = run.get("bag", {})
    esc = html.escape
    # status banner
    notes = []
    if status == "ok":
        banner = f'<div class="banner ok">Replay completed: {frames["published"]} frames played, {frames["answered"]} answered by the stack.</div>'
    else:
        banner = f'<div class="banner bad"><b>Partial result ({esc(status)}).</b> {esc(run.get("message", ""))}</div>'
    if metrics.get("recording_error"):
        notes.append(f"The recording could not be read to the end ({esc(metrics['recording_error'])}); the numbers cover what was read.")
    if metrics["reference"] != "ground_truth":
        notes.append("This bag has <b>no ground truth</b>: single-frame accuracy cannot be measured, and forecasts (and "
                     "copy-last) are scored against the stack's <b>own single-frame segmentation</b> of the target frame "
                     "(consistency, not accuracy).")
    if not metrics.get("horizons"):
        notes.append("No forecasts were received: the stack ran without forecast models (or they never had enough "
                     "history), so only single-frame results are shown.")
    if run.get("message") and status == "ok":
        notes.append(esc(run["message"]))
    note_html = "".join(f'<div class="banner warn">{n}</div>' for n in notes)

    # headline cards
    lab = lat.get("labels") or {}
    cards = [("single-frame mIoU", pct(metrics.get("miou")) + ("%" if metrics.get("miou") is not None else "")),
             ("single-frame mIoU-MO", pct(metrics.get("miou_mo")) + ("%" if metrics.get("miou_mo") is not None else ""))]
    for name, h in metrics.get("horizons", {}).items():
        f, c = h.get("forecast") or {}, h.get("copy_last") or {}
        cards.append((f"forecast +{h['horizon_ms']:.0f} ms mIoU (copy-last)", f"{pct(f.get('miou'))} ({pct(c.get('miou'))})"))
    cards += [("latency p50 / p99", f"{lab['p50']:.0f} / {lab['p99']:.0f} ms" if lab else "n/a"),
              ("frames dropped", f"{frames['dropped']} / {frames['published']}")]
    cards_html = '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>' for k, v in cards) + "</div>"

    ref_name = "ground truth" if metrics["reference"] == "ground_truth" else "own single-frame labels"
    if metrics.get("horizons"):
        accuracy = _table(["", "mIoU %", "mIoU-MO %", "copy-last mIoU %", "copy-last mIoU-MO %", "frames scored"],
                          summary_rows(metrics))
        accuracy += (f'<p class="note">Forecasts are scored against the {ref_name} of their <b>target</b> time (nearest '
                     f"stamp within {metrics['tolerance_ms']:.0f} ms); copy-last uses the single-frame labels of the same "
                     "source frame against the same target, so the two columns compare like for like. mIoU-MO = mean IoU "
                     "over the 8 moving-object classes (person … bicycle).</p>")
    else:
        rows = [[r[0], r[1], r[2], r[5]] for r in summary_rows(metrics)]
        accuracy = _table(["", "mIoU %", "mIoU-MO %", "frames scored"], rows)
        accuracy += ('<p class="note">Single-frame labels vs the ground truth of the same frame (nearest stamp within '
                     f"{metrics['tolerance_ms']:.0f} ms). mIoU-MO = mean IoU over the 8 moving-object classes (person … "
                     "bicycle).</p>")
    for name, h in metrics.get("horizons", {}).items():
        now = h.get("single_frame_at_target")
        if now:
            accuracy += (f'<p class="note">{esc(horizon_label(h, name))}: the single-frame model itself scores '
                         f"{pct(now['miou'])} mIoU on those target frames (an upper bound for the forecast).</p>")

    lat_rows = []
    for name, p in lat.items():
        if p:
            lat_rows.append([esc(_series_label(name, metrics)), p["n"], p["p50"], p["p90"], p["p99"], p["max"],
                             f"{thr.get(name) or 0:.2f}"])
    timing = _table(["output", "messages", "p50 ms", "p90 ms", "p99 ms", "max ms", "rate Hz"], lat_rows)
    timing += (f'<p class="note">Input played at {thr.get("input") or 0:.2f} Hz; {frames["dropped"]} of '
               f'{frames["published"]} frames ({pct(frames.get("drop_rate"))}%) were dropped by the stack (no labels '
               "came back: the node always takes the newest frame, so a slow model drops rather than queues). Latency = "
               "camera frame published → output received, both timed in the replay process.</p>")
    used = run.get("rate_used")
    if used is not None and used < 0.999:
        why = ("each frame was sent only once the stack had answered the previous one (--rate auto), so this machine "
               "processed every frame; at the recorded rate a slower CPU drops frames instead"
               if run.get("rate") == "auto" else f"--rate {esc(str(run.get('rate')))}")
        timing += (f'<p class="note">The drive played at <b>{used:.2f}× real time</b>: {why}. Latencies are then the '
                   "stack's own time per frame, without queueing.</p>")

    per_class_rows = []
    sf = metrics.get("single_frame")
    hz = list(metrics.get("horizons", {}).items())
    for cname in CLASS_NAMES:
        row = [esc(cname), pct(sf["per_class"].get(cname)) if sf else "n/a"]
        for _, h in hz:
            for key in ("forecast", "copy_last"):
                row.append(pct(h[key]["per_class"].get(cname)) if h.get(key) else "n/a")
        per_class_rows.append(row)
    per_class_header = ["class", "single frame"] + [f"{lbl} {n}" for n, _ in hz for lbl in ("forecast", "copy-last")]
    per_class = _table(per_class_header, per_class_rows)

    diag = metrics.get("diagnostics") or {}
    diag_html = "".join(
        f"<h3 style='font-size:14px'>{esc(name)}</h3>" + _table(None, [[esc(k), esc(v)] for k, v in values.items()], "kv")
        for name, values in diag.items()
    ) or '<p class="note">No /diagnostics messages were recorded.</p>'

    run_rows = [[esc(k), esc(str(v))] for k, v in (
        ("bag", bag.get("description", "")), ("command", run.get("command", "")),
        ("status", status), ("stack exit", run.get("stack_exit")), ("ROS domain", run.get("domain_id")),
        ("playback rate", f"{run.get('rate')} (used: {run.get('rate_used')}x the recorded rate)"), ("wall time", f"{run.get('wall_time_s', 0):.1f} s"),
        ("models", ", ".join(f"{t}: {m}" for t, m in metrics.get("model_ids", {}).items()) or "n/a"),
        ("recorded topics", ", ".join(f"{t} ({n})" for t, n in metrics.get("recorded_topics", {}).items())),
        ("warm-up latency", run.get("warmup_latency_ms")),
    )]

    fig = lambda key, alt: _img(figures.get(key), alt, out_dir)  # noqa: E731
    conf_note = (", its confidence (255 x the highest class probability; dark = unsure)"
                 if any(t.endswith("/semseg/confidence") for t in metrics.get("recorded_topics", {})) else "")
    strip_note = (f"Each row: the camera frame at t, the stack's labels at t{conf_note}, and for each horizon the forecast made at "
                  f"t for t+h next to the {ref_name} at t+h." if metrics.get("horizons") else
                  f"Each row: the camera frame at t, the stack's labels at t{conf_note}"
                  + (" and the ground truth at t." if metrics["reference"] == "ground_truth" else "."))
    gif = figures.get("animation")
    title = f"SwiftCast replay — {esc(Path(bag.get('path', 'bag')).name)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><main>
<h1>{title}</h1>
<div class="sub">{esc(bag.get("description", ""))}</div>
{banner}{note_html}{cards_html}
<h2>Accuracy</h2>{accuracy}
{fig("per_class", "Per-class IoU")}
<h2>Frames</h2>
<p class="note">{strip_note}</p>
{fig("strips", "camera | labels | forecasts | reference at the target time")}
{fig("legend", "class colours")}
{('<figure><img src="' + _data_uri(gif) + '" alt="animated overlay" data-file="' + gif.relative_to(out_dir).as_posix() + '"><figcaption>The drive: segmentation now (left) and, right, the forecast made earlier for this instant</figcaption></figure>') if gif else ''}
<h2>Latency and throughput</h2>{timing}
<div class="grid2">{fig("latency_hist", "Latency histogram")}{fig("latency_timeline", "Latency over the drive (red: frames dropped)")}</div>
<h2>Per-class IoU %</h2>{per_class}
<h2>Run</h2>{_table(None, run_rows, "kv")}
<details><summary>Node diagnostics (last values)</summary>{diag_html}</details>
<p class="note">Files next to this page: <code>metrics.json</code>, <code>outputs.mcap</code> (everything the stack
published, with receive times), <code>figures/</code>, <code>logs/</code>.</p>
</main></body></html>
"""


def write_report(
    out_dir: Path,
    metrics: dict,
    outputs: Outputs,
    info: BagInfo,
    truth: dict[int, PackedLabels],
    run: dict,
) -> Path:
    """Figures, the animation and report.html in ``out_dir``; returns the page's path."""
    out_dir = Path(out_dir)
    figdir = out_dir / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    tol = int(metrics["tolerance_ms"] * 1e6)
    lookup = _Lookup(outputs, truth, tol)
    horizons = [(name, h["horizon_ms"]) for name, h in metrics.get("horizons", {}).items()]
    sources = pick_strip_sources(lookup, [n for n, _ in horizons])
    played = sorted(outputs.played)
    step = max(1, math.ceil(len(played) / GIF_MAX_FRAMES))
    gif_stamps = played[::step]
    frames = dict(open_frames(info).frames_at(set(sources) | set(gif_stamps)))
    figures: dict[str, Path | None] = {
        "per_class": plot_per_class(metrics, figdir / "per_class_iou.png"),
        "latency_hist": plot_latency_hist(outputs, metrics, figdir / "latency_hist.png"),
        "latency_timeline": plot_latency_timeline(outputs, metrics, figdir / "latency_timeline.png"),
        "strips": plot_strips(lookup, frames, sources, horizons, figdir / "strips.png"),
        "legend": plot_legend(figdir / "legend.png"),
    }
    fps = (info.rate_hz or 17.0) / step  # the drive at its recorded speed
    longest = horizons[-1][0] if horizons else None
    figures["animation"] = make_overlay_animation(lookup, frames, gif_stamps, longest, figdir / "overlay.gif", fps)
    page = out_dir / "report.html"
    page.write_text(render_html(out_dir, metrics, run, figures))
    return page
