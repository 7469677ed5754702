"""The ``forecast`` node: SPP features in; future trainId labels, overlays, SemanticForecast and a live score out.

A thin adapter: the history keyed by stamp (:mod:`swiftcast.forecast.history`), the forecaster + skip-less decoder
(:mod:`swiftcast.forecast.forecaster`) and the online score (:mod:`swiftcast.forecast.online`) live in the core
package; the ROS plumbing (parameters, conversions, diagnostics, worker thread) in ``swiftcast_ros``.

For a feature map stamped t the node looks up the maps nearest t-9P, t-6P, t-3P (P = ``frame_period_s``, the
period the forecasters were trained at; matched by stamp within ``match_tolerance_s``, so any camera rate works).
If one is missing it publishes nothing for that frame (counted as ``waiting_history``); a stamp going backwards
resets the history. Each horizon h (k frames) then publishes, stamped exactly t + k·P with the frame_id copied:

  forecast/<h>/labels       sensor_msgs/Image mono8 trainIds at the camera size
  forecast/<h>/overlay      sensor_msgs/Image bgr8 class colours (only computed while subscribed)
  forecast/<h>              swiftcast_msgs/SemanticForecast (source stamp t, horizon k·P)
  forecast/<h>/consistency  std_msgs/Float32: running mIoU of the forecasts against the later semseg/labels of
                            their target time (label-free; also in /diagnostics)

Malformed features (dtype, shape, size, NaN/Inf, another model's id) are rejected, counted and logged (throttled);
nothing a message contains can stop the node.
"""

from __future__ import annotations

import time
from typing import Any

from builtin_interfaces.msg import Duration, Time
from rcl_interfaces.msg import ParameterType, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, Header
from swiftcast_msgs.msg import FeatureMap, SemanticForecast

from swiftcast.data.labels import IGNORE_ID, NUM_CLASSES, colorize_train_ids
from swiftcast.errors import SwiftcastError
from swiftcast.forecast.forecaster import FORECAST_BACKENDS, SemanticForecaster, default_forecaster
from swiftcast.forecast.history import FeatureHistory
from swiftcast.forecast.online import ConsistencyScorer
from swiftcast.forecast.protocol import FRAME_RATE_HZ, HORIZONS, INPUT_OFFSETS
from swiftcast.runtime.features import FeatureError
from swiftcast.runtime.images import DEFAULT_MAX_PIXELS, ImageError, check_size
from swiftcast.runtime.paths import check_checkpoint_parameter, resolve_user_path
from swiftcast.runtime.segmenter import FEATURE_STRIDE, resolve_device
from swiftcast_ros.conversions import array_to_image_msg, features_from_msg, image_msg_to_array
from swiftcast_ros.health import FrameStats, HealthReporter
from swiftcast_ros.params import ParameterError, ParamSpec, declare_parameters, validate_update
from swiftcast_ros.qos import OUTPUT_QOS
from swiftcast_ros.throttle import ThrottledLog
from swiftcast_ros.worker import NewestFrameWorker

NS = 1_000_000_000
AUTO = "auto"
#: builtin_interfaces/Time.sec is an int32: the last stamp a forecast can carry.
MAX_STAMP_NS = (2**31 - 1) * NS + NS - 1


def _check_forecaster(value: str) -> None:
    if value != AUTO:
        check_checkpoint_parameter(value)


def _check_horizons(value: Any) -> None:
    names = list(value)
    unknown = [n for n in names if n not in HORIZONS]
    if unknown:
        raise ValueError(f"unknown horizon(s) {', '.join(unknown)}; choose from {', '.join(HORIZONS)}")
    if len(set(names)) != len(names):
        raise ValueError("a horizon is listed twice")


def _check_models_dir(value: str) -> None:
    if not value.strip():
        raise ValueError("empty; give the folder 'auto' searches (e.g. models)")


def _check_device(value: str) -> None:
    resolve_device(value)


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", "models/swiftnet_rn18_synth",
              "Segmentation checkpoint the features come from: its skip-less decoder turns forecast features into "
              "labels, and features of any other model are rejected.", check=check_checkpoint_parameter, read_only=True),
    ParamSpec("horizons", list(HORIZONS), "Horizons to forecast (short = t+3 frames, about 180 ms; mid = t+9 "
              "frames, about 540 ms, at frame_period_s).", check=_check_horizons,
              type=ParameterType.PARAMETER_STRING_ARRAY, read_only=True),
    *(ParamSpec(f"{h}_checkpoint", AUTO, f"Forecaster checkpoint for the {h} horizon; 'auto' = the best one under "
                f"models_dir made for checkpoint (DeformF2F-FT first); none found -> the horizon is skipped with "
                f"a warning.", check=_check_forecaster, read_only=True) for h in HORIZONS),
    ParamSpec("models_dir", "models", "Where 'auto' looks for forecaster checkpoints.", read_only=True,
              check=_check_models_dir),
    ParamSpec("device", "cpu", "Inference device: cpu, cuda, cuda:N or auto.", check=_check_device, read_only=True),
    ParamSpec("backend", "torch", "Inference engine: torch (eager) or onnxruntime (forecaster + skip-less decoder "
              "exported to one fp32 ONNX graph per horizon on first use, cached; about 2x faster on a CPU, where "
              "torchvision's DeformConv2d is slow).", choices=FORECAST_BACKENDS, read_only=True),
    ParamSpec("num_threads", 1, "CPU threads for inference (0 = library default).", range=(0, 256), read_only=True),
    ParamSpec("frame_period_s", 1.0 / FRAME_RATE_HZ, "P: the frame period the forecasters were trained at (1/17 s "
              "for Cityscapes-style data). Inputs are the frames nearest t-9P, t-6P, t-3P; forecasts are stamped "
              "t + k*P.", range=(0.001, 10.0), read_only=True),
    ParamSpec("match_tolerance_s", 0.5 / FRAME_RATE_HZ, "How far a stored frame's stamp may be from t-3P, t-6P, "
              "t-9P (and a label's from a forecast's target time); must be below frame_period_s.",
              range=(0.0, 10.0), read_only=True),
    ParamSpec("max_history", 256, "Upper bound on stored feature maps (older ones are dropped anyway once "
              "t-9P has passed them).", range=(4, 1_000_000), read_only=True),
    ParamSpec("max_output_pixels", DEFAULT_MAX_PIXELS, "Feature maps asking for forecasts of a camera image larger "
              "than this (image_height x image_width) are rejected before any buffer is allocated.",
              range=(1, 1 << 28)),
    ParamSpec("publish_overlay", True, "Publish forecast/<h>/overlay (computed only while someone subscribes)."),
    ParamSpec("publish_confidence", False, "Fill SemanticForecast.confidence (max softmax x 255)."),
    ParamSpec("decode_scale", 1.0, "Decode forecasts as if for an image this fraction of the model's input size "
              "(the skip-less decoder costs decode_scale^2 as much). 1 = as trained; smaller trades accuracy for "
              "speed on small devices (synthetic val: -1.6 mIoU points at 0.5). eval-forecast --decode-scale "
              "scores the same setting.", range=(0.05, 1.0), read_only=True),
    ParamSpec("score", True, "Score every forecast against the later semseg/labels of its target time and publish "
              "forecast/<h>/consistency (running mIoU).", read_only=True),
    ParamSpec("diagnostics_period_s", 1.0, "Period of the /diagnostics status.", range=(0.05, 60.0), read_only=True),
    ParamSpec("log_period_s", 5.0, "Period of the summary log line (0 = off).", range=(0.0, 3600.0), read_only=True),
)


def stamp_ns(stamp: Time) -> int:
    return int(stamp.sec) * NS + int(stamp.nanosec)


def to_time(ns: int) -> Time:
    return Time(sec=int(ns // NS), nanosec=int(ns % NS))


def to_duration(ns: int) -> Duration:
    return Duration(sec=int(ns // NS), nanosec=int(ns % NS))


class _Horizon:
    """Everything one horizon owns: its forecaster, publishers and score."""

    def __init__(self, node: Node, name: str, forecaster: SemanticForecaster, period_ns: int, tolerance_ns: int):
        self.name = name
        self.forecaster = forecaster
        self.offset_ns = forecaster.horizon.frames * period_ns
        self.pub_labels = node.create_publisher(Image, f"forecast/{name}/labels", OUTPUT_QOS)
        self.pub_overlay = node.create_publisher(Image, f"forecast/{name}/overlay", OUTPUT_QOS)
        self.pub_forecast = node.create_publisher(SemanticForecast, f"forecast/{name}", OUTPUT_QOS)
        self.pub_score = node.create_publisher(Float32, f"forecast/{name}/consistency", OUTPUT_QOS)
        self.scorer = ConsistencyScorer(tolerance_ns)


class ForecastNode(Node):
    """See the module docstring; raises ParameterError for a bad parameter (the entry wrapper prints it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("forecast", **kwargs)
        p = self.params = declare_parameters(self, PARAMS)
        self.period_ns = round(p["frame_period_s"] * NS)
        self.tolerance_ns = round(p["match_tolerance_s"] * NS)
        if self.tolerance_ns >= self.period_ns:
            raise ParameterError(f"parameter 'match_tolerance_s' = {p['match_tolerance_s']}: must be below "
                                 f"frame_period_s = {p['frame_period_s']} (else t-3P could match the frame of t-2P)")
        self.stats = FrameStats()
        # rclpy refuses two severities from one call site (ThrottledLog's emit line): give each its own line
        logger = self.get_logger()
        self._warn = ThrottledLog(lambda text: logger.warning(text), period_s=5.0)
        self._info = ThrottledLog(lambda text: logger.info(text), period_s=5.0)

        self.seg_model, self.seg_config = self._load_seg_model()
        self.feature_model_id = str(self.seg_config.get("model_id", ""))
        self.horizons: list[_Horizon] = []
        for name in p["horizons"]:
            forecaster = self._load_forecaster(name)
            if forecaster is not None:
                self.horizons.append(_Horizon(self, name, forecaster, self.period_ns, self.tolerance_ns))
        self.channels = self.horizons[0].forecaster.net.in_channels if self.horizons else None

        self.history: FeatureHistory[Any] = FeatureHistory(
            self.period_ns, self.tolerance_ns, INPUT_OFFSETS, max_items=p["max_history"]
        )
        self._feature_hw: tuple[int, int] | None = None
        self._forecasting = False  # the last frame had a complete history
        self._waiting_frames = 0  # frames without a complete history since the last forecast
        self._last_match_ns: int | None = None  # stamp of the last frame with a complete history
        self.worker: NewestFrameWorker[tuple[Any, ...]] = NewestFrameWorker(
            self._process, self._on_worker_error, name="forecast-worker"
        )
        self.sub = self.create_subscription(FeatureMap, "semseg/features", self._on_features, OUTPUT_QOS)
        self.sub_labels = None
        if p["score"] and self.horizons:
            self.sub_labels = self.create_subscription(Image, "semseg/labels", self._on_labels, OUTPUT_QOS)
        self.health = HealthReporter(
            self,
            self.stats,
            timings=("forecast_ms", "latency_ms"),
            diagnostics_period_s=p["diagnostics_period_s"],
            log_period_s=p["log_period_s"],
            extra=self._diagnostic_extras,
            hardware_id=str(resolve_device(p["device"])),
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)
        described = ", ".join(
            f"{h.name} t+{h.forecaster.horizon.frames} frames = {h.offset_ns / 1e6:.1f} ms "
            f"({h.forecaster.model_id or '?'})" for h in self.horizons
        ) or "none (no forecaster checkpoints: publishing nothing)"
        self.get_logger().info(
            f"ready: {self.sub.topic_name} -> forecasts {described}; P = {self.period_ns / 1e6:.2f} ms, "
            f"tolerance {self.tolerance_ns / 1e6:.2f} ms; features of {self.feature_model_id or '?'}"
        )

    # --- models ------------------------------------------------------------------------------------------------
    def _load_seg_model(self):
        import torch

        from swiftcast.models import load_checkpoint

        p = self.params
        if p["num_threads"] > 0:
            torch.set_num_threads(p["num_threads"])
        try:
            model, config = load_checkpoint(resolve_user_path(p["checkpoint"]), device=resolve_device(p["device"]))
        except SwiftcastError as exc:
            raise ParameterError(f"parameter 'checkpoint' = {p['checkpoint']!r}: {exc}") from None
        if config.get("kind", "segmentation") != "segmentation" or not hasattr(model, "decode_features"):
            raise ParameterError(f"parameter 'checkpoint' = {p['checkpoint']!r}: not a segmentation model")
        model.eval().requires_grad_(False)
        return model, config

    def _load_forecaster(self, name: str) -> SemanticForecaster | None:
        key = f"{name}_checkpoint"
        value = self.params[key]
        frames = HORIZONS[name].frames
        path = value
        if value == AUTO:
            path = default_forecaster(self.params["models_dir"], self.feature_model_id, frames)
            if path is None:
                self.get_logger().warning(
                    f"no forecaster for the {name} horizon ({frames} frames) and features of "
                    f"{self.feature_model_id} under {self.params['models_dir']}: {name} is skipped (set {key})"
                )
                return None
        try:
            forecaster = SemanticForecaster(path, self.seg_model, self.seg_config,
                                            device=resolve_device(self.params["device"]),
                                            decode_scale=self.params["decode_scale"],
                                            backend=self.params["backend"], num_threads=self.params["num_threads"],
                                            log=self.get_logger().info)
        except SwiftcastError as exc:
            raise ParameterError(f"parameter '{key}' = {value!r}: {exc}") from None
        if forecaster.horizon.frames != frames:
            raise ParameterError(f"parameter '{key}' = {value!r}: {path} forecasts {forecaster.horizon.frames} frames "
                                 f"ahead, the {name} horizon is {frames}")
        self._warm_up(forecaster)
        return forecaster

    def _warm_up(self, forecaster: SemanticForecaster) -> None:
        import numpy as np

        h, w = forecaster.input_size or (64, 128)
        shape = (forecaster.net.in_channels, -(-h // FEATURE_STRIDE), -(-w // FEATURE_STRIDE))
        forecaster([np.zeros(shape, np.float32)] * len(forecaster.offsets), (h, w))

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        result = validate_update(PARAMS, params)
        if result.successful:
            self.params.update({p.name: p.value for p in params if p.name in self.params})
        return result

    # --- input -------------------------------------------------------------------------------------------------
    def _reject(self, reason: str, text: str) -> None:
        self.stats.reject(reason)
        self._warn.warn(reason, f"features rejected ({reason}): {text}")

    def _on_features(self, msg: FeatureMap) -> None:
        """Validate and store (cheap, in the executor); the forecast itself runs on the worker thread."""
        self.stats.count("frames_in")
        received = time.monotonic()
        if not self.horizons:
            return
        if msg.model_id != self.feature_model_id:
            self._reject("model_id", f"from model {msg.model_id!r}, the forecasters need {self.feature_model_id!r}")
            return
        try:
            features = features_from_msg(msg)
        except FeatureError as exc:
            self._reject(exc.reason, str(exc))
            return
        if features.shape[0] != self.channels:
            self._reject("shape", f"{features.shape[0]} channels, the forecasters take {self.channels}")
            return
        if msg.image_height == 0 or msg.image_width == 0:
            self._reject("shape", "image_height/image_width are 0: the output size is unknown")
            return
        try:
            check_size(msg.image_height, msg.image_width, self.params["max_output_pixels"])
        except ImageError as exc:
            self._reject(exc.reason, f"{exc} (parameter max_output_pixels)")
            return
        t = stamp_ns(msg.header.stamp)
        if t + max(h.offset_ns for h in self.horizons) > MAX_STAMP_NS:
            self._reject("stamp_range", f"stamp {t / 1e9:.3f} s: the forecast time would not fit a ROS stamp")
            return
        hw = (int(features.shape[1]), int(features.shape[2]))
        if self._feature_hw is not None and hw != self._feature_hw and len(self.history):
            self.history.reset()
            self.get_logger().info(f"feature map size changed {self._feature_hw} -> {hw}: history reset")
        self._feature_hw = hw
        newest = self.history.newest_ns
        if self.history.insert(t, features):
            self.stats.count("history_resets")
            for h in self.horizons:
                h.scorer.reset()
            self.get_logger().info(
                f"stamp went backwards ({newest / 1e9:.3f} s -> {t / 1e9:.3f} s; bag loop or clock jump): history reset"
            )
        match = self.history.match(t)
        if not match.ok:
            self.stats.count("waiting_history")
            self._forecasting = False
            self._waiting_frames += 1
            missing = ", ".join(f"t{o}P" for o in match.missing)
            self._info.warn("waiting", f"no forecast for {t / 1e9:.3f} s: no features near {missing} yet")
            return
        if not self._forecasting:
            self._forecasting = True
            last = self._last_match_ns
            # after an outage (the history had emptied: a restarted semseg node, a stamp jump), not a dropped frame
            if last is not None and self._waiting_frames and abs(t - last) > self.history.horizon_ns:
                self.stats.count("resumed")
                self._info.warn("resumed", f"forecasting resumed at {t / 1e9:.3f} s: history refilled after "
                                f"{self._waiting_frames} frame(s) without one ({(t - last) / 1e9:.1f} s since the "
                                f"last forecast)")
            self._waiting_frames = 0
        self._last_match_ns = t
        out_size = (int(msg.image_height), int(msg.image_width))
        if self.worker.submit((msg.header, list(match.items), out_size, received)):
            self.stats.count("frames_dropped")

    def _on_labels(self, msg: Image) -> None:
        try:
            labels = image_msg_to_array(msg)
        except ValueError as exc:
            self._reject_labels(str(exc))
            return
        if labels.ndim != 2:
            self._reject_labels(f"encoding {msg.encoding}, expected mono8")
            return
        if labels.size == 0:
            self._reject_labels("empty image")
            return
        if int(labels.max()) >= NUM_CLASSES and bool(((labels >= NUM_CLASSES) & (labels != IGNORE_ID)).any()):
            self._reject_labels(f"ids outside 0..{NUM_CLASSES - 1} and {IGNORE_ID}: not trainIds")
            return
        labels = labels.copy()  # the message buffer is not ours to keep
        t = stamp_ns(msg.header.stamp)
        for h in self.horizons:
            if h.scorer.add_reference(t, labels):
                self._publish_score(h)

    def _reject_labels(self, text: str) -> None:
        """Bad reference labels only cost the online score: counted apart from the feature frames."""
        self.stats.count("labels_rejected")
        self._warn.warn("labels", f"semseg/labels skipped: {text}")

    # --- work --------------------------------------------------------------------------------------------------
    def _process(self, item: tuple[Any, ...]) -> None:
        header, past, out_size, received = item
        t0 = time.perf_counter()
        t = stamp_ns(header.stamp)
        want_overlay = self.params["publish_overlay"]
        want_confidence = self.params["publish_confidence"]
        for h in self.horizons:
            result = h.forecaster(past, out_size, confidence=want_confidence)
            target = t + h.offset_ns
            out_header = Header(stamp=to_time(target), frame_id=header.frame_id)
            labels_msg = array_to_image_msg(result.labels, out_header)
            h.pub_labels.publish(labels_msg)
            forecast = SemanticForecast(
                header=out_header, source_stamp=header.stamp, horizon=to_duration(h.offset_ns), labels=labels_msg,
                model_id=h.forecaster.model_id,
            )
            if result.confidence is not None:
                forecast.confidence = array_to_image_msg(result.confidence, out_header)
            h.pub_forecast.publish(forecast)
            if want_overlay and h.pub_overlay.get_subscription_count() > 0:
                h.pub_overlay.publish(array_to_image_msg(colorize_train_ids(result.labels), out_header, "bgr8"))
            if self.sub_labels is not None and h.scorer.add_forecast(target, result.labels):
                self._publish_score(h)
        self.stats.count("frames_out")
        self.stats.observe("forecast_ms", (time.perf_counter() - t0) * 1e3)
        self.stats.observe("latency_ms", (time.monotonic() - received) * 1e3)

    def _publish_score(self, h: _Horizon) -> None:
        miou = h.scorer.summary()["miou"]
        if miou is not None:
            h.pub_score.publish(Float32(data=float(miou)))

    def _on_worker_error(self, exc: BaseException) -> None:
        self.stats.count("errors")
        self._warn.warn(f"error:{type(exc).__name__}", f"forecast failed: {type(exc).__name__}: {exc}")

    def _diagnostic_extras(self) -> dict[str, str]:
        out = {"feature_model_id": self.feature_model_id, "history_len": str(len(self.history)),
               "horizons": ",".join(h.name for h in self.horizons) or "none"}
        for h in self.horizons:
            s = h.scorer.summary()
            out[f"{h.name}_model_id"] = h.forecaster.model_id
            out[f"{h.name}_horizon_ms"] = f"{h.offset_ns / 1e6:.3f}"
            out[f"{h.name}_consistency_miou"] = "n/a" if s["miou"] is None else f"{s['miou']:.4f}"
            out[f"{h.name}_consistency_miou_mo"] = "n/a" if s["miou_mo"] is None else f"{s['miou_mo']:.4f}"
            out[f"{h.name}_scored"] = str(s["scored"])
            out[f"{h.name}_unmatched"] = str(s["unmatched"])
        return out

    def close(self) -> None:
        self.worker.stop()


if __name__ == "__main__":
    from forecast_node import main

    raise SystemExit(main())
