"""The forecast node's parameters: names, defaults, descriptions and checks (declared with descriptors)."""

from __future__ import annotations

from rcl_interfaces.msg import ParameterType

from swiftcast.forecast.forecaster import FORECAST_BACKENDS
from swiftcast.forecast.motion import DEFAULT_FLOW_WIDTH, DEFAULT_PRESET, DEFAULT_PROJECTION_WIDTH, PRESETS
from swiftcast.forecast.protocol import FRAME_RATE_HZ, HORIZONS
from swiftcast.forecast.runtime import (
    FLOW,
    check_forecaster_setting,
    check_horizons,
    check_models_dir,
    check_projection_width,
)
from swiftcast.hardware import resolve_device
from swiftcast.runtime.images import DEFAULT_MAX_PIXELS
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT, check_checkpoint_parameter
from swiftcast_ros.params import ParamSpec, check_topic_name

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", DEFAULT_SEGMENTATION_CHECKPOINT,
              "Segmentation checkpoint the features come from: its skip-less decoder turns forecast features into "
              "labels, and features of any other model are rejected.", check=check_checkpoint_parameter,
              read_only=True),
    ParamSpec("horizons", list(HORIZONS), "Horizons to forecast (short = t+3 frames, about 180 ms; mid = t+9 "
              "frames, about 540 ms, at frame_period_s).", check=check_horizons,
              type=ParameterType.PARAMETER_STRING_ARRAY, read_only=True),
    *(ParamSpec(f"{h}_checkpoint", FLOW, f"Forecaster of the {h} horizon: 'flow' = flow extrapolation of "
                f"semseg/labels along the camera's optical flow (no model; the most accurate and cheapest); 'auto' "
                f"= the best checkpoint under models_dir made for checkpoint (F2MF, then DeformF2F-FT; none found -> "
                f"the horizon is skipped with a warning); or a forecaster checkpoint folder.",
                check=check_forecaster_setting, read_only=True) for h in HORIZONS),
    ParamSpec("camera_topic", "/camera/image_raw", "Camera topic flow extrapolation reads (the semseg node's); "
              "<camera_topic>/compressed with input_transport=compressed.", read_only=True, check=check_topic_name),
    ParamSpec("input_transport", "raw", "Camera message type: raw or compressed.", choices=("raw", "compressed"),
              read_only=True),
    ParamSpec("flow_preset", DEFAULT_PRESET, "DIS optical-flow preset of flow extrapolation, fastest first: "
              "ultrafast, fast, fine (the default: thin things move with their own flow), medium (about twice fine, "
              "at most 0.3 mIoU better).", choices=tuple(PRESETS), read_only=True),
    ParamSpec("flow_width", DEFAULT_FLOW_WIDTH, "Camera frames are downscaled to at most this width for the flow.",
              range=(16, 8192), read_only=True),
    ParamSpec("projection_width", DEFAULT_PROJECTION_WIDTH, "Flow extrapolation projects the labels on a grid at "
              "most this wide and reads the forecast back at the camera size (0 = project at the camera size: "
              "slower, and 0.3-0.5 mIoU better at +9 frames).", range=(0, 8192), check=check_projection_width,
              read_only=True),
    ParamSpec("models_dir", "models", "Where 'auto' looks for forecaster checkpoints.", read_only=True,
              check=check_models_dir),
    ParamSpec("device", "cpu", "Inference device: cpu, cuda, cuda:N or auto.", check=resolve_device, read_only=True),
    ParamSpec("backend", "torch", "Inference engine: torch (eager) or onnxruntime (forecaster + skip-less decoder "
              "exported to one fp32 ONNX graph per horizon on first use, cached; about 2x faster on a CPU, where "
              "torchvision's DeformConv2d is slow).", choices=FORECAST_BACKENDS, read_only=True),
    ParamSpec("num_threads", 1, "CPU threads for inference and optical flow (0 = library default).", range=(0, 256), read_only=True),
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
