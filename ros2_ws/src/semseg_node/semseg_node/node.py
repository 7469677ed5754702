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
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from swiftcast_msgs.msg import FeatureMap, LabelInfo

from swiftcast.data.labels import CLASS_COLORS_RGB, IGNORE_ID
from swiftcast.errors import SetupError, SwiftcastError
from swiftcast.hardware import resolve_device
from swiftcast.runtime.features import FEATURE_DTYPES
from swiftcast.runtime.images import DEFAULT_MAX_PIXELS, ImageError, overlay_labels
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT, check_checkpoint_parameter
from swiftcast.runtime.segmenter import BACKENDS, FEATURE_STRIDE, PRECISIONS, Segmenter, check_input_size
from swiftcast_ros.conversions import array_to_image_msg, camera_input, features_to_msg, label_info_msg, stamp_to_ns
from swiftcast_ros.frames import FrameLoop
from swiftcast_ros.health import HealthReporter
from swiftcast_ros.params import ParamSpec, check_topic_name, declare_parameters, parameter_error, updated_values
from swiftcast_ros.params import validate_update
from swiftcast_ros.qos import LATCHED_QOS, OUTPUT_QOS, SENSOR_QOS


#: Every parameter of the node (launch/params/*.yaml set a subset). Model parameters can change at run time: the
#: new model is loaded first and the update is rejected, with the old model still serving, if it fails.
PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", DEFAULT_SEGMENTATION_CHECKPOINT,
              "Segmentation checkpoint folder; relative paths are searched under $SWIFTCAST_HOME, the current "
              "directory, then the SwiftCast source checkout.", check=check_checkpoint_parameter),
    ParamSpec("device", "cpu", "Inference device: cpu, cuda, cuda:N or auto.", check=resolve_device),
    ParamSpec("backend", "torch", "Inference engine: torch (eager) or onnxruntime (the checkpoint is exported to "
              "ONNX on first use and cached by model_id, input size and precision).", choices=BACKENDS),
    ParamSpec("precision", "auto", "Model precision: auto (int8 with backend onnxruntime on a CPU with int8 dot "
              "products - VNNI/AMX -; on other CPUs both are timed at start and int8 runs only if at least 5 % "
              "faster; the choice and why are logged), fp32, or int8 (backend "
              "onnxruntime only; static int8 calibrated on frames the synthetic world renders, made on first use "
              "or by 'swiftcast export-onnx --precision int8').", choices=PRECISIONS),
    ParamSpec("input_size", [], "Model input size [H, W] the camera image is resized to; empty = the "
              "checkpoint's input_size.", type=ParameterType.PARAMETER_INTEGER_ARRAY, check=check_input_size),
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


class SemsegNode(Node):
    """See the module docstring; raises ParameterError for a bad parameter (the entry wrapper prints it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("semseg", **kwargs)
        p = self.params = declare_parameters(self, PARAMS)
        self.segmenter = self._load_segmenter(p)
        self.frames: FrameLoop[tuple[Any, float]] = FrameLoop(self, self._process)
        self.pub_labels = self.create_publisher(Image, "semseg/labels", OUTPUT_QOS)
        self.pub_overlay = self.create_publisher(Image, "semseg/overlay", OUTPUT_QOS)
        self.pub_confidence = self.create_publisher(Image, "semseg/confidence", OUTPUT_QOS)
        self.pub_features = self.create_publisher(FeatureMap, "semseg/features", OUTPUT_QOS)
        self.pub_label_info = self.create_publisher(LabelInfo, "semseg/label_info", LATCHED_QOS)
        self._publish_label_info()
        topic, msg_type, self._decode = camera_input(p["camera_topic"], p["input_transport"])
        self.sub = self.create_subscription(msg_type, topic, self._on_frame, SENSOR_QOS)
        self.health = HealthReporter(self, self.frames.stats, timings=("model_ms", "latency_ms", "age_ms"),
                                     diagnostics_period_s=p["diagnostics_period_s"], log_period_s=p["log_period_s"],
                                     extra=lambda: self.segmenter.diagnostics(), hardware_id=str(self.segmenter.device))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(f"ready: {self.sub.topic_name} ({p['input_transport']}) -> "
                               f"{self.pub_labels.topic_name}; {self.segmenter.describe()}")

    # --- model -------------------------------------------------------------------------------------------------
    def _load_segmenter(self, settings: dict[str, Any]) -> Segmenter:
        try:
            return Segmenter.from_settings(settings, log=self.get_logger().info)
        except SetupError as exc:
            raise parameter_error(exc, settings) from None

    def _publish_label_info(self) -> None:
        header = Header(stamp=self.get_clock().now().to_msg())
        self.pub_label_info.publish(label_info_msg(self.segmenter.label_names, CLASS_COLORS_RGB, IGNORE_ID, header))

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Model settings load the new model first: if that fails the update is refused and the old one serves."""
        result = validate_update(PARAMS, params)
        if not result.successful:
            return result
        changed = updated_values(PARAMS, params)
        if changed.keys() & set(Segmenter.SETTINGS):
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
        self.frames.arrived()
        self.frames.submit((msg, time.monotonic()))

    def _process(self, item: tuple[Any, float]) -> None:
        msg, received = item
        p, segmenter = self.params, self.segmenter  # one consistent snapshot per frame
        try:
            image = self._decode(msg, p["max_input_pixels"])
        except ImageError as exc:
            self.frames.reject(exc.reason, exc)
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
                features_to_msg(result.features, header, segmenter.model_id, image.shape, FEATURE_STRIDE))
        if p["publish_overlay"] and self.pub_overlay.get_subscription_count() > 0:
            blended = overlay_labels(image.bgr(), result.labels, p["overlay_alpha"])
            self.pub_overlay.publish(array_to_image_msg(blended, header, "bgr8"))
        timings = {"model_ms": result.model_ms, "latency_ms": (time.monotonic() - received) * 1e3}
        if (stamp := stamp_to_ns(header.stamp)) > 0:
            timings["age_ms"] = (self.get_clock().now().nanoseconds - stamp) / 1e6
        self.frames.done(**timings)

    def close(self) -> None:
        self.frames.stop()


if __name__ == "__main__":
    from semseg_node import main

    raise SystemExit(main())
