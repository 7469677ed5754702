"""The ``forecast`` node: SPP features in; future trainId labels, overlays, SemanticForecast and a live score out.

A thin adapter over :class:`swiftcast.forecast.runtime.ForecastRuntime` (models, checks, the stamp-keyed history,
forecasts, the consistency score); the ROS plumbing (parameters, conversions, diagnostics, worker thread) comes
from ``swiftcast_ros``. For a feature map stamped t the inputs are the features at t-9P, t-6P, t-3P: a frame
within ``match_tolerance_s``, else interpolated between the two frames around that time when they are at most
``max_gap_s`` apart (so any camera rate works); otherwise nothing is published for that frame (counted as
``waiting_history``). A stamp going backwards resets the history. F2MF also warps the ``semseg/labels`` of t:
then a frame is forecast once both have arrived, in either order (else counted as ``missing_labels``). Each horizon
h (k frames) publishes, stamped exactly t + k·P with the frame_id copied:

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

from swiftcast.data.labels import colorize_train_ids
from swiftcast.errors import DataError
from swiftcast.forecast.forecaster import FORECAST_BACKENDS
from swiftcast.forecast.protocol import FRAME_RATE_HZ, HORIZONS
from swiftcast.forecast.runtime import AUTO, ForecastRuntime, Intake, SetupError
from swiftcast.forecast.runtime import check_forecaster_setting, check_horizons, check_models_dir
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT
from swiftcast.runtime.features import FeatureError
from swiftcast.runtime.images import DEFAULT_MAX_PIXELS
from swiftcast.runtime.paths import check_checkpoint_parameter
from swiftcast.hardware import resolve_device
from swiftcast_ros.conversions import array_to_image_msg, features_from_msg, image_msg_to_array
from swiftcast_ros.health import FrameStats, HealthReporter
from swiftcast_ros.params import ParameterError, ParamSpec, declare_parameters, validate_update
from swiftcast_ros.qos import OUTPUT_QOS
from swiftcast_ros.throttle import ThrottledLog
from swiftcast_ros.worker import NewestFrameWorker

NS = 1_000_000_000

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", DEFAULT_SEGMENTATION_CHECKPOINT,
              "Segmentation checkpoint the features come from: its skip-less decoder turns forecast features into "
              "labels, and features of any other model are rejected.", check=check_checkpoint_parameter, read_only=True),
    ParamSpec("horizons", list(HORIZONS), "Horizons to forecast (short = t+3 frames, about 180 ms; mid = t+9 "
              "frames, about 540 ms, at frame_period_s).", check=check_horizons,
              type=ParameterType.PARAMETER_STRING_ARRAY, read_only=True),
    *(ParamSpec(f"{h}_checkpoint", AUTO, f"Forecaster checkpoint for the {h} horizon; 'auto' = the best one under "
                f"models_dir made for checkpoint (F2MF, which also warps semseg/labels, then DeformF2F-FT); none "
                f"found -> the horizon is skipped with a warning.", check=check_forecaster_setting, read_only=True)
      for h in HORIZONS),
    ParamSpec("models_dir", "models", "Where 'auto' looks for forecaster checkpoints.", read_only=True,
              check=check_models_dir),
    ParamSpec("device", "cpu", "Inference device: cpu, cuda, cuda:N or auto.", check=resolve_device, read_only=True),
    ParamSpec("backend", "torch", "Inference engine: torch (eager) or onnxruntime (forecaster + skip-less decoder "
              "exported to one fp32 ONNX graph per horizon on first use, cached; about 2x faster on a CPU, where "
              "torchvision's DeformConv2d is slow).", choices=FORECAST_BACKENDS, read_only=True),
    ParamSpec("num_threads", 1, "CPU threads for inference (0 = library default).", range=(0, 256), read_only=True),
    ParamSpec("frame_period_s", 1.0 / FRAME_RATE_HZ, "P: the frame period the forecasters were trained at (1/17 s "
              "for Cityscapes-style data). Inputs are the features at t-9P, t-6P, t-3P; forecasts are stamped "
              "t + k*P.", range=(0.001, 10.0), read_only=True),
    ParamSpec("match_tolerance_s", 0.5 / FRAME_RATE_HZ, "A stored frame this close to t-3P, t-6P or t-9P is used as "
              "is (and a label this close to a forecast's target time scores it); must be below frame_period_s.",
              range=(0.0, 10.0), read_only=True),
    ParamSpec("max_gap_s", 2.0 / FRAME_RATE_HZ, "With no frame within match_tolerance_s, the input is interpolated "
              "linearly in time between the two frames around t-kP if they are at most this far apart (2P: 10 Hz "
              "and 15 Hz cameras, a dropped frame at 17 Hz); never extrapolated past the oldest frame. 0 = off.",
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


class ForecastNode(Node):
    """See the module docstring; raises ParameterError for a bad parameter (the entry wrapper prints it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("forecast", **kwargs)
        p = self.params = declare_parameters(self, PARAMS)
        self.stats = FrameStats()
        # rclpy refuses two severities from one call site (ThrottledLog's emit line): give each its own line
        logger = self.get_logger()
        self._warn = ThrottledLog(lambda text: logger.warning(text), period_s=5.0)
        self._info = ThrottledLog(lambda text: logger.info(text), period_s=5.0)
        try:
            self.runtime = ForecastRuntime(
                p["checkpoint"], p["horizons"], {h: p[f"{h}_checkpoint"] for h in HORIZONS}, models_dir=p["models_dir"],
                device=p["device"], backend=p["backend"], num_threads=p["num_threads"],
                period_ns=round(p["frame_period_s"] * NS), tolerance_ns=round(p["match_tolerance_s"] * NS),
                max_gap_ns=round(p["max_gap_s"] * NS), max_history=p["max_history"], decode_scale=p["decode_scale"],
                max_output_pixels=p["max_output_pixels"], score=p["score"], log=logger.info, warn=logger.warning)
        except SetupError as exc:
            raise ParameterError(f"parameter '{exc.setting}' = {p.get(exc.setting)!r}: {exc}") from None
        self.pubs = {h.name: {kind: self.create_publisher(msg_type, f"forecast/{h.name}{suffix}", OUTPUT_QOS)
                              for kind, msg_type, suffix in (("labels", Image, "/labels"), ("overlay", Image, "/overlay"),
                                                             ("forecast", SemanticForecast, ""),
                                                             ("score", Float32, "/consistency"))}
                     for h in self.runtime.horizons}
        self.worker: NewestFrameWorker[tuple[Header, Intake, float]] = NewestFrameWorker(
            self._process, self._on_worker_error, name="forecast-worker")
        if self.runtime.horizons and (p["score"] or self.runtime.needs_labels):
            self.create_subscription(Image, "semseg/labels", self._on_labels, OUTPUT_QOS)
        self.sub = self.create_subscription(FeatureMap, "semseg/features", self._on_features, OUTPUT_QOS)
        self.health = HealthReporter(self, self.stats, timings=("forecast_ms", "latency_ms"),
                                     diagnostics_period_s=p["diagnostics_period_s"], log_period_s=p["log_period_s"],
                                     extra=self.runtime.diagnostics, hardware_id=str(self.runtime.device))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        logger.info(f"ready: {self.sub.topic_name} -> {self.runtime.describe()}")

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        result = validate_update(PARAMS, params)
        if result.successful:
            self.params.update({p.name: p.value for p in params if p.name in self.params})
            self.runtime.max_output_pixels = self.params["max_output_pixels"]
        return result

    # --- input -------------------------------------------------------------------------------------------------
    def _on_features(self, msg: FeatureMap) -> None:
        """Check and store (cheap, in the executor); the forecast itself runs on the worker thread."""
        self.stats.count("frames_in")
        received = time.monotonic()
        if not self.runtime.horizons:
            return
        try:
            self.runtime.check_model_id(msg.model_id)
            intake = self.runtime.add_features(stamp_ns(msg.header.stamp), features_from_msg(msg),
                                               (msg.image_height, msg.image_width))
        except FeatureError as exc:
            self.stats.reject(exc.reason)
            self._warn.warn(exc.reason, f"features rejected ({exc.reason}): {exc}")
            return
        self._take(msg.header, intake, received)

    def _take(self, header: Header, intake: Intake, received: float) -> None:
        """Report what the runtime made of a frame; a complete one goes to the worker."""
        for event in intake.events:
            if event.counter:
                self.stats.count(event.counter)
            if event.text and event.key:
                self._info.warn(event.key, event.text)
            elif event.text:
                self.get_logger().info(event.text)
        if intake.past is not None and self.worker.submit((header, intake, received)):
            self.stats.count("frames_dropped")

    def _on_labels(self, msg: Image) -> None:
        try:
            changed = self.runtime.add_labels(stamp_ns(msg.header.stamp), image_msg_to_array(msg))
        except (ValueError, DataError) as exc:  # bad reference labels only cost the online score: counted apart
            self.stats.count("labels_rejected")
            self._warn.warn("labels", f"semseg/labels skipped: {exc}")
            return
        for name in changed:
            self._publish_score(name)
        if (ready := self.runtime.take_ready()) is not None:  # a frame that waited for these labels
            self._take(msg.header, ready, time.monotonic())

    # --- work --------------------------------------------------------------------------------------------------
    def _process(self, item: tuple[Header, Intake, float]) -> None:
        header, intake, received = item
        t0 = time.perf_counter()
        want_overlay = self.params["publish_overlay"]
        for f in self.runtime.forecast(intake, confidence=self.params["publish_confidence"]):
            pubs = self.pubs[f.horizon]
            out_header = Header(stamp=to_time(f.target_ns), frame_id=header.frame_id)
            labels_msg = array_to_image_msg(f.labels, out_header)
            pubs["labels"].publish(labels_msg)
            forecast = SemanticForecast(header=out_header, source_stamp=header.stamp, labels=labels_msg,
                                        horizon=Duration(sec=f.offset_ns // NS, nanosec=f.offset_ns % NS),
                                        model_id=f.model_id)
            if f.confidence is not None:
                forecast.confidence = array_to_image_msg(f.confidence, out_header)
            pubs["forecast"].publish(forecast)
            if want_overlay and pubs["overlay"].get_subscription_count() > 0:
                pubs["overlay"].publish(array_to_image_msg(colorize_train_ids(f.labels), out_header, "bgr8"))
            if f.scored:
                self._publish_score(f.horizon)
        self.stats.count("frames_out")
        self.stats.observe("forecast_ms", (time.perf_counter() - t0) * 1e3)
        self.stats.observe("latency_ms", (time.monotonic() - received) * 1e3)

    def _publish_score(self, horizon: str) -> None:
        miou = self.runtime.consistency(horizon)
        if miou is not None:
            self.pubs[horizon]["score"].publish(Float32(data=float(miou)))

    def _on_worker_error(self, exc: BaseException) -> None:
        self.stats.count("errors")
        self._warn.warn(f"error:{type(exc).__name__}", f"forecast failed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.worker.stop()


if __name__ == "__main__":
    from forecast_node import main

    raise SystemExit(main())
