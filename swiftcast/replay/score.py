"""Score a replay from its recorded outputs: single-frame and forecast mIoU, copy-last, latency, drops, throughput.

Everything is computed from ``outputs.mcap`` (written by ``bag_replay``) and the input bag's ground truth:

* single frame: ``semseg/labels`` at stamp s vs ground truth at s (nearest stamp within the tolerance);
* forecasts: each ``forecast/<h>`` (SemanticForecast: header stamp = target, source_stamp, horizon) vs the
  reference at its *target* time; copy-last for the same pairs = the single-frame labels of the source frame
  scored against the same reference. The reference is the ground truth, or, in a bag without ground truth, the
  stack's own single-frame labels at the target time (the metrics say which: ``reference``);
* latency: receive time of an output - publish time of the camera frame it comes from (one process, one clock);
  forecasts count from their source frame;
* frames dropped: played frames the stack never answered with labels; throughput: answers per second.

The confusion matrices come from :mod:`swiftcast.metrics` like every other evaluation in SwiftCast. A replay is
scored once (:func:`score_recording`); the :class:`ReplayScore` it returns carries the metrics together with the
recording indexed by stamp, which is all the report draws from.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from swiftcast.data.labels import CLASS_NAMES, IGNORE_ID, NUM_CLASSES
from swiftcast.errors import DataError
from swiftcast.metrics import confusion_matrix, summarize
from swiftcast.replay.bag import PackedLabels, cdr_stamp_ns, decode_label_map, open_reader, typestore_for

PLAYED_TOPIC = "/replay/played"
FORECAST_TYPE = "swiftcast_msgs/msg/SemanticForecast"
FEATURES_TYPE = "swiftcast_msgs/msg/FeatureMap"
DIAGNOSTICS_TYPE = "diagnostic_msgs/msg/DiagnosticArray"
NS = 1_000_000_000


@dataclass
class Forecast:
    target_ns: int
    source_ns: int
    horizon_ns: int
    received_ns: int
    labels: PackedLabels


@dataclass
class Outputs:
    """What the stack published during a replay, as recorded."""

    played: dict[int, int] = field(default_factory=dict)  # frame stamp -> publish wall time (ns)
    labels: dict[int, tuple[int, PackedLabels]] = field(default_factory=dict)  # stamp -> (receive ns, labels)
    confidence: dict[int, PackedLabels] = field(default_factory=dict)  # stamp -> semseg/confidence (255 x max p)
    forecasts: dict[str, list[Forecast]] = field(default_factory=dict)  # horizon name -> forecasts
    diagnostics: dict[str, dict[str, str]] = field(default_factory=dict)  # status name -> last key/values
    topics: dict[str, int] = field(default_factory=dict)  # topic -> messages recorded
    model_ids: dict[str, str] = field(default_factory=dict)  # topic -> model_id (features, forecasts)
    consistency: dict[str, float] = field(default_factory=dict)  # horizon -> the forecast node's own last score
    error: str | None = None  # the file could not be read to the end (the recording was cut)


def load_outputs(path: str | Path, namespace: str = "/perception") -> Outputs:
    """Read ``outputs.mcap``; a cut recording gives what could be read plus ``error``."""
    out = Outputs()
    labels_topic = f"{namespace.rstrip('/')}/semseg/labels"
    confidence_topic = f"{namespace.rstrip('/')}/semseg/confidence"
    try:
        reader = open_reader(Path(path))
    except DataError as exc:
        out.error = str(exc)
        return out
    try:
        store = typestore_for(reader)
        for conn in reader.connections:
            out.topics[conn.topic] = out.topics.get(conn.topic, 0) + conn.msgcount
        for conn, log_ns, raw in reader.messages():
            if conn.topic == PLAYED_TOPIC:
                out.played[cdr_stamp_ns(raw)] = log_ns
            elif conn.topic == labels_topic:
                msg = store.deserialize_cdr(raw, conn.msgtype)
                out.labels[cdr_stamp_ns(raw)] = (log_ns, PackedLabels(decode_label_map(msg)))
            elif conn.topic == confidence_topic:
                msg = store.deserialize_cdr(raw, conn.msgtype)
                out.confidence[cdr_stamp_ns(raw)] = PackedLabels(decode_label_map(msg))  # mono8, like labels
            elif conn.msgtype == FEATURES_TYPE:
                if conn.topic not in out.model_ids:
                    out.model_ids[conn.topic] = store.deserialize_cdr(raw, conn.msgtype).model_id
            elif conn.msgtype == FORECAST_TYPE:
                msg = store.deserialize_cdr(raw, conn.msgtype)
                out.model_ids.setdefault(conn.topic, msg.model_id)
                horizon = conn.topic.rstrip("/").rsplit("/", 1)[-1]
                out.forecasts.setdefault(horizon, []).append(
                    Forecast(
                        target_ns=cdr_stamp_ns(raw),
                        source_ns=msg.source_stamp.sec * NS + msg.source_stamp.nanosec,
                        horizon_ns=msg.horizon.sec * NS + msg.horizon.nanosec,
                        received_ns=log_ns,
                        labels=PackedLabels(decode_label_map(msg.labels)),
                    )
                )
            elif conn.msgtype == "std_msgs/msg/Float32" and conn.topic.endswith("/consistency"):
                horizon = conn.topic.rstrip("/").rsplit("/", 2)[-2]
                out.consistency[horizon] = float(store.deserialize_cdr(raw, conn.msgtype).data)
            elif conn.msgtype == DIAGNOSTICS_TYPE:
                msg = store.deserialize_cdr(raw, conn.msgtype)
                for status in msg.status:
                    out.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}
    except Exception as exc:  # noqa: BLE001 - a recording cut by a crash: keep what was read
        out.error = f"{type(exc).__name__}: {exc}"
    finally:
        reader.close()
    return out


# --- matching ----------------------------------------------------------------------------------------------------------


class StampIndex:
    """Nearest-stamp lookup within a tolerance."""

    def __init__(self, stamps: Sequence[int]) -> None:
        self.stamps = sorted(stamps)

    def nearest(self, t: int, tolerance_ns: int) -> int | None:
        i = bisect.bisect_left(self.stamps, t)
        best = None
        for j in (i - 1, i):
            if 0 <= j < len(self.stamps) and abs(self.stamps[j] - t) <= tolerance_ns:
                if best is None or abs(self.stamps[j] - t) < abs(best - t):
                    best = self.stamps[j]
        return best


class Matches:
    """The recording indexed by stamp, built once: what scoring pairs is what the report draws."""

    def __init__(self, outputs: Outputs, truth: dict[int, PackedLabels], tolerance_ns: int) -> None:
        self.outputs, self.truth, self.tolerance_ns = outputs, truth, tolerance_ns
        #: the single-frame labels of the played frames (warm-up answers are not part of the drive)
        self.own = {s: v[1] for s, v in outputs.labels.items() if s in outputs.played}
        self.own_index, self.truth_index = StampIndex(list(self.own)), StampIndex(list(truth))
        self.by_source = {name: {f.source_ns: f for f in items} for name, items in outputs.forecasts.items()}
        self._by_target = {name: {f.target_ns: f for f in items} for name, items in outputs.forecasts.items()}
        self._target_index = {name: StampIndex(list(by)) for name, by in self._by_target.items()}

    def own_stamp(self, t: int) -> int | None:
        """The played frame with labels nearest to ``t``, within the tolerance."""
        return self.own_index.nearest(t, self.tolerance_ns)

    def reference(self, t: int) -> np.ndarray | None:
        """What a prediction for time ``t`` is scored against: the ground truth, else the stack's own labels."""
        if self.truth:
            s = self.truth_index.nearest(t, self.tolerance_ns)
            return self.truth[s].unpack() if s is not None else None
        s = self.own_stamp(t)
        return self.own[s].unpack() if s is not None else None

    def forecast_for(self, horizon: str, t: int) -> Forecast | None:
        """The ``horizon`` forecast whose target is nearest to ``t``, within the tolerance."""
        index = self._target_index.get(horizon)
        target = index.nearest(t, self.tolerance_ns) if index is not None else None
        return self._by_target[horizon][target] if target is not None else None


def default_tolerance_ns(frame_stamps: Sequence[int]) -> int:
    """Stamps match when closer than 40 % of the median frame period (at most 25 ms)."""
    if len(frame_stamps) < 2:
        return 25_000_000
    period = float(np.median(np.diff(sorted(frame_stamps))))
    return int(min(25e6, 0.4 * period)) if period > 0 else 25_000_000


def _pixels(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, int]:
    """Prediction at the reference's size; ids outside 0..C-1 are counted and scored as errors."""
    if pred.shape != ref.shape:
        pred = cv2.resize(pred, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_NEAREST)
    invalid = pred >= NUM_CLASSES
    n_invalid = int(invalid.sum())
    if n_invalid:
        # a node must never publish these; count them wrong (as some other class) rather than crash the scoring
        pred = np.where(invalid, (ref.astype(np.int64) + 1) % NUM_CLASSES, pred).astype(np.uint8)
    return pred, n_invalid


class _Meter:
    def __init__(self) -> None:
        self.matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        self.frames = 0
        self.invalid = 0

    def add(self, pred: np.ndarray, ref: np.ndarray) -> None:
        pred, n_invalid = _pixels(pred, ref)
        self.matrix += confusion_matrix(pred, ref, NUM_CLASSES, IGNORE_ID)
        self.frames += 1
        self.invalid += n_invalid

    def summary(self, class_names: Sequence[str]) -> dict | None:
        if not self.frames:
            return None
        return {**summarize(self.matrix, class_names), "frames": self.frames, "invalid_prediction_pixels": self.invalid}


def check_ground_truth(truth: dict[int, PackedLabels], topic: str) -> None:
    """Ground truth must hold trainIds (0..18) or 255; Cityscapes labelIds by mistake would score nonsense."""
    for packed in list(truth.values())[:: max(1, len(truth) // 10)]:
        values = np.unique(packed.unpack())
        bad = values[(values >= NUM_CLASSES) & (values != IGNORE_ID)]
        if bad.size:
            raise DataError(
                f"ground truth on {topic} holds ids {bad[:5].tolist()}: expected trainIds 0..{NUM_CLASSES - 1} "
                f"and {IGNORE_ID} (is it a Cityscapes labelIds map?)"
            )


# --- the score ----------------------------------------------------------------------------------------------------------


def percentiles(values_ms: Sequence[float]) -> dict | None:
    if not len(values_ms):
        return None
    arr = np.asarray(values_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {
        "n": int(arr.size),
        "p50": round(float(p50), 2),
        "p90": round(float(p90), 2),
        "p99": round(float(p99), 2),
        "mean": round(float(arr.mean()), 2),
        "max": round(float(arr.max()), 2),
    }


def _rate_hz(times_ns: Sequence[int]) -> float | None:
    if len(times_ns) < 2:
        return None
    span = (max(times_ns) - min(times_ns)) / NS
    return round((len(times_ns) - 1) / span, 3) if span > 0 else None


@dataclass
class ReplayScore:
    """One replay scored: the metrics (``metrics.json``) and the matched recording they came from, so the report
    draws exactly what was scored without reading or matching anything again."""

    metrics: dict[str, Any]
    matches: Matches
    latency: dict[str, list[tuple[float, float]]]  # per output: (publish time s, latency ms), see latency_series

    @property
    def outputs(self) -> Outputs:
        return self.matches.outputs


def score_recording(
    path: str | Path,
    truth: dict[int, PackedLabels],
    namespace: str = "/perception",
    tolerance_ns: int | None = None,
) -> ReplayScore:
    """Read ``outputs.mcap`` once and score it (what ``swiftcast replay`` does after the play)."""
    return score(load_outputs(path, namespace), truth, tolerance_ns)


def score(
    outputs: Outputs,
    truth: dict[int, PackedLabels],
    tolerance_ns: int | None = None,
    class_names: Sequence[str] = CLASS_NAMES,
) -> ReplayScore:
    """All metrics of one replay (JSON-ready; keys described in the module docstring)."""
    played = outputs.played
    tolerance_ns = default_tolerance_ns(list(played)) if tolerance_ns is None else tolerance_ns
    has_truth = bool(truth)
    m = Matches(outputs, truth, tolerance_ns)
    own = m.own

    # single frame vs ground truth at the same stamp
    single = _Meter()
    for stamp in sorted(own):
        gt = m.truth_index.nearest(stamp, tolerance_ns)
        if gt is not None:
            single.add(own[stamp].unpack(), truth[gt].unpack())
    single_summary = single.summary(class_names)

    # forecasts per horizon, paired with copy-last (and, with ground truth, the single-frame labels at the target)
    horizons: dict[str, Any] = {}
    for name, items in sorted(outputs.forecasts.items(), key=lambda kv: _median_horizon(kv[1])):
        fc, cl, now = _Meter(), _Meter(), _Meter()
        skipped = {"not_played": 0, "no_reference": 0, "no_source_labels": 0}
        for f in items:
            if f.source_ns not in played:
                skipped["not_played"] += 1
                continue
            ref = m.reference(f.target_ns)
            source = m.own_stamp(f.source_ns)
            if ref is None:
                skipped["no_reference"] += 1
                continue
            if source is None:
                skipped["no_source_labels"] += 1
                continue
            fc.add(f.labels.unpack(), ref)
            cl.add(own[source].unpack(), ref)
            if has_truth:
                at_target = m.own_stamp(f.target_ns)
                if at_target is not None:
                    now.add(own[at_target].unpack(), ref)
        horizons[name] = {
            "horizon_ms": round(_median_horizon(items) / 1e6, 1),
            "reference": "ground_truth" if has_truth else "single_frame",
            "forecasts_received": len(items),
            "pairs_scored": fc.frames,
            "skipped": skipped,
            "forecast": fc.summary(class_names),
            "copy_last": cl.summary(class_names),
            "single_frame_at_target": now.summary(class_names) if has_truth else None,
            # the node's label-free running mIoU vs its own later labels (forecast/<h>/consistency), last value
            "online_consistency_miou": outputs.consistency.get(name),
        }

    # latency, drops, throughput
    received = {s: recv for s, (recv, _) in outputs.labels.items() if s in played}
    latency = {"labels": percentiles([(recv - played[s]) / 1e6 for s, recv in received.items()])}
    throughput = {"input": _rate_hz(list(played.values())), "labels": _rate_hz(list(received.values()))}
    for name, items in outputs.forecasts.items():
        mine = [f for f in items if f.source_ns in played]
        latency[name] = percentiles([(f.received_ns - played[f.source_ns]) / 1e6 for f in mine])
        throughput[name] = _rate_hz([f.received_ns for f in mine])
    published = len(played)
    answered = len(own)
    for name, h in horizons.items():  # what a user sees first: did most labelled frames get a forecast?
        h["labelled_frames_with_forecast"] = round(min(h["forecasts_received"], answered) / answered, 4) if answered else None
    metrics: dict[str, Any] = {
        "miou": single_summary["miou"] if single_summary else None,
        "miou_mo": single_summary["miou_mo"] if single_summary else None,
        "per_class": single_summary["per_class"] if single_summary else None,
        "reference": "ground_truth" if has_truth else "single_frame",
        "tolerance_ms": round(tolerance_ns / 1e6, 3),
        "single_frame": single_summary,
        "horizons": horizons,
        "latency_ms": latency,
        "frames": {
            "published": published,
            "answered": answered,
            "dropped": published - answered,
            "drop_rate": round((published - answered) / published, 4) if published else None,
            "ground_truth_maps": len(truth),
        },
        "throughput_hz": throughput,
        "recorded_topics": outputs.topics,
        "model_ids": outputs.model_ids,
        "diagnostics": outputs.diagnostics,
    }
    if outputs.error:
        metrics["recording_error"] = outputs.error
    return ReplayScore(metrics=metrics, matches=m, latency=latency_series(outputs))


def _median_horizon(items: Sequence[Forecast]) -> float:
    return float(np.median([f.horizon_ns for f in items])) if items else 0.0


def latency_series(outputs: Outputs) -> dict[str, list[tuple[float, float]]]:
    """(publish time since the first frame in s, latency in ms) per output, for the timeline figure."""
    if not outputs.played:
        return {}
    t0 = min(outputs.played.values())
    series = {
        "labels": sorted(
            ((outputs.played[s] - t0) / NS, (recv - outputs.played[s]) / 1e6)
            for s, (recv, _) in outputs.labels.items()
            if s in outputs.played
        )
    }
    for name, items in outputs.forecasts.items():
        series[name] = sorted(
            ((outputs.played[f.source_ns] - t0) / NS, (f.received_ns - outputs.played[f.source_ns]) / 1e6)
            for f in items
            if f.source_ns in outputs.played
        )
    return series
