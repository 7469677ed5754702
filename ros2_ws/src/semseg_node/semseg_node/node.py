"""The ``semseg`` node: camera frames in; trainId labels, colour overlay, SPP features and the class table out.

A thin adapter: decoding/validation and the model live in ``swiftcast.runtime`` (images, segmenter), the shared
ROS plumbing in ``swiftcast_ros``. The subscription callback only hands the message to a worker thread that always
takes the newest frame, so a frame arriving while the model runs replaces the waiting one (counted as dropped)
instead of queueing: latency stays one model pass.

Topics (relative to the node's namespace, /perception in the stack):
  in   ``camera_topic`` (default /camera/image_raw; ``<camera_topic>/compressed`` with input_transport=compressed)
  out  semseg/labels (mono8 trainIds, input size, header copied), semseg/overlay (bgr8, only computed when
       subscribed), semseg/confidence (mono8, 255 x max softmax, only computed when subscribed),
       semseg/features (FeatureMap), semseg/label_info (latched), /diagnostics
"""

from __future__ import annotations

import time
from typing import Any

from rcl_interfaces.msg import ParameterType, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from swiftcast_msgs.msg import FeatureMap, LabelInfo

from swiftcast.data.labels import CLASS_COLORS_RGB, CLASS_NAMES, IGNORE_ID
from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.runtime.images import DEFAULT_MAX_PIXELS, ImageError, overlay_labels
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT, check_checkpoint_parameter
from swiftcast.runtime.features import FEATURE_DTYPES
from swiftcast.runtime.segmenter import (
    BACKENDS,
    FEATURE_STRIDE,
    PRECISIONS,
    Segmenter,
    check_input_size,
    check_precision,
)
from swiftcast.hardware import resolve_device
from swiftcast_ros.conversions import (
    array_to_image_msg,
    compressed_msg_to_color,
    features_to_msg,
    image_msg_to_color,
    label_info_msg,
)
from swiftcast_ros.health import FrameStats, HealthReporter
from swiftcast_ros.params import ParameterError, ParamSpec, check_topic_name, declare_parameters, validate_update
from swiftcast_ros.qos import LATCHED_QOS, OUTPUT_QOS, SENSOR_QOS
from swiftcast_ros.throttle import ThrottledLog
from swiftcast_ros.worker import NewestFrameWorker


def _check_device(value: str) -> None:
    resolve_device(value)


def _check_input_size(value: Any) -> None:
    check_input_size(list(value))


#: Every parameter of the node (launch/params/*.yaml set a subset). Model parameters can change at run time: the
#: new model is loaded first and the update is rejected, with the old model still serving, if it fails.
PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", DEFAULT_SEGMENTATION_CHECKPOINT,
              "Segmentation checkpoint folder; relative paths are searched under $SWIFTCAST_HOME, the current "
              "directory, then the SwiftCast source checkout.", check=check_checkpoint_parameter),
    ParamSpec("device", "cpu", "Inference device: cpu, cuda, cuda:N or auto.", check=_check_device),
    ParamSpec("backend", "torch", "Inference engine: torch (eager) or onnxruntime (the checkpoint is exported to "
              "ONNX on first use and cached by model_id, input size and precision).", choices=BACKENDS),
    ParamSpec("precision", "auto", "Model precision: auto (int8 with backend onnxruntime on a CPU with int8 dot "
              "products - VNNI/AMX - else fp32; the choice and why are logged at start), fp32, or int8 (backend "
              "onnxruntime only; static int8 calibrated on frames the synthetic world renders, made on first use "
              "or by 'swiftcast export-onnx --precision int8').", choices=PRECISIONS),
    ParamSpec("input_size", [], "Model input size [H, W] the camera image is resized to; empty = the "
              "checkpoint's input_size.", type=ParameterType.PARAMETER_INTEGER_ARRAY, check=_check_input_size),
    ParamSpec("num_threads", 0, "CPU threads for inference (0 = library default).", range=(0, 256)),
    ParamSpec("camera_topic", "/camera/image_raw",
              "Camera topic (raw Image); with input_transport=compressed the node subscribes to "
              "<camera_topic>/compressed. Remapping the topic works as well.", read_only=True,
              check=check_topic_name),
    ParamSpec("input_transport", "raw", "Camera message type: raw (sensor_msgs/Image) or compressed "
              "(sensor_msgs/CompressedImage, JPEG/PNG).", choices=("raw", "compressed"), read_only=True),
    ParamSpec("max_input_pixels", DEFAULT_MAX_PIXELS, "Frames with more pixels (width x height) are rejected "
              "before any buffer is allocated.", range=(1, 1 << 28)),
    ParamSpec("overlay_alpha", 0.5, "Weight of the class colours in semseg/overlay (0 = camera only, 1 = colours "
              "only).", range=(0.0, 1.0)),
    ParamSpec("publish_overlay", True, "Publish semseg/overlay (computed only while someone subscribes)."),
    ParamSpec("publish_confidence", True, "Publish semseg/confidence: mono8, 255 x the maximum softmax probability "
              "per pixel, at the camera's size (computed only while someone subscribes)."),
    ParamSpec("publish_features", True, "Publish semseg/features for the forecast node (packed only while "
              "someone subscribes)."),
    ParamSpec("feature_dtype", "float16", "Element type of semseg/features.", choices=FEATURE_DTYPES),
    ParamSpec("diagnostics_period_s", 1.0, "Period of the /diagnostics status.", range=(0.05, 60.0),
              read_only=True),
    ParamSpec("log_period_s", 5.0, "Period of the summary log line (0 = off).", range=(0.0, 3600.0),
              read_only=True),
)
_MODEL_PARAMS = ("checkpoint", "device", "backend", "precision", "input_size", "feature_dtype", "num_threads")


class SemsegNode(Node):
    """See the module docstring; raises ParameterError for a bad parameter (the entry wrapper prints it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("semseg", **kwargs)
        self.params = declare_parameters(self, PARAMS)
        self.segmenter = self._load_segmenter(self.params)
        self.stats = FrameStats()
        self._warn = ThrottledLog(self.get_logger().warning, period_s=5.0)

        self.pub_labels = self.create_publisher(Image, "semseg/labels", OUTPUT_QOS)
        self.pub_overlay = self.create_publisher(Image, "semseg/overlay", OUTPUT_QOS)
        self.pub_confidence = self.create_publisher(Image, "semseg/confidence", OUTPUT_QOS)
        self.pub_features = self.create_publisher(FeatureMap, "semseg/features", OUTPUT_QOS)
        self.pub_label_info = self.create_publisher(LabelInfo, "semseg/label_info", LATCHED_QOS)
        self._publish_label_info()

        self.worker: NewestFrameWorker[tuple[Any, float]] = NewestFrameWorker(
            self._process, self._on_worker_error, name="semseg-worker"
        )
        topic = self.params["camera_topic"]
        if self.params["input_transport"] == "compressed":
            topic, msg_type, self._decode = topic.rstrip("/") + "/compressed", CompressedImage, compressed_msg_to_color
        else:
            msg_type, self._decode = Image, image_msg_to_color
        self.sub = self.create_subscription(msg_type, topic, self._on_frame, SENSOR_QOS)
        self.health = HealthReporter(
            self,
            self.stats,
            timings=("model_ms", "latency_ms", "age_ms"),
            diagnostics_period_s=self.params["diagnostics_period_s"],
            log_period_s=self.params["log_period_s"],
            extra=self._diagnostic_extras,
            hardware_id=str(self.segmenter.device),
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)
        h, w = self.segmenter.input_size
        self.get_logger().info(
            f"ready: {self.sub.topic_name} ({self.params['input_transport']}) -> {self.pub_labels.topic_name}; "
            f"model {self.segmenter.model_id or '?'} at {h}x{w} on {self.segmenter.device} "
            f"({self.segmenter.backend_name} {self.segmenter.precision})"
        )

    # --- model -------------------------------------------------------------------------------------------------
    def _load_segmenter(self, p: dict[str, Any]) -> Segmenter:
        try:
            check_precision(p["backend"], p["precision"])
        except SwiftcastError as exc:
            raise ParameterError(f"parameter 'precision' = {p['precision']!r}: {exc}") from None
        try:
            return Segmenter(
                p["checkpoint"],
                device=p["device"],
                input_size=list(p["input_size"]) or None,
                backend=p["backend"],
                precision=p["precision"],
                feature_dtype=p["feature_dtype"],
                num_threads=p["num_threads"],
                log=self.get_logger().info,
            )
        except CheckpointError as exc:
            raise ParameterError(f"parameter 'checkpoint' = {p['checkpoint']!r}: {exc}") from None
        except SwiftcastError as exc:  # the ONNX export / runtime of the chosen backend
            raise ParameterError(f"parameters 'backend' = {p['backend']!r}, 'precision' = {p['precision']!r}: "
                                 f"{exc}") from None

    def _publish_label_info(self) -> None:
        names = self.segmenter.class_names or list(CLASS_NAMES)
        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        self.pub_label_info.publish(label_info_msg(names, CLASS_COLORS_RGB, IGNORE_ID, header))

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        result = validate_update(PARAMS, params)
        if not result.successful:
            return result
        changed = {p.name: p.value for p in params if p.name in self.params}
        if "input_size" in changed and changed["input_size"] is None:
            changed["input_size"] = []
        if any(name in changed for name in _MODEL_PARAMS):
            try:
                new = self._load_segmenter({**self.params, **changed})
            except SwiftcastError as exc:
                self.get_logger().error(f"update rejected, the current model keeps serving: {exc}")
                return SetParametersResult(successful=False, reason=str(exc))
            self.segmenter = new
            self._publish_label_info()
            self.get_logger().info(f"model switched to {new.checkpoint} ({new.model_id})")
        self.params.update(changed)
        return SetParametersResult(successful=True)

    # --- frames ------------------------------------------------------------------------------------------------
    def _on_frame(self, msg: Any) -> None:
        self.stats.count("frames_in")
        if self.worker.submit((msg, time.monotonic())):
            self.stats.count("frames_dropped")

    def _process(self, item: tuple[Any, float]) -> None:
        msg, received = item
        p, segmenter = self.params, self.segmenter  # one consistent snapshot per frame
        try:
            image = self._decode(msg, p["max_input_pixels"])
        except ImageError as exc:
            self.stats.reject(exc.reason)
            self._warn.warn(exc.reason, f"frame rejected ({exc.reason}): {exc}")
            return
        want_features = p["publish_features"] and self.pub_features.get_subscription_count() > 0
        want_confidence = p["publish_confidence"] and self.pub_confidence.get_subscription_count() > 0
        result = segmenter(image, want_features=want_features, want_confidence=want_confidence)
        header = msg.header
        self.pub_labels.publish(array_to_image_msg(result.labels, header))
        if result.confidence is not None:
            self.pub_confidence.publish(array_to_image_msg(result.confidence, header))
        if result.features is not None:
            self.pub_features.publish(
                features_to_msg(result.features, header, segmenter.model_id, image.shape, FEATURE_STRIDE)
            )
        if p["publish_overlay"] and self.pub_overlay.get_subscription_count() > 0:
            blended = overlay_labels(image.bgr(), result.labels, p["overlay_alpha"])
            self.pub_overlay.publish(array_to_image_msg(blended, header, "bgr8"))
        self.stats.count("frames_out")
        self.stats.observe("model_ms", result.model_ms)
        self.stats.observe("latency_ms", (time.monotonic() - received) * 1e3)
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        if stamp_ns > 0:
            self.stats.observe("age_ms", (self.get_clock().now().nanoseconds - stamp_ns) / 1e6)

    def _on_worker_error(self, exc: BaseException) -> None:
        self.stats.count("errors")
        self._warn.warn(f"error:{type(exc).__name__}", f"frame failed: {type(exc).__name__}: {exc}")

    def _diagnostic_extras(self) -> dict[str, str]:
        s = self.segmenter
        return {
            "model_id": s.model_id,
            "checkpoint": s.checkpoint,
            "input_size": "x".join(map(str, s.input_size)),
            "device": str(s.device),
            "backend": f"{s.backend_name} {s.precision}",
            "precision": f"{s.requested_precision} -> {s.precision} ({s.precision_reason})",
        }

    def close(self) -> None:
        self.worker.stop()


if __name__ == "__main__":
    from semseg_node import main

    raise SystemExit(main())
