"""Past SPP feature maps in; future trainId labels, confidence and stamps out: everything the forecast node computes.

The counterpart of :class:`swiftcast.runtime.segmenter.Segmenter` for forecasting, without ROS: the node (and
anything else that has a feature stream, e.g. tests or benchmarks) hands each feature map with its stamp to
:meth:`ForecastRuntime.add_features` and, when the history was complete, passes what it returned to
:meth:`ForecastRuntime.forecast`; the two may run on different threads.

It owns the segmentation checkpoint's skip-less decoder and one forecaster per horizon (torch or onnxruntime,
warmed up before the first frame), the checks on every incoming feature map and label map, the stamp-keyed
history (:mod:`swiftcast.forecast.history`: inputs at t-9P, t-6P, t-3P from a frame within the tolerance or
interpolated between the two around it) with its outage and resume bookkeeping, and the running consistency
score of every horizon (:mod:`swiftcast.forecast.online`).

Forecasters that also warp the newest frame's single-frame labels (F2MF) need the ``semseg/labels`` map stamped
exactly like the newest features. Both come from one segmentation pass over two topics, so either may arrive
first: a frame whose labels are not there yet waits (a few frames at most) and :meth:`ForecastRuntime.add_labels`
completes it (:meth:`ForecastRuntime.take_ready` hands it out); labels that come first wait for their features.
A waiting frame older than the newest complete one is dropped (counted as ``missing_labels``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import cv2
import numpy as np

from swiftcast.data.labels import IGNORE_ID, NUM_CLASSES
from swiftcast.data.transforms import resize_label
from swiftcast.errors import DataError, SetupError, SwiftcastError
from swiftcast.forecast.forecaster import SemanticForecaster, default_forecaster
from swiftcast.forecast.history import FeatureHistory
from swiftcast.forecast.motion import (
    DEFAULT_FLOW_WIDTH,
    DEFAULT_PRESET,
    DEFAULT_PROJECTION_WIDTH,
    FLOW_SPAN_FRAMES,
    FlowForecaster,
    FrameMotion,
)
from swiftcast.forecast.online import ConsistencyScorer
from swiftcast.forecast.protocol import FRAME_PERIOD_NS, HORIZONS, INPUT_OFFSETS
from swiftcast.runtime.features import FeatureError
from swiftcast.runtime.images import DEFAULT_MAX_PIXELS, ImageError, check_size
from swiftcast.runtime.paths import check_checkpoint_parameter

NS = 1_000_000_000
#: forecaster setting: the best checkpoint under ``models_dir`` made for the segmentation model
AUTO = "auto"
#: forecaster setting: flow extrapolation (:mod:`swiftcast.forecast.motion`), no checkpoint; needs camera frames
FLOW = "flow"
#: builtin_interfaces/Time.sec is an int32: the last stamp a forecast can carry.
MAX_STAMP_NS = (2**31 - 1) * NS + NS - 1
FEATURE_STRIDE = 32
#: frames waiting for their labels, and label maps waiting for their features (each a few frames of skew at most)
PENDING_SLOTS = 4


def check_projection_width(width: int) -> None:
    """0 (project at the camera size) or a grid at least 16 pixels wide (ValueError otherwise)."""
    if width != 0 and width < 16:
        raise ValueError(f"{width}: 0 (project at the camera size) or at least 16")


def check_horizons(names: Sequence[str]) -> None:
    """Known horizon names, each once (ValueError says which are not)."""
    names = list(names)
    unknown = [n for n in names if n not in HORIZONS]
    if unknown:
        raise ValueError(f"unknown horizon(s) {', '.join(unknown)}; choose from {', '.join(HORIZONS)}")
    if len(set(names)) != len(names):
        raise ValueError("a horizon is listed twice")


def check_forecaster_setting(value: str) -> None:
    """``flow``, ``auto`` or an existing forecaster checkpoint."""
    if value not in (AUTO, FLOW):
        check_checkpoint_parameter(value)


def check_models_dir(value: str) -> None:
    if not value.strip():
        raise ValueError("empty; give the folder 'auto' searches (e.g. models)")


class LabelError(DataError):
    """A label map that cannot serve as the reference of the consistency score."""


@dataclass(frozen=True)
class Event:
    """Something the caller reports: a diagnostics ``counter`` to bump and/or a log ``text`` (throttled per ``key``
    when one is given)."""

    counter: str | None = None
    text: str | None = None
    key: str | None = None


@dataclass
class Intake:
    """What :meth:`ForecastRuntime.add_features` made of one frame: ``past`` (the forecaster inputs, oldest first)
    when the history was complete, else None."""

    stamp_ns: int
    out_size: tuple[int, int]
    past: list[np.ndarray] | None
    events: list[Event] = field(default_factory=list)
    #: the single-frame trainIds stamped ``stamp_ns`` (only when a horizon needs them)
    last_labels: np.ndarray | None = None


@dataclass
class HorizonForecast:
    """One horizon's forecast for the frame stamped ``source_ns``: labels for the time ``target_ns``."""

    horizon: str
    source_ns: int
    target_ns: int
    offset_ns: int
    model_id: str
    labels: np.ndarray  # (H, W) uint8 trainIds at the camera size
    confidence: np.ndarray | None  # (H, W) uint8 max softmax x 255, when asked for
    scored: bool  # the running consistency score changed (the labels of the target time were already there)


class _Horizon:
    def __init__(self, name: str, forecaster: SemanticForecaster | FlowForecaster, period_ns: int,
                 tolerance_ns: int) -> None:
        self.name = name
        self.forecaster = forecaster
        self.offset_ns = forecaster.horizon.frames * period_ns
        self.scorer = ConsistencyScorer(tolerance_ns)


def blend_features(older: np.ndarray, newer: np.ndarray, weight: float) -> np.ndarray:
    """Linear interpolation in time of two feature maps (float32): ``newer`` gets ``weight``."""
    return older.astype(np.float32) * np.float32(1.0 - weight) + newer.astype(np.float32) * np.float32(weight)


class ForecastRuntime:
    """A segmentation checkpoint's skip-less decoder, its forecasters and the feature history.

    Args:
        checkpoint: the segmentation checkpoint the features come from.
        horizons: horizon names to forecast (see :data:`swiftcast.forecast.protocol.HORIZONS`).
        forecasters: horizon -> forecaster checkpoint, ``"flow"`` (flow extrapolation: the caller passes camera frames
            to :meth:`add_frame`) or ``"auto"`` (default auto: the best checkpoint under ``models_dir``; none found
            -> the horizon is skipped with a warning).
        period_ns: P, the frame period the forecasters were trained at.
        tolerance_ns: how far a stored frame may be from t-3P, t-6P, t-9P to be used as is (default P/2), and a
            label's stamp from a forecast's target time.
        max_gap_ns: the longest gap between two stored frames an input may be interpolated across (default 2P).
        max_history, decode_scale, backend, device, num_threads: as the forecast node's parameters.
        score: keep the running consistency score of every horizon.
        last_labels: the caller passes every frame's single-frame labels to :meth:`add_labels`, so forecasters that
            warp them (F2MF) can run and ``auto`` prefers them; False keeps to feature-only forecasters.
        flow_preset, flow_width: DIS preset and the width the camera frames are downscaled to for flow extrapolation.
        projection_width: flow extrapolation projects the labels on a grid at most this wide and reads the forecast
            back at the camera size (0: projects at the camera size).
        log, warn: where progress lines (exports) and warnings (a skipped horizon) go.

    Raises :class:`SetupError` naming the setting when something cannot work.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        horizons: Sequence[str] = tuple(HORIZONS),
        forecasters: Mapping[str, str | os.PathLike[str]] | None = None,
        models_dir: str | os.PathLike[str] = "models",
        device: str = "cpu",
        backend: str = "torch",
        num_threads: int = 0,
        period_ns: int = FRAME_PERIOD_NS,
        tolerance_ns: int | None = None,
        max_gap_ns: int | None = None,
        max_history: int = 256,
        decode_scale: float = 1.0,
        max_output_pixels: int = DEFAULT_MAX_PIXELS,
        score: bool = True,
        last_labels: bool = True,
        flow_preset: str = DEFAULT_PRESET,
        flow_width: int = DEFAULT_FLOW_WIDTH,
        projection_width: int = DEFAULT_PROJECTION_WIDTH,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        import torch

        from swiftcast.forecast.decoder import load_forecast_decoder
        from swiftcast.hardware import resolve_device

        self.period_ns = int(period_ns)
        self.tolerance_ns = self.period_ns // 2 if tolerance_ns is None else int(tolerance_ns)
        if not 0 <= self.tolerance_ns < self.period_ns:
            raise SetupError("match_tolerance_s", f"must be below the frame period ({self.period_ns / 1e6:.2f} ms), "
                             "else t-3P could match the frame of t-2P")
        self.max_output_pixels = int(max_output_pixels)
        self.score = bool(score)
        self.feeds_labels = bool(last_labels)
        self._log = log or (lambda text: None)
        self._warn = warn or self._log
        if num_threads > 0:  # torch's and OpenCV's (the optical flow) counts are the process's
            torch.set_num_threads(int(num_threads))
            cv2.setNumThreads(int(num_threads))
        try:
            self.device = resolve_device(device)
        except SwiftcastError as exc:
            raise SetupError("device", str(exc)) from None
        try:
            self.decoder, self.seg_config = load_forecast_decoder(checkpoint, self.device)
        except SwiftcastError as exc:
            raise SetupError("checkpoint", str(exc)) from None
        self.feature_model_id = str(self.seg_config.get("model_id", ""))
        self.horizons: list[_Horizon] = []
        for name in horizons:
            forecaster = self._load_forecaster(name, (forecasters or {}).get(name, AUTO), models_dir, backend,
                                               num_threads, decode_scale, flow_preset)
            if forecaster is not None:
                self.horizons.append(_Horizon(name, forecaster, self.period_ns, self.tolerance_ns))
        learned = [h.forecaster for h in self.horizons if not isinstance(h.forecaster, FlowForecaster)]
        self.channels = learned[0].net.in_channels if learned else None
        #: some horizon forecasts from past features (else a frame is forecast as soon as its labels are there)
        self.needs_features = bool(learned)
        #: the camera frames of flow extrapolation (None without a flow horizon)
        self.motion: FrameMotion | None = None
        if len(learned) < len(self.horizons):
            try:
                check_projection_width(projection_width)
            except ValueError as exc:
                raise SetupError("projection_width", str(exc)) from None
            try:
                self.motion = FrameMotion(FLOW_SPAN_FRAMES * self.period_ns, flow_preset, flow_width,
                                          projection_width=int(projection_width) or None)
            except ValueError as exc:
                raise SetupError("flow_width", str(exc)) from None
        self.flow_unavailable = 0  # frames without flow forecasts: no camera frame of t or none just before it
        self.history: FeatureHistory[np.ndarray] = FeatureHistory(
            self.period_ns, self.tolerance_ns, INPUT_OFFSETS, max_items=max_history, max_gap_ns=max_gap_ns,
            blend=blend_features,
        )
        self._feature_hw: tuple[int, int] | None = None
        self._forecasting = False  # the last frame had a complete history
        self._waiting_frames = 0  # frames without a complete history since the last forecast
        self._last_match_ns: int | None = None  # stamp of the last frame with a complete history
        #: some horizon warps the newest frame's labels: frames wait for them (see the module docstring)
        self.needs_labels = any(h.forecaster.needs_last_labels for h in self.horizons)
        self._waiting: dict[int, Intake] = {}  # complete history, labels not there yet
        self._early_labels: dict[int, np.ndarray] = {}  # labels whose features are not there yet
        self._ready: Intake | None = None  # completed by add_labels, for take_ready
        self._complete_ns: int | None = None  # the newest frame with features and labels

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], log: Callable[[str], None] | None = None,
                      warn: Callable[[str], None] | None = None) -> "ForecastRuntime":
        """A runtime configured by the forecast node's parameters (same names; times in seconds)."""
        s = settings
        return cls(
            s["checkpoint"], s["horizons"], {h: s[f"{h}_checkpoint"] for h in HORIZONS}, models_dir=s["models_dir"],
            device=s["device"], backend=s["backend"], num_threads=s["num_threads"],
            period_ns=round(s["frame_period_s"] * NS), tolerance_ns=round(s["match_tolerance_s"] * NS),
            max_gap_ns=round(s["max_gap_s"] * NS), max_history=s["max_history"], decode_scale=s["decode_scale"],
            max_output_pixels=s["max_output_pixels"], score=s["score"], flow_preset=s.get("flow_preset", DEFAULT_PRESET),
            flow_width=s.get("flow_width", DEFAULT_FLOW_WIDTH),
            projection_width=s.get("projection_width", DEFAULT_PROJECTION_WIDTH), log=log, warn=warn)

    # --- models ------------------------------------------------------------------------------------------------
    def _load_forecaster(self, name: str, value: str | os.PathLike[str], models_dir: str | os.PathLike[str],
                         backend: str, num_threads: int, decode_scale: float,
                         flow_preset: str) -> SemanticForecaster | FlowForecaster | None:
        setting = f"{name}_checkpoint"
        frames = HORIZONS[name].frames
        if str(value) == FLOW:
            if not self.feeds_labels:
                raise SetupError(setting, "flow extrapolation warps the newest frame's single-frame labels, which "
                                 "this runtime is not given")
            try:
                flow = FlowForecaster(HORIZONS[name], flow_preset)
            except ValueError as exc:
                raise SetupError("flow_preset", str(exc)) from None
            if flow.compile_s > 0.5:  # a first start (later ones load the kernel from numba's cache)
                self._log(f"compiled the flow extrapolation's kernels in {flow.compile_s:.1f} s")
            return flow
        path = value
        if str(value) == AUTO:
            path = default_forecaster(models_dir, self.feature_model_id, frames, with_last_labels=self.feeds_labels)
            if path is None:
                self._warn(f"no forecaster for the {name} horizon ({frames} frames) and features of "
                           f"{self.feature_model_id} under {models_dir}: {name} is skipped (set {setting})")
                return None
        try:
            forecaster = SemanticForecaster(path, self.decoder, self.seg_config, device=self.device,
                                            decode_scale=decode_scale, backend=backend, num_threads=num_threads,
                                            log=self._log)
        except SwiftcastError as exc:
            raise SetupError(setting, str(exc)) from None
        if forecaster.horizon.frames != frames:
            raise SetupError(setting, f"{path} forecasts {forecaster.horizon.frames} frames ahead, the {name} "
                             f"horizon is {frames}")
        if forecaster.needs_last_labels and not self.feeds_labels:
            raise SetupError(setting, f"{path} also needs the single-frame labels of the newest frame, which this "
                             "runtime is not given; use a feature-only forecaster (DeformF2F, ConvF2F)")
        # first passes allocate and pick kernels: do it before the first real frame
        h, w = forecaster.input_size or (64, 128)
        shape = (forecaster.net.in_channels, -(-h // FEATURE_STRIDE), -(-w // FEATURE_STRIDE))
        forecaster([np.zeros(shape, np.float32)] * len(forecaster.offsets), (h, w),
                   last_labels=np.zeros((h, w), np.uint8))
        return forecaster

    def describe(self) -> str:
        """One line: the horizons, P, the tolerance and the feature model (the node's ready line)."""
        described = ", ".join(
            f"{h.name} t+{h.forecaster.horizon.frames} frames = {h.offset_ns / 1e6:.1f} ms "
            f"({h.forecaster.model_id or '?'})" for h in self.horizons
        ) or "none (no forecaster checkpoints: publishing nothing)"
        return (f"forecasts {described}; P = {self.period_ns / 1e6:.2f} ms, tolerance "
                f"{self.tolerance_ns / 1e6:.2f} ms, interpolating across gaps up to "
                f"{self.history.max_gap_ns / 1e6:.1f} ms; features of {self.feature_model_id or '?'}")

    # --- input -------------------------------------------------------------------------------------------------
    def check_model_id(self, model_id: str) -> None:
        """Features of another segmentation model cannot be forecast (FeatureError ``model_id``)."""
        if model_id != self.feature_model_id:
            raise FeatureError("model_id", f"from model {model_id!r}, the forecasters need {self.feature_model_id!r}")

    @property
    def needs_frames(self) -> bool:
        """Some horizon extrapolates optical flow: the caller passes every camera frame to :meth:`add_frame`."""
        return self.motion is not None

    def add_frame(self, stamp_ns: int, image: np.ndarray) -> None:
        """Keep a camera frame (any 1- or 3-channel uint8 image) for flow extrapolation; a no-op without it."""
        if self.motion is None:
            return
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
            raise ImageError("encoding", f"camera frame {image.dtype} {image.shape}: expected a uint8 image")
        self.motion.add_frame(int(stamp_ns), image)

    def add_features(self, stamp_ns: int, features: np.ndarray, image_size: tuple[int, int],
                     model_id: str | None = None) -> Intake:
        """Check and store one decoded (C, h, w) feature map; the inputs for its forecast when the history is
        complete. A map that cannot be used raises :class:`FeatureError` whose ``reason`` is a counter name."""
        if model_id is not None:
            self.check_model_id(model_id)
        if self.channels is not None and features.shape[0] != self.channels:
            raise FeatureError("shape", f"{features.shape[0]} channels, the forecasters take {self.channels}")
        if image_size[0] == 0 or image_size[1] == 0:
            raise FeatureError("shape", "image_height/image_width are 0: the output size is unknown")
        try:
            check_size(image_size[0], image_size[1], self.max_output_pixels)
        except ImageError as exc:
            raise FeatureError(exc.reason, f"{exc} (max_output_pixels)") from None
        t = int(stamp_ns)
        if t + max(h.offset_ns for h in self.horizons) > MAX_STAMP_NS:
            raise FeatureError("stamp_range", f"stamp {t / 1e9:.3f} s: the forecast time would not fit a ROS stamp")
        events: list[Event] = []
        hw = (int(features.shape[1]), int(features.shape[2]))
        if self._feature_hw is not None and hw != self._feature_hw and len(self.history):
            self.history.reset()
            events.append(Event(text=f"feature map size changed {self._feature_hw} -> {hw}: history reset"))
        self._feature_hw = hw
        newest = self.history.newest_ns
        if self.history.insert(t, features):
            for h in self.horizons:
                h.scorer.reset()
            self._waiting.clear()
            self._complete_ns = None
            events.append(Event("history_resets", f"stamp went backwards ({newest / 1e9:.3f} s -> {t / 1e9:.3f} s; "
                                "bag loop or clock jump): history reset"))
        out_size = (int(image_size[0]), int(image_size[1]))
        if not self.needs_features:  # flow extrapolation only: the newest frame's labels are all it needs
            return self._with_labels(Intake(t, out_size, [], events))
        match = self.history.match(t)
        if not match.ok:
            self._forecasting = False
            self._waiting_frames += 1
            missing = ", ".join(f"t{o}P" for o in match.missing)
            events.append(Event("waiting_history", f"no forecast for {t / 1e9:.3f} s: no features near {missing} "
                                "yet", key="waiting"))
            return Intake(t, out_size, None, events)
        if any(match.interpolated):
            events.append(Event("interpolated_inputs"))
        if not self._forecasting:
            self._forecasting = True
            last = self._last_match_ns
            # after an outage (the history had emptied: a restarted semseg node, a stamp jump), not a dropped frame
            if last is not None and self._waiting_frames and abs(t - last) > self.history.horizon_ns:
                events.append(Event("resumed", f"forecasting resumed at {t / 1e9:.3f} s: history refilled after "
                                    f"{self._waiting_frames} frame(s) without one ({(t - last) / 1e9:.1f} s since "
                                    "the last forecast)", key="resumed"))
            self._waiting_frames = 0
        self._last_match_ns = t
        return self._with_labels(Intake(t, out_size, list(match.items), events))  # type: ignore[arg-type]

    def _with_labels(self, intake: Intake) -> Intake:
        """``intake`` with the labels of its frame, or parked until they come (see the module docstring)."""
        t, out_size, events = intake.stamp_ns, intake.out_size, intake.events
        if not self.needs_labels:
            return intake
        labels = self._early_labels.pop(t, None)
        if labels is not None:
            intake.last_labels = labels
            self._completed(intake)
            return intake
        self._waiting[t] = Intake(t, out_size, intake.past)  # its events are reported now, with the return value
        while len(self._waiting) > PENDING_SLOTS:
            events.append(self._missing(self._waiting.pop(min(self._waiting))))
        return Intake(t, out_size, None, events)  # its forecast waits for the labels of t

    def _completed(self, intake: Intake) -> None:
        """``intake`` has its labels: frames still waiting before it will not be forecast (the newest wins)."""
        t = intake.stamp_ns
        self._complete_ns = t
        for stamp in sorted(s for s in self._waiting if s < t):
            intake.events.append(self._missing(self._waiting.pop(stamp)))
        for stamp in [s for s in self._early_labels if s <= t]:
            del self._early_labels[stamp]

    @staticmethod
    def _missing(intake: Intake) -> Event:
        return Event("missing_labels", f"no forecast for {intake.stamp_ns / 1e9:.3f} s: no semseg/labels with that "
                     "stamp (the forecaster warps the newest frame's labels)", key="missing_labels")

    def take_ready(self) -> Intake | None:
        """The frame the last :meth:`add_labels` completed (its forecast had waited for them), once; else None."""
        ready, self._ready = self._ready, None
        return ready

    def add_labels(self, stamp_ns: int, labels: np.ndarray) -> list[str]:
        """Single-frame trainIds of the frame stamped ``stamp_ns`` (the consistency reference, and what F2MF warps:
        a frame that waited for them is then ready, see :meth:`take_ready`); returns the horizons whose score
        changed. Raises :class:`LabelError` for a map that is not trainIds."""
        if labels.ndim != 2:
            raise LabelError(f"{labels.ndim}-dimensional labels, expected one channel (mono8)")
        if labels.size == 0:
            raise LabelError("empty image")
        if int(labels.max()) >= NUM_CLASSES and bool(((labels >= NUM_CLASSES) & (labels != IGNORE_ID)).any()):
            raise LabelError(f"ids outside 0..{NUM_CLASSES - 1} and {IGNORE_ID}: not trainIds")
        labels = labels.copy()  # a message buffer is not ours to keep
        if self.needs_labels:
            self._keep_last_labels(int(stamp_ns), labels)
        return [h.name for h in self.horizons if h.scorer.add_reference(int(stamp_ns), labels)]

    def _keep_last_labels(self, t: int, labels: np.ndarray) -> None:
        waiting = self._waiting.pop(t, None)
        if waiting is not None:
            waiting.last_labels = labels
            waiting.events = []
            self._completed(waiting)
            self._ready = waiting
        elif self._complete_ns is None or t > self._complete_ns:
            self._early_labels[t] = labels
            while len(self._early_labels) > PENDING_SLOTS:
                del self._early_labels[min(self._early_labels)]

    # --- work --------------------------------------------------------------------------------------------------
    def forecast(self, intake: Intake, confidence: bool = False) -> list[HorizonForecast]:
        """Every horizon's forecast from a complete :class:`Intake`, stamped source + k·P (and scored)."""
        if intake.past is None:
            raise ValueError("no forecast without a complete history (Intake.past is None)")
        if self.needs_labels and intake.last_labels is None:
            raise ValueError("no forecast without the single-frame labels of the newest frame (Intake.last_labels)")
        out = []
        motion = self.motion.motion(intake.stamp_ns) if self.motion is not None else None
        if motion is not None:  # the newest labels at the camera size, warped by every flow horizon
            camera_labels = resize_label(intake.last_labels, intake.out_size)
        if motion is None and self.motion is not None:  # no camera frame of t, or none just before it (yet)
            self.flow_unavailable += 1
        for h in self.horizons:
            if isinstance(h.forecaster, FlowForecaster):
                if motion is None:
                    continue
                labels = h.forecaster(motion, camera_labels, h.offset_ns)
                conf = None
            else:
                result = h.forecaster(intake.past, intake.out_size, confidence=confidence,
                                      last_labels=intake.last_labels)
                labels, conf = result.labels, result.confidence
            target = intake.stamp_ns + h.offset_ns
            scored = self.score and bool(h.scorer.add_forecast(target, labels))
            out.append(HorizonForecast(h.name, intake.stamp_ns, target, h.offset_ns, h.forecaster.model_id,
                                       labels, conf, scored))
        return out

    def consistency(self, horizon: str) -> float | None:
        """The running consistency mIoU of a horizon (None before its first score)."""
        return next(h.scorer.summary()["miou"] for h in self.horizons if h.name == horizon)

    def diagnostics(self) -> dict[str, str]:
        """Key/values for /diagnostics: the models, the history length and every horizon's score."""
        out = {"feature_model_id": self.feature_model_id, "history_len": str(len(self.history)),
               "horizons": ",".join(h.name for h in self.horizons) or "none"}
        if self.motion is not None:
            out["flow_frames"] = str(len(self.motion))
            out["flow_unavailable"] = str(self.flow_unavailable)
        for h in self.horizons:
            s = h.scorer.summary()
            out[f"{h.name}_model_id"] = h.forecaster.model_id
            out[f"{h.name}_horizon_ms"] = f"{h.offset_ns / 1e6:.3f}"
            out[f"{h.name}_consistency_miou"] = "n/a" if s["miou"] is None else f"{s['miou']:.4f}"
            out[f"{h.name}_consistency_miou_mo"] = "n/a" if s["miou_mo"] is None else f"{s['miou_mo']:.4f}"
            out[f"{h.name}_scored"] = str(s["scored"])
            out[f"{h.name}_unmatched"] = str(s["unmatched"])
        return out

