"""The ``forecast`` node: SPP features in; future trainId labels, overlays, SemanticForecast and a live score out.

A thin adapter over :class:`swiftcast.forecast.runtime.ForecastRuntime` (models, checks, the stamp-keyed history,
forecasts, the consistency score); the ROS plumbing (parameters, conversions, diagnostics, worker thread) comes
from ``swiftcast_ros``. For a feature map stamped t the inputs are the features at t-9P, t-6P, t-3P: a frame
within ``match_tolerance_s``, else interpolated between the two frames around that time when they are at most
``max_gap_s`` apart (so any camera rate works); otherwise nothing is published for that frame (counted as
``waiting_history``). A stamp going backwards resets the history. Flow extrapolation (the default ``flow``)
needs no features: it carries the ``semseg/labels`` of t on along the optical flow between the camera frames of t
and the one before it (``camera_topic``). It and F2MF warp the labels of t: a frame is forecast once they have arrived
(else counted as ``missing_labels``). Each horizon h (k frames) publishes, stamped exactly t + k·P with the
frame_id copied:

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

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, Header
from swiftcast_msgs.msg import FeatureMap, SemanticForecast

from swiftcast.data.labels import colorize_train_ids
from swiftcast.errors import DataError, SetupError
from swiftcast.forecast.runtime import ForecastRuntime, Intake
from swiftcast.runtime.features import FeatureError
from swiftcast.runtime.images import ImageError
from swiftcast_ros.conversions import array_to_image_msg, camera_input, features_from_msg, forecast_msg
from swiftcast_ros.conversions import image_msg_to_array, ns_to_stamp, stamp_to_ns
from swiftcast_ros.frames import FrameLoop
from swiftcast_ros.health import HealthReporter
from swiftcast_ros.params import declare_parameters, parameter_error, updated_values, validate_update
from swiftcast_ros.qos import FRAME_HISTORY_QOS, OUTPUT_QOS

from forecast_node.parameters import PARAMS

#: the publishers of one horizon <h>: kind -> (message type, topic suffix after forecast/<h>)
OUTPUTS: dict[str, tuple[type, str]] = {"labels": (Image, "/labels"), "overlay": (Image, "/overlay"),
                                        "forecast": (SemanticForecast, ""), "score": (Float32, "/consistency")}



class ForecastNode(Node):
    """See the module docstring; raises ParameterError for a bad parameter (the entry wrapper prints it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("forecast", **kwargs)
        p = self.params = declare_parameters(self, PARAMS)
        logger = self.get_logger()
        try:
            self.runtime = ForecastRuntime.from_settings(p, log=logger.info, warn=logger.warning)
        except SetupError as exc:
            raise parameter_error(exc, p) from None
        self.frames: FrameLoop[tuple[Header, Intake, float]] = FrameLoop(self, self._process, "features", "forecast")
        self.pubs = {h.name: {kind: self.create_publisher(msg_type, f"forecast/{h.name}{suffix}", OUTPUT_QOS)
                              for kind, (msg_type, suffix) in OUTPUTS.items()} for h in self.runtime.horizons}
        if self.runtime.horizons and (p["score"] or self.runtime.needs_labels):
            self.create_subscription(Image, "semseg/labels", self._on_labels, OUTPUT_QOS)
        self.sub = self.create_subscription(FeatureMap, "semseg/features", self._on_features, OUTPUT_QOS)
        if self.runtime.needs_frames:
            topic, msg_type, self._decode = camera_input(p["camera_topic"], p["input_transport"])
            self.create_subscription(msg_type, topic, self._on_frame, FRAME_HISTORY_QOS)
        self.health = HealthReporter(self, self.frames.stats, timings=("forecast_ms", "latency_ms"),
                                     diagnostics_period_s=p["diagnostics_period_s"], log_period_s=p["log_period_s"],
                                     extra=self.runtime.diagnostics, hardware_id=str(self.runtime.device))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        logger.info(f"ready: {self.sub.topic_name} -> {self.runtime.describe()}")

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        result = validate_update(PARAMS, params)
        if result.successful:
            self.params.update(updated_values(PARAMS, params))
            self.runtime.max_output_pixels = self.params["max_output_pixels"]
        return result

    # --- input -------------------------------------------------------------------------------------------------
    def _on_features(self, msg: FeatureMap) -> None:
        """Check and store (cheap, in the executor); the forecast itself runs on the worker thread."""
        self.frames.arrived()
        received = time.monotonic()
        if not self.runtime.horizons:
            return
        try:
            self.runtime.check_model_id(msg.model_id)
            intake = self.runtime.add_features(stamp_to_ns(msg.header.stamp), features_from_msg(msg),
                                               (msg.image_height, msg.image_width))
        except FeatureError as exc:
            self.frames.reject(exc.reason, exc)
            return
        self._take(msg.header, intake, received)

    def _on_frame(self, msg: Any) -> None:
        """A camera frame for flow extrapolation (grey and downscaled at once: cheap, in the executor)."""
        try:
            image = self._decode(msg, self.params["max_output_pixels"]).pixels
            self.runtime.add_frame(stamp_to_ns(msg.header.stamp), image)
        except (ValueError, ImageError) as exc:
            self.frames.reject("frames_rejected", exc)

    def _take(self, header: Header, intake: Intake, received: float) -> None:
        """Report what the runtime made of a frame; a complete one goes to the worker."""
        for event in intake.events:
            self.frames.report(event.counter, event.text, event.key)
        if intake.past is not None:
            self.frames.submit((header, intake, received))

    def _on_labels(self, msg: Image) -> None:
        try:
            changed = self.runtime.add_labels(stamp_to_ns(msg.header.stamp), image_msg_to_array(msg))
        except (ValueError, DataError) as exc:  # bad reference labels only cost the online score: counted apart
            self.frames.stats.count("labels_rejected")
            self.frames.warn.warn("labels", f"semseg/labels skipped: {exc}")
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
            out_header = Header(stamp=ns_to_stamp(f.target_ns), frame_id=header.frame_id)
            forecast = forecast_msg(f.labels, f.confidence, out_header, header.stamp, f.offset_ns, f.model_id)
            pubs["labels"].publish(forecast.labels)
            pubs["forecast"].publish(forecast)
            if want_overlay and pubs["overlay"].get_subscription_count() > 0:
                pubs["overlay"].publish(array_to_image_msg(colorize_train_ids(f.labels), out_header, "bgr8"))
            if f.scored:
                self._publish_score(f.horizon)
        self.frames.done(forecast_ms=(time.perf_counter() - t0) * 1e3, latency_ms=(time.monotonic() - received) * 1e3)

    def _publish_score(self, horizon: str) -> None:
        miou = self.runtime.consistency(horizon)
        if miou is not None:
            self.pubs[horizon]["score"].publish(Float32(data=float(miou)))

    def close(self) -> None:
        self.frames.stop()


if __name__ == "__main__":
    from forecast_node import main

    raise SystemExit(main())
