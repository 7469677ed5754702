"""Checkpoint -> ONNX graph (fp32, or int8 with ONNX Runtime static QDQ quantisation), and the export cache.

Why ONNX: ONNX Runtime runs the same network 1.3-1.8x faster than torch eager on a 2-core CPU (graph optimisation,
NCHWc kernels), int8 adds another ~1.5x, and the same file is what TensorRT (``trtexec``) takes on a Jetson.

Graphs (static shapes: the runtime's fixed model input size, which is what the optimisers like best):

- segmentation: input ``image`` (1, 3, H, W) float32, normalised as in the checkpoint config; outputs ``logits``
  (1, K, H, W) and ``features`` (1, 128, ceil(H/32), ceil(W/32)) - the same single backbone pass as
  ``forward_with_features``.
- forecaster: inputs ``past_0`` .. ``past_3`` (1, C, h, w) oldest first (frames t-9, t-6, t-3, t); output
  ``forecast`` (1, C, h, w).

Every file carries ``metadata_props`` (``swiftcast.model_id``, ``swiftcast.input_size``, ``swiftcast.precision``,
``swiftcast.config`` ...), so a runtime can refuse a graph exported from other weights or for another size.

int8 calibration needs no data folder: by default the built-in synthetic world renders the calibration frames
at the model's input size on the fly (:func:`rendered_calibration_frames`, about a second); a Cityscapes-layout
folder can be given instead.

The exporter is torch's default (dynamo-based) one: it is the only one that exports torchvision's DeformConv2d
(ONNX ``DeformConv``, opset 19); the legacy TorchScript exporter fails on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from swiftcast.errors import CheckpointError, DataError, SwiftcastError

ONNX_FORMAT = "swiftcast.onnx/v1"
PRECISIONS: tuple[str, ...] = ("fp32", "int8")
SEG_INPUT = "image"
SEG_OUTPUTS: tuple[str, str] = ("logits", "features")
FORECAST_OUTPUT = "forecast"
#: opset 18 is the dynamo exporter's floor (TensorRT 8.6+ reads it); DeformConv needs 19
SEG_OPSET, DEFORM_OPSET = 18, 19
FEATURE_STRIDE = 32
#: calibration frames: positions 0, 7, 14, 21, 28 of each 30-frame snippet, i.e. never the 20th frame (index 19)
#: that the single-frame accuracy is measured on
DEFAULT_CALIB_FRAMES = "every:7"
DEFAULT_CALIB_IMAGES = 32
#: seed stream of the rendered calibration drives: disjoint from the synth splits (1, 2, 3) and drive bags (7)
CALIB_STREAM = 11
#: what an int8 export records it was calibrated on: :func:`rendered_calibration_frames`, or the frames of a data
#: folder (the prefix, then the folder)
RENDERED_FRAMES = "frames rendered by the synthetic world, each in a world of its own"
FOLDER_FRAMES = "frames of "


@dataclass(frozen=True)
class QuantSettings:
    """How :func:`quantize_int8` quantises; the defaults are what measured best (README, "ONNX Runtime and int8").

    ``calibration``: minmax | entropy | percentile. ``activations``: uint8 (asymmetric; fastest with ONNX Runtime
    on x86) | int8 (symmetric, zero point 0: what TensorRT's explicit quantisation takes). Weights: int8,
    symmetric, per output channel. ``keep_fp32_tail``: leave the classifier conv and everything after it (the upsampling of the
    logits to the input size) in float: 8-bit logits decide argmax ties badly and that part is cheap.
    ``op_types``: operators quantised; BatchNormalization stays float (no int8 kernel; quantising it only adds
    Q/DQ pairs around a float op). Clip is the ReLU6 of EfficientNet-Lite and MobileNetV2: left in float, every
    ReLU6 reads a convolution's output quantised over its whole unclipped range, which cost the EfficientNet-Lite0
    SwiftNet 9-13 mIoU on the synthetic val (0.9-1.4 with Clip quantised, and it runs faster).
    """

    calibration: str = "minmax"
    activations: str = "uint8"
    per_channel: bool = True
    keep_fp32_tail: bool = True
    op_types: tuple[str, ...] = ("Conv", "Add", "Relu", "Clip", "MaxPool", "AveragePool", "Concat", "Resize")

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "op_types": list(self.op_types), "format": "QDQ", "weights": "int8"}


DEFAULT_QUANT = QuantSettings()


# --- export ---------------------------------------------------------------------------------------------------
class _SegmentationGraph(nn.Module):
    """``forward_with_features`` as a plain forward: the exporter traces ``forward`` only."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_with_features(image)


class _ForecasterGraph(nn.Module):
    """Four separate past maps in (what a deployment has), concatenated oldest first inside the graph."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *past: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat(past, dim=1))


def _has_deform(model: nn.Module) -> bool:
    from torchvision.ops import DeformConv2d

    return any(isinstance(m, DeformConv2d) for m in model.modules())


def _torch_export(module: nn.Module, args: tuple[torch.Tensor, ...], out: Path, inputs: Sequence[str],
                  outputs: Sequence[str], opset: int) -> None:
    """torch.onnx.export (dynamo) into ``out`` as ONE self-contained file; its chatter is kept off the console."""
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module.eval(), args, dynamo=True, input_names=list(inputs),
                                        output_names=list(outputs), opset_version=opset, optimize=True,
                                        verbose=False)
    except Exception as exc:  # the exporter raises many types; the user needs to know which model failed and why
        last = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SwiftcastError(f"ONNX export failed: {last}") from exc
    program.save(str(out), external_data=False)


def _with_metadata(path: Path, metadata: Mapping[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save_model(proto, str(path))


def _metadata_for(config: Mapping[str, Any], size: tuple[int, int], precision: str) -> dict[str, str]:
    keep = ("kind", "architecture", "arch_kwargs", "num_classes", "class_names", "normalization", "model_id",
            "method", "horizon", "horizon_frames", "feature_model_id", "input_offsets")
    small = {k: config[k] for k in keep if k in config}
    return {
        "swiftcast.format": ONNX_FORMAT,
        "swiftcast.model_id": str(config.get("model_id", "")),
        "swiftcast.kind": str(config.get("kind", "segmentation")),
        "swiftcast.architecture": str(config.get("architecture", "")),
        "swiftcast.input_size": f"{size[0]}x{size[1]}",
        "swiftcast.precision": precision,
        "swiftcast.config": json.dumps(small, sort_keys=True),
    }


def feature_size(size: Sequence[int]) -> tuple[int, int]:
    """Stride-32 feature map size for an image size (ceil, like the backbone's padding)."""
    return -(-int(size[0]) // FEATURE_STRIDE), -(-int(size[1]) // FEATURE_STRIDE)


def _export_file(graph: nn.Module, args: tuple[torch.Tensor, ...], out: Path, inputs: Sequence[str],
                 outputs: Sequence[str], opset: int, metadata: Mapping[str, str]) -> Path:
    """Export ``graph`` with ``metadata`` to ``out`` via a temporary file (never a half file under the name)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        _torch_export(graph, args, tmp, inputs, outputs, opset)
        _with_metadata(tmp, metadata)
        os.replace(tmp, out)  # another process may export the same cache entry
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _past_inputs(model: nn.Module, config: Mapping[str, Any], size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    num_past, channels = int(getattr(model, "num_past", 4)), int(getattr(model, "in_channels", 128))
    if getattr(model, "needs_future", False) or not any(True for _ in model.parameters()):
        raise CheckpointError(f"forecaster {config.get('architecture')!r} has nothing to export "
                              "(copy-last and the oracle need no network)")
    return tuple(torch.zeros(1, channels, *feature_size(size)) for _ in range(num_past))


def export_fp32(model: nn.Module, config: Mapping[str, Any], out: str | os.PathLike[str],
                size: Sequence[int]) -> Path:
    """Export a loaded checkpoint (segmentation model or forecaster) at image size ``size`` = (H, W)."""
    size = (int(size[0]), int(size[1]))
    model = model.to("cpu").eval()
    metadata = _metadata_for(config, size, "fp32")
    if config.get("kind", "segmentation") == "segmentation":
        if not hasattr(model, "forward_with_features"):
            raise CheckpointError(f"architecture {config.get('architecture')!r} has no features to export")
        x = torch.zeros(1, 3, *size)
        return _export_file(_SegmentationGraph(model), (x,), Path(out), [SEG_INPUT], SEG_OUTPUTS, SEG_OPSET, metadata)
    past = _past_inputs(model, config, size)
    opset = DEFORM_OPSET if _has_deform(model) else SEG_OPSET
    return _export_file(_ForecasterGraph(model), past, Path(out), forecaster_inputs(len(past)), [FORECAST_OUTPUT],
                        opset, metadata)


def export_logits(model: nn.Module, size: Sequence[int], out: str | os.PathLike[str]) -> Path:
    """Any segmentation model (SwiftNet or a torchvision comparison baseline) as an fp32 graph ``image`` ->
    ``logits`` at ``size``: what benchmarks/pareto.py times every architecture with (no features, no metadata)."""
    x = torch.zeros(1, 3, int(size[0]), int(size[1]))
    return _export_file(model.to("cpu").eval(), (x,), Path(out), [SEG_INPUT], ["logits"], SEG_OPSET, {})


class _ForecastDecodeGraph(nn.Module):
    """Past maps -> forecaster -> the skip-less forecast decoder -> logits at the decoder's stride 4: everything
    the forecast node runs per horizon, as one graph (no float features cross the runtime boundary)."""

    def __init__(self, forecaster: nn.Module, decoder: nn.Module, decode_size: tuple[int, int]) -> None:
        super().__init__()
        self.forecaster, self.decoder, self.decode_size = forecaster, decoder, decode_size

    def forward(self, *past: torch.Tensor) -> torch.Tensor:
        future = self.forecaster(torch.cat(past, dim=1))
        return self.decoder(future, out_size=self.decode_size, upsample_logits=False)


class _FineForecastGraph(nn.Module):
    """F2MF per horizon as one graph: past maps and frame t's single-frame trainIds on the decoder's stride-4 grid
    (``last_labels``, uint8) -> class probabilities there (the warped labels blended with the decoded F2F branch).
    GridSample needs opset 16; the exporter's floor of 18 has it."""

    def __init__(self, forecaster: nn.Module, decoder: nn.Module, decode_size: tuple[int, int]) -> None:
        super().__init__()
        self.forecaster, self.decoder, self.decode_size = forecaster, decoder, decode_size

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        *past, last = inputs
        return self.forecaster(torch.cat(past, dim=1), last_fine=last, decode=self._decode)

    def _decode(self, features: torch.Tensor) -> torch.Tensor:
        return self.decoder(features, out_size=self.decode_size, upsample_logits=False)


#: the extra input of a forecaster that warps the newest frame's labels (F2MF): (1, H/4, W/4) uint8 trainIds
LAST_LABELS_INPUT = "last_labels"


def forecast_decode_id(forecaster_config: Mapping[str, Any], seg_config: Mapping[str, Any]) -> str:
    """The cache key of a forecast+decode graph: both sets of weights (the segmentation checkpoint's model_id
    covers its forecast decoder)."""
    return f"{forecaster_config.get('model_id', '')}+{seg_config.get('model_id', '')}"


def ensure_forecast_export(forecaster_dir: Path, forecaster: nn.Module, forecaster_config: Mapping[str, Any],
                           decoder: nn.Module, seg_config: Mapping[str, Any], feature_size_of: Sequence[int],
                           decode_size: Sequence[int], cache_dir: str | os.PathLike[str] | None = None,
                           log: Any = None) -> Path:
    """The fp32 ONNX graph forecaster + skip-less decoder (outputs ``logits`` at stride 4 of ``decode_size``) for
    past features of an image of ``feature_size_of``: a matching existing export, else a new one in the cache.

    A forecaster that warps the newest frame's labels (F2MF) also takes :data:`LAST_LABELS_INPUT` and outputs
    ``probs`` (class probabilities at stride 4) instead.

    fp32 only: ONNX Runtime has no int8 DeformConv, and the graph is small (the node's cost is per horizon)."""
    fh, fw = feature_size(feature_size_of)
    fine = bool(getattr(forecaster, "needs_last_labels", False))
    # key: both sets of weights, the feature map size and (as the export's size) the decode size
    model_id = f"{forecast_decode_id(forecaster_config, seg_config)}+f{fh}x{fw}" + ("+fine" if fine else "")
    size = (int(decode_size[0]), int(decode_size[1]))
    found, target = find_export(forecaster_dir, model_id, size, "fp32", cache_dir)
    if found is not None:
        return found
    say = log or (lambda _msg: None)
    say(f"exporting forecaster+decoder {model_id} for {size[0]}x{size[1]} to ONNX (first use; cached in "
        f"{target.parent}) ...")
    t0 = time.perf_counter()
    forecaster, decoder = forecaster.to("cpu").eval(), decoder.to("cpu").eval()
    past = _past_inputs(forecaster, forecaster_config, (int(feature_size_of[0]), int(feature_size_of[1])))
    metadata = _metadata_for({**forecaster_config, "kind": "forecast_decode", "model_id": model_id}, size, "fp32")
    opset = DEFORM_OPSET if _has_deform(forecaster) else SEG_OPSET
    if fine:
        from swiftcast.models.upsample import size_at_stride

        last = torch.zeros(1, *size_at_stride(size, 4), dtype=torch.uint8)
        out = _export_file(_FineForecastGraph(forecaster, decoder, size), (*past, last), target,
                           [*forecaster_inputs(len(past)), LAST_LABELS_INPUT], ["probs"], opset, metadata)
    else:
        out = _export_file(_ForecastDecodeGraph(forecaster, decoder, size), past, target,
                           forecaster_inputs(len(past)), ["logits"], opset, metadata)
    say(f"exported forecaster+decoder {model_id} in {time.perf_counter() - t0:.1f} s: {out}")
    return out


def forecaster_inputs(num_past: int = 4) -> list[str]:
    """Input names of a forecaster graph, oldest first."""
    return [f"past_{i}" for i in range(num_past)]


# --- int8 -----------------------------------------------------------------------------------------------------
def calibration_frames(data: str | os.PathLike[str], size: Sequence[int], mean: Sequence[float],
                       std: Sequence[float], count: int = DEFAULT_CALIB_IMAGES, split: str = "val",
                       frames: str = DEFAULT_CALIB_FRAMES) -> list[np.ndarray]:
    """``count`` normalised (1, 3, H, W) frames spread evenly over a Cityscapes-layout split."""
    from swiftcast.data.cityscapes import CityscapesDataset
    from swiftcast.data.transforms import EvalTransform

    if count < 1:
        raise SwiftcastError(f"calibration needs at least 1 image (got {count})")
    dataset = CityscapesDataset(data, split, frames=frames, transform=EvalTransform(tuple(size), mean, std),
                                require_labels=False)
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int))
    return [dataset[int(i)]["image"].unsqueeze(0).numpy() for i in picks]


def rendered_calibration_frames(size: Sequence[int], mean: Sequence[float], std: Sequence[float],
                                count: int = DEFAULT_CALIB_IMAGES, seed: int = 0) -> list[np.ndarray]:
    """``count`` normalised (1, 3, H, W) frames rendered by the synthetic world at ``size``: no data folder needed.

    Every frame comes from a short drive of its own (a world of its own seed stream: never a frame of the synthetic
    train/val/test splits), taken at a time spread evenly over the drives' length. Many worlds calibrate better
    than many frames of few: on world seeds 1 / 2 / 3 the shipped EfficientNet-Lite0 model scores 0.1-0.3 mIoU more
    in int8 than with 32 frames from 8 drives, about as much as with 128 frames from 32, for about 5 s more on a first
    start (building the worlds). Deterministic for a seed, so an export is reproducible.
    """
    from swiftcast.data.transforms import normalize_rgb
    from swiftcast.synth.sequences import FRAMES_PER_SEQUENCE, check_size

    if count < 1:
        raise SwiftcastError(f"calibration needs at least 1 image (got {count})")
    h, w = check_size((int(size[0]), int(size[1])))
    try:
        from swiftcast.synth.render import Renderer
        from swiftcast.synth.scene import generate_world
        from swiftcast.synth.world import FPS, Intrinsics

        renderer = Renderer(h, w)
    except Exception as exc:  # no OpenGL (EGL/llvmpipe) on this machine: the user needs one line and a way out
        last = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot render int8 calibration frames ({last}); pass a calibration folder "
                        "(--calib-data DIR, a Cityscapes-layout folder) or use precision fp32") from None
    intr = Intrinsics.for_size(h, w)
    frames: list[np.ndarray] = []
    try:
        for index, k in enumerate(np.linspace(0, FRAMES_PER_SEQUENCE - 1, count).round().astype(int)):
            world_ss, noise_ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, CALIB_STREAM, index]).spawn(2)
            world = generate_world(np.random.default_rng(world_ss), (FRAMES_PER_SEQUENCE - 1) / FPS)
            rgb, _ = world.render(renderer, k / FPS, intr)
            rgb = world.postprocess(rgb, k / FPS, np.random.default_rng(noise_ss))
            frames.append(normalize_rgb(rgb, tuple(mean), tuple(std)).unsqueeze(0).numpy())
    finally:
        renderer.release()
    return frames


def _fp32_tail(model_path: Path, output: str) -> list[str]:
    """Nodes from the last Conv before ``output`` to ``output`` (the classifier and the logit upsampling)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    producer = {o: n for n in graph.node for o in n.output}
    tail: list[str] = []
    frontier = [output]
    while frontier:
        node = producer.get(frontier.pop())
        if node is None or node.name in tail:
            continue
        tail.append(node.name)
        if node.op_type != "Conv":
            frontier += [i for i in node.input if i in producer]
    return tail


def quantize_int8(fp32_path: str | os.PathLike[str], out: str | os.PathLike[str], frames: Sequence[np.ndarray],
                  settings: QuantSettings = DEFAULT_QUANT, calibrated_on: str = "") -> Path:
    """Static QDQ int8 of a segmentation graph, calibrated on ``frames`` (normalised (1, 3, H, W) arrays), which
    the export records as ``calibrated_on`` (e.g. :data:`RENDERED_FRAMES`).

    ``quant_pre_process`` (shape inference + basic graph optimisation: BN folded into the convs) runs first, as
    ONNX Runtime recommends; the metadata of the fp32 graph is carried over with precision=int8.
    """
    import logging

    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    if settings.calibration not in methods:
        raise SwiftcastError(f"calibration {settings.calibration!r} is not one of {', '.join(methods)}")
    if settings.activations not in types:
        raise SwiftcastError(f"activation type {settings.activations!r} is not one of {', '.join(types)}")
    if not frames:
        raise SwiftcastError("int8 calibration needs at least one frame")
    fp32_path, out = Path(fp32_path), Path(out)
    meta = read_metadata(fp32_path)
    if meta.get("swiftcast.kind", "segmentation") != "segmentation":
        raise SwiftcastError("int8 quantisation is implemented for segmentation models only")

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[np.ndarray] = iter(frames)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {SEG_INPUT: np.ascontiguousarray(x, np.float32)}

    out.parent.mkdir(parents=True, exist_ok=True)
    quiet = logging.getLogger()
    level = quiet.level
    with tempfile.TemporaryDirectory(prefix="swiftcast-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quiet.setLevel(logging.ERROR)  # quant tools log a warning per rank-1 tensor; nothing a user can act on
        try:
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            exclude = _fp32_tail(pre, SEG_OUTPUTS[0]) if settings.keep_fp32_tail else []
            staged = Path(tmp) / "int8.onnx"
            quantize_static(str(pre), str(staged), Frames(), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=list(settings.op_types), per_channel=settings.per_channel,
                            activation_type=types[settings.activations], weight_type=QuantType.QInt8,
                            nodes_to_exclude=exclude, calibrate_method=methods[settings.calibration],
                            extra_options={"WeightSymmetric": True,
                                           "ActivationSymmetric": settings.activations == "int8"})
        finally:
            quiet.setLevel(level)
        proto = onnx.load(str(staged))
        meta = {**meta, "swiftcast.precision": "int8",
                "swiftcast.quantization": json.dumps({**settings.describe(), "calibration_images": len(frames),
                                                     "calibrated_on": calibrated_on})}
        del proto.metadata_props[:]
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        tmp_out = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            onnx.save_model(proto, str(tmp_out))
            os.replace(tmp_out, out)
        finally:
            tmp_out.unlink(missing_ok=True)
    return out


# --- metadata and cache ---------------------------------------------------------------------------------------
def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (empty for a file we did not write); DataError if unreadable."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have no common base class
        raise DataError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    return {p.key: p.value for p in proto.metadata_props}


def default_cache_dir() -> Path:
    """``$SWIFTCAST_CACHE_DIR/onnx``, else ``$XDG_CACHE_HOME/swiftcast/onnx``, else ``~/.cache/swiftcast/onnx``."""
    if os.environ.get("SWIFTCAST_CACHE_DIR"):
        return Path(os.environ["SWIFTCAST_CACHE_DIR"]) / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "swiftcast" / "onnx"


def export_name(model_id: str, size: Sequence[int], precision: str) -> str:
    """``<model_id>_<H>x<W>_<precision>.onnx``: what a cached export is called (the key of the cache)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id) or "model"
    return f"{safe}_{int(size[0])}x{int(size[1])}_{precision}.onnx"


def candidate_paths(checkpoint_dir: Path, model_id: str, size: Sequence[int], precision: str,
                    cache_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where an export is looked for: ``<checkpoint>/onnx/`` (shipped or user-made), then the cache dir."""
    name = export_name(model_id, size, precision)
    return [checkpoint_dir / "onnx" / name, Path(cache_dir or default_cache_dir()) / name]


def find_export(checkpoint_dir: Path, model_id: str, size: Sequence[int], precision: str,
                cache_dir: str | os.PathLike[str] | None = None, quant: QuantSettings | None = None,
                calibrated_on: str | None = None) -> tuple[Path | None, Path]:
    """(an existing export matching weights, size and precision (and, for int8, ``quant`` and ``calibrated_on``)
    or None, where a new one goes: the cache)."""
    candidates = candidate_paths(checkpoint_dir, model_id, size, precision, cache_dir)
    found = next((p for p in candidates
                  if p.is_file() and matches(p, model_id, size, precision, quant, calibrated_on)), None)
    return found, candidates[-1]


def matches(path: Path, model_id: str, size: Sequence[int], precision: str,
            quant: QuantSettings | None = None, calibrated_on: str | None = None) -> bool:
    """The file at ``path`` was exported from these weights at this size and precision; for an int8 export and
    given ``quant``, also quantised that way, and given ``calibrated_on``, calibrated on such frames (an export made
    by an earlier version with other settings or frames is made again, not reused)."""
    try:
        meta = read_metadata(path)
    except DataError:
        return False
    if not (meta.get("swiftcast.model_id") == model_id and meta.get("swiftcast.precision") == precision
            and meta.get("swiftcast.input_size") == f"{int(size[0])}x{int(size[1])}"):
        return False
    if precision != "int8" or quant is None:
        return True
    try:
        recorded = json.loads(meta.get("swiftcast.quantization", "{}"))
    except json.JSONDecodeError:
        return False
    recorded.pop("calibration_images", None)
    return _calibrated_well(recorded.pop("calibrated_on", None), calibrated_on) and recorded == quant.describe()


def _calibrated_well(recorded: str | None, wanted: str | None) -> bool:
    """Whether an int8 export calibrated on ``recorded`` frames serves where a new one would be calibrated on
    ``wanted`` (None: any). One calibrated on a data folder is someone's deliberate choice and serves; one that does
    not say (an earlier version's) or was rendered otherwise is made again."""
    if wanted is None or recorded == wanted:
        return True
    return recorded is not None and recorded.startswith(FOLDER_FRAMES)


@dataclass
class ExportRequest:
    """What :func:`ensure_export` needs besides the loaded model (all optional)."""

    cache_dir: str | os.PathLike[str] | None = None
    calib_data: str | os.PathLike[str] | None = None
    calib_images: int = DEFAULT_CALIB_IMAGES
    calib_split: str = "val"
    calib_frames: str = DEFAULT_CALIB_FRAMES
    quant: QuantSettings = field(default_factory=QuantSettings)


def ensure_export(checkpoint_dir: Path, model: nn.Module, config: Mapping[str, Any], size: Sequence[int],
                  precision: str, request: ExportRequest | None = None, log: Any = None) -> Path:
    """The ONNX file for (weights, size, precision): a matching existing export, else a new one in the cache.

    An int8 export is calibrated on ``request.calib_data`` (a Cityscapes-layout folder) when given, else on frames
    the synthetic world renders at ``size`` (:func:`rendered_calibration_frames`): no data folder needed. Each
    step that has to run logs how long it took (a first start waits for it).
    """
    from swiftcast.runtime.paths import resolve_user_path

    if precision not in PRECISIONS:
        raise SwiftcastError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    request = request or ExportRequest()
    model_id = str(config.get("model_id") or "")
    if not model_id:
        raise CheckpointError(f"{checkpoint_dir}: config has no model_id; re-save the checkpoint")
    found, target = find_export(checkpoint_dir, model_id, size, precision, request.cache_dir, request.quant,
                                None if request.calib_data else RENDERED_FRAMES)
    if found is not None:
        return found
    say = log or (lambda _msg: None)
    fp32 = target.with_name(export_name(model_id, size, "fp32"))
    if precision == "fp32" or not (fp32.is_file() and matches(fp32, model_id, size, "fp32")):
        say(f"exporting {model_id} at {size[0]}x{size[1]} to ONNX (first use; cached in {fp32.parent}) ...")
        t0 = time.perf_counter()
        export_fp32(model, config, fp32, size)
        say(f"exported {model_id} at {size[0]}x{size[1]} (fp32) in {time.perf_counter() - t0:.1f} s: {fp32}")
    if precision == "fp32":
        return fp32
    norm = config.get("normalization") or {}
    from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD

    mean, std = norm.get("mean", CITYSCAPES_MEAN), norm.get("std", CITYSCAPES_STD)
    t0 = time.perf_counter()
    if request.calib_data:
        data = resolve_user_path(request.calib_data)
        if not data.exists():
            raise DataError(
                f"calibration data {data} not found; make the int8 export of {model_id} with 'swiftcast "
                f"export-onnx --model {checkpoint_dir} --precision int8 --size {size[0]}x{size[1]}' (frames "
                "rendered by the synthetic world) or pass an existing Cityscapes-layout folder"
            )
        frames = calibration_frames(data, size, mean, std, request.calib_images, request.calib_split,
                                    request.calib_frames)
        source, calibrated_on = f"from {data}", f"{FOLDER_FRAMES}{data}"
    else:
        frames = rendered_calibration_frames(size, mean, std, request.calib_images)
        source, calibrated_on = "rendered by the synthetic world", RENDERED_FRAMES
    say(f"quantising {model_id} to int8 ({len(frames)} calibration frames {source}) ...")
    out = quantize_int8(fp32, target, frames, request.quant, calibrated_on)
    say(f"quantised {model_id} at {size[0]}x{size[1]} to int8 in {time.perf_counter() - t0:.1f} s: {out}")
    return out


def file_digest(path: Path) -> str:
    """Short sha256 of a file (printed by the export command so two exports can be compared)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]

