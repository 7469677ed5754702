"""One camera frame -> trainId labels at the camera's size + SPP features: everything the semseg node computes.

The node is a thin adapter around :class:`Segmenter`: it decodes a message (:mod:`swiftcast.runtime.images`), calls
the segmenter, and packs the result into messages. Keeping the work here means it is tested, benchmarked and
reused (replay, soak) without ROS.

Per frame: resize to the model's input size (``swiftcast.data.transforms.resize_rgb``, the interpolation used in
training), flip BGR->RGB at that (smaller) size, normalise, ONE ``forward_with_features`` pass (backbone + SPP
shared by labels and features), argmax, nearest-neighbour resize of the labels back to the camera size.
On request the per-pixel confidence comes from the same logits: 255 x the maximum softmax probability (uint8), the
convention of the forecast node's confidence, resized back like the labels.

``backend`` picks the inference engine (same two outputs from the same normalised input): ``"torch"`` (eager) or
``"onnxruntime"`` with ``precision`` ``"fp32"``, ``"int8"`` (static QDQ) or ``"auto"`` (int8 where the CPU has
int8 dot products; elsewhere whichever of the two measures faster at start: :func:`choose_precision`). The ONNX graph is exported on first
use and cached by model_id + input size + precision (:mod:`swiftcast.runtime.onnx_export`), so a user only
points at the checkpoint.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
import torch

from swiftcast.data.labels import CLASS_NAMES
from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD, normalize_rgb, resize_label, resize_rgb
from swiftcast.errors import CheckpointError, SetupError, SwiftcastError
from swiftcast.hardware import resolve_device
from swiftcast.runtime.features import FEATURE_DTYPES
from swiftcast.runtime.images import ColorImage
from swiftcast.runtime.paths import resolve_user_path

BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")
#: numeric precision of the model; int8 needs the onnxruntime backend; auto = the fastest for this machine
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "int8")
#: Output stride of the SPP features (SwiftNet: 32).
FEATURE_STRIDE: int = 32


@dataclass
class Segmentation:
    """Result of one frame."""

    labels: np.ndarray  # (H, W) uint8 trainIds at the camera's size
    features: np.ndarray | None  # (C, h, w) float16/float32, C-contiguous; None if not requested
    model_ms: float  # preprocessing + forward + argmax
    total_ms: float  # everything in Segmenter.__call__ (incl. resizing the labels back)
    confidence: np.ndarray | None = None  # (H, W) uint8, 255 x max softmax, at the camera's size; None unless asked


#: what a backend returns: labels (H, W) uint8, features (C, h, w) or None, confidence (H, W) uint8 or None
BackendResult = tuple[np.ndarray, "np.ndarray | None", "np.ndarray | None"]


class Backend(Protocol):
    """An inference engine: normalised (1, 3, H, W) float32 -> labels (H, W) uint8, features (C, h, w) and, when
    asked, the confidence (H, W) uint8 (255 x max softmax) at the model's size."""

    def run(self, x: torch.Tensor, want_features: bool, want_confidence: bool = False) -> BackendResult: ...


class TorchBackend:
    """Eager PyTorch on CPU or CUDA; the features come from the same backbone pass as the logits."""

    def __init__(self, model: torch.nn.Module, device: torch.device, feature_dtype: str) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.feature_dtype = getattr(torch, feature_dtype)

    @torch.inference_mode()
    def run(self, x: torch.Tensor, want_features: bool, want_confidence: bool = False) -> BackendResult:
        x = x.to(self.device, non_blocking=True)
        logits, feats = self.model.forward_with_features(x)
        # channels-last first: torch's argmax over the channels of an NCHW map is ~3x slower than copy + argmax
        logits = logits.contiguous(memory_format=torch.channels_last)
        labels = logits.argmax(1)[0].to(torch.uint8).cpu().numpy()
        confidence = None
        if want_confidence:  # max softmax = 1 / sum(exp(l - max l)): no full softmax map needed
            top = logits.float().amax(1, keepdim=True)
            prob = 1.0 / torch.exp(logits.float() - top).sum(1)
            confidence = (prob[0] * 255).round().to(torch.uint8).cpu().numpy()
        features = feats[0].to(self.feature_dtype).contiguous().cpu().numpy() if want_features else None
        return labels, features, confidence


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU (or CUDA with onnxruntime-gpu) running an exported graph (fp32 or int8 QDQ).

    Session: all graph optimisations (constant folding, conv fusions, NCHWc layouts, QDQ -> QLinear kernels),
    ``num_threads`` intra-op threads (0 = one per physical core), sequential execution (a chain of convs has no
    parallel branches worth a second pool). ``expect`` = metadata the graph must carry (model_id, input size), so
    a stale or foreign file is refused instead of silently serving other weights. Idle pool threads sleep
    (``spin=False``, the default) instead of busy-waiting: a spinning pool keeps stealing the CPU from whatever runs
    next on a 2-core machine (the argmax, the other node, the camera driver); with spinning on, int8 RN-18 measured
    10-15 % slower per frame in bench_realtime's interleaved rounds, never faster.
    """

    def __init__(self, path: str | os.PathLike[str], feature_dtype: str, num_threads: int = 0,
                 device: torch.device | None = None, expect: dict[str, str] | None = None,
                 spin: bool = False) -> None:
        self.session = ort_session(path, num_threads, device, expect, spin)
        self.path = str(path)
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        names = [o.name for o in self.session.get_outputs()]
        if names[:2] != ["logits", "features"]:
            raise SwiftcastError(f"{path}: outputs {names}, expected logits and features (a segmentation export)")
        self.input_name = self.session.get_inputs()[0].name
        self.feature_dtype = np.dtype(feature_dtype)
        self.argmax = ort_session(_argmax_graph(), num_threads, None, None, spin)
        self.confidence = ort_session(_confidence_graph(), num_threads, None, None, spin)

    def run(self, x: torch.Tensor, want_features: bool, want_confidence: bool = False) -> BackendResult:
        logits, feats = self.session.run(None, {self.input_name: x.numpy()})
        labels = self.argmax.run(None, {"logits": logits})[0][0]
        confidence = self.confidence.run(None, {"logits": logits})[0][0] if want_confidence else None
        features = np.ascontiguousarray(feats[0], self.feature_dtype) if want_features else None
        return labels, features, confidence


def _argmax_graph() -> bytes:
    """A one-node ONNX graph: (1, K, H, W) float logits -> (1, H, W) uint8 trainIds.

    The argmax over the classes at full size is a real share of a frame (19 x 256 x 512, 2 threads, quiet
    machine): ONNX Runtime's ArgMax 3.0 ms, numpy 8.7, torch on the NCHW map 16.6. Kept out of the exported model
    so every export (and its parity test on the logits) stays as it is.
    """
    from onnx import TensorProto, helper

    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "classes", "height", "width"])
    labels = helper.make_tensor_value_info("labels", TensorProto.UINT8, [1, "height", "width"])
    graph = helper.make_graph(
        [helper.make_node("ArgMax", ["logits"], ["index"], axis=1, keepdims=0),
         helper.make_node("Cast", ["index"], ["labels"], to=TensorProto.UINT8)],
        "swiftcast_argmax", [logits], [labels])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def _confidence_graph() -> bytes:
    """(1, K, H, W) float logits -> (1, H, W) uint8 = round(255 x max softmax), as 255 / sum(exp(l - max l)).

    A post-processing graph like :func:`_argmax_graph`, so the exported models (and their caches) stay as they are.
    """
    from onnx import TensorProto, helper

    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "classes", "height", "width"])
    confidence = helper.make_tensor_value_info("confidence", TensorProto.UINT8, [1, "height", "width"])
    consts = [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
              helper.make_tensor("scale", TensorProto.FLOAT, [], [255.0]),
              helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])]
    nodes = [
        helper.make_node("ReduceMax", ["logits", "axes"], ["top"], keepdims=1),
        helper.make_node("Sub", ["logits", "top"], ["shifted"]),
        helper.make_node("Exp", ["shifted"], ["exp"]),
        helper.make_node("ReduceSum", ["exp", "axes"], ["total"], keepdims=0),
        helper.make_node("Div", ["scale", "total"], ["scaled"]),
        helper.make_node("Add", ["scaled", "half"], ["rounded"]),  # Cast truncates: +0.5 rounds (values > 0)
        helper.make_node("Cast", ["rounded"], ["confidence"], to=TensorProto.UINT8),
    ]
    graph = helper.make_graph(nodes, "swiftcast_confidence", [logits], [confidence], initializer=consts)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def ort_session(path: str | os.PathLike[str] | bytes, num_threads: int = 0, device: torch.device | None = None,
                expect: dict[str, str] | None = None, spin: bool = False):
    """An ``onnxruntime.InferenceSession`` set up as :class:`OnnxRuntimeBackend` describes; a graph whose
    ``metadata_props`` differ from ``expect`` is refused (SwiftcastError, one line)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = max(0, int(num_threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT warns about every unused initializer
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    providers = ["CPUExecutionProvider"]
    if device is not None and device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise SwiftcastError("backend onnxruntime on cuda needs the onnxruntime-gpu package (only "
                                 f"{', '.join(ort.get_available_providers())} here); use device cpu")
        providers.insert(0, "CUDAExecutionProvider")
    try:
        session = ort.InferenceSession(path if isinstance(path, bytes) else str(path), options, providers=providers)
    except Exception as exc:  # ORT raises its own exception types for unreadable/invalid graphs
        raise SwiftcastError(f"{path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0]})") from None
    metadata = session.get_modelmeta().custom_metadata_map
    for key, value in (expect or {}).items():
        if metadata.get(key) != value:
            raise SwiftcastError(f"{path}: {key} is {metadata.get(key)!r}, expected {value!r} (exported "
                                 "from other weights or for another size; delete it to re-export)")
    return session


def check_input_size(size: Sequence[int] | None) -> tuple[int, int] | None:
    """``None``/empty (= the checkpoint's) or ``[H, W]`` with both sides >= the feature stride."""
    if size is None or len(size) == 0:
        return None
    if len(size) != 2 or any(int(v) < FEATURE_STRIDE for v in size):
        raise SwiftcastError(f"input size {list(size)} must be [H, W] with H, W >= {FEATURE_STRIDE} (or empty)")
    return int(size[0]), int(size[1])


class Segmenter:
    """Loads a segmentation checkpoint and segments frames of any size.

    Args:
        checkpoint: checkpoint folder (or its weights file); relative paths per :mod:`swiftcast.runtime.paths`.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        input_size: (H, W) the image is resized to before the model; None = the checkpoint's ``input_size``.
        backend: inference engine: ``torch`` or ``onnxruntime``.
        precision: ``fp32``, ``int8`` (onnxruntime only; static QDQ, calibrated on rendered synthetic frames) or
            ``auto`` (:func:`choose_precision`; the choice and its reason go to ``log``).
        feature_dtype: ``float16`` (half the bytes on the wire) or ``float32``.
        num_threads: CPU threads for torch and ONNX Runtime (torch's is process-wide; 0 = library default).
        export: where ONNX exports are cached and which frames calibrate an int8 export
            (:class:`swiftcast.runtime.onnx_export.ExportRequest`; default cache ``~/.cache/swiftcast/onnx``).
        log: called with a line when an ONNX export has to be made first (it takes tens of seconds) and with
            what ``precision: auto`` chose.
    """

    #: what :meth:`from_settings` reads: a change to any of these needs a new Segmenter
    SETTINGS: tuple[str, ...] = ("checkpoint", "device", "backend", "precision", "input_size", "feature_dtype",
                                 "num_threads")

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        device: str = "cpu",
        input_size: Sequence[int] | None = None,
        backend: str = "torch",
        feature_dtype: str = "float16",
        num_threads: int = 0,
        warmup: bool = True,
        precision: str = "fp32",
        export: Any = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise SwiftcastError(f"backend {backend!r} is not available (choose from {', '.join(BACKENDS)})")
        check_precision(backend, precision)
        if feature_dtype not in FEATURE_DTYPES:
            raise SwiftcastError(f"feature dtype {feature_dtype!r} is not one of {', '.join(FEATURE_DTYPES)}")
        override = check_input_size(input_size)
        dev = resolve_device(device)
        say = log or (lambda _line: None)
        chosen, self.precision_reason = choose_precision(backend, precision, dev)
        #: auto on a CPU without int8 dot products: int8 runs if it is measurably faster here (see :func:`faster_of`)
        measure = precision == "auto" and backend == "onnxruntime" and dev.type == "cpu" and chosen == "fp32"
        if num_threads > 0:
            torch.set_num_threads(int(num_threads))
        from swiftcast.models import load_segmentation_model  # the models package is heavy; import when needed

        path = resolve_user_path(checkpoint)
        model, config = load_segmentation_model(checkpoint)
        if precision == "auto" and not measure:  # said once the checkpoint is known good: one error line for a bad one
            say(f"precision auto -> {chosen}: {self.precision_reason}")
        self.checkpoint: str = str(path)
        self.config: dict[str, Any] = config
        self.device = dev
        self.backend_name = backend
        self.precision = chosen  # what runs (fp32 | int8); requested_precision may be auto
        self.requested_precision = precision
        self.feature_dtype = feature_dtype
        self.model = model
        self.input_size: tuple[int, int] = override or _config_input_size(config, path)
        norm = config.get("normalization") or {}
        self.mean = tuple(norm.get("mean", CITYSCAPES_MEAN))
        self.std = tuple(norm.get("std", CITYSCAPES_STD))
        self.onnx_path: str | None = None
        if backend == "torch":
            self.backend: Backend = TorchBackend(model, dev, feature_dtype)
        else:
            from swiftcast.runtime.onnx_export import ensure_export

            folder = path if path.is_dir() else path.parent
            if measure:
                onnx_path = self._measure_precision(folder, model, config, export, log, num_threads, dev, say)
            else:
                try:
                    onnx_path = ensure_export(folder, model, config, self.input_size, self.precision, export, log)
                except SwiftcastError as exc:
                    if precision != "auto" or self.precision == "fp32":
                        raise
                    # auto means the fastest that works: a machine that cannot make the int8 export still runs
                    say(f"precision auto -> fp32: no int8 export ({exc})")
                    self.precision, self.precision_reason = "fp32", f"int8 export failed: {exc}"
                    onnx_path = ensure_export(folder, model, config, self.input_size, "fp32", export, log)
            h, w = self.input_size
            expect = {"swiftcast.model_id": self.model_id, "swiftcast.input_size": f"{h}x{w}",
                      "swiftcast.precision": self.precision}
            self.backend = OnnxRuntimeBackend(onnx_path, feature_dtype, num_threads, dev, expect)
            self.onnx_path = str(onnx_path)
        if warmup:  # first passes allocate and pick kernels; do it before the first real frame
            dummy = np.zeros((*self.input_size, 3), np.uint8)
            self(dummy)

    def _measure_precision(self, folder: Any, model: torch.nn.Module, config: Mapping[str, Any], export: Any,
                           log: Callable[[str], None] | None, num_threads: int, device: torch.device,
                           say: Callable[[str], None]) -> Any:
        """``precision: auto`` on a CPU without int8 dot products: both exports timed here; the faster one's path."""
        from swiftcast.runtime.onnx_export import ensure_export

        paths = {"fp32": ensure_export(folder, model, config, self.input_size, "fp32", export, log)}
        try:
            paths["int8"] = ensure_export(folder, model, config, self.input_size, "int8", export, log)
        except SwiftcastError as exc:
            self.precision, self.precision_reason = "fp32", f"{self.precision_reason}; no int8 export ({exc})"
        else:
            self.precision, measured = measured_choice(time_exports(paths, self.input_size, num_threads, device))
            self.precision_reason = f"{self.precision_reason}; {measured}"
        say(f"precision auto -> {self.precision}: {self.precision_reason}")
        return paths[self.precision]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], log: Callable[[str], None] | None = None) -> "Segmenter":
        """A segmenter configured by the semseg node's parameters (the names of :data:`SETTINGS`; an empty
        ``input_size`` = the checkpoint's). A failure raises :class:`SetupError` naming the setting(s) to fix."""
        s = settings
        try:
            check_precision(s["backend"], s["precision"])
        except SwiftcastError as exc:
            raise SetupError("precision", str(exc)) from None
        try:
            return cls(s["checkpoint"], device=s["device"], input_size=list(s["input_size"]) or None,
                       backend=s["backend"], precision=s["precision"], feature_dtype=s["feature_dtype"],
                       num_threads=s["num_threads"], log=log)
        except CheckpointError as exc:
            raise SetupError("checkpoint", str(exc)) from None
        except SwiftcastError as exc:  # the ONNX export / runtime of the chosen backend
            raise SetupError(("backend", "precision"), str(exc)) from None

    # --- what a checkpoint tells the outside world -------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return str(self.config.get("model_id", ""))

    @property
    def class_names(self) -> list[str]:
        return list(self.config.get("class_names") or [])

    @property
    def label_names(self) -> list[str]:
        """The class table to publish: the checkpoint's class names, else the Cityscapes trainId names."""
        return self.class_names or list(CLASS_NAMES)

    def describe(self) -> str:
        """One line: the model, its input size, device, backend and precision (the node's ready line)."""
        h, w = self.input_size
        return (f"model {self.model_id or '?'} at {h}x{w} on {self.device} "
                f"({self.backend_name} {self.precision})")

    def diagnostics(self) -> dict[str, str]:
        """Key/values for /diagnostics: what runs, and why this precision."""
        return {
            "model_id": self.model_id,
            "checkpoint": self.checkpoint,
            "input_size": "x".join(map(str, self.input_size)),
            "device": str(self.device),
            "backend": f"{self.backend_name} {self.precision}",
            "precision": f"{self.requested_precision} -> {self.precision} ({self.precision_reason})",
        }

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of the features for the current input size."""
        h, w = self.input_size
        return 128, -(-h // FEATURE_STRIDE), -(-w // FEATURE_STRIDE)

    # --- per frame ---------------------------------------------------------------------------------------------
    def preprocess(self, image: ColorImage | np.ndarray) -> torch.Tensor:
        """Camera image (ColorImage, or an RGB uint8 array) -> normalised (1, 3, H, W) at the model's size."""
        if isinstance(image, ColorImage):
            pixels, order = image.pixels, image.order
        else:
            pixels, order = image, "rgb"
        small = resize_rgb(np.ascontiguousarray(pixels), self.input_size)
        if order == "bgr":
            small = small[..., ::-1]
        return normalize_rgb(small, self.mean, self.std).unsqueeze(0)

    def __call__(self, image: ColorImage | np.ndarray, want_features: bool = True,
                 want_confidence: bool = False) -> Segmentation:
        """Segment one frame; labels (and the confidence, if wanted) come back at the frame's own size."""
        t0 = time.perf_counter()
        pixels = image.pixels if isinstance(image, ColorImage) else image
        out_size = (int(pixels.shape[0]), int(pixels.shape[1]))
        x = self.preprocess(image)
        labels, features, confidence = self.backend.run(x, want_features, want_confidence)
        t1 = time.perf_counter()
        labels = np.ascontiguousarray(resize_label(labels, out_size))
        if confidence is not None:
            confidence = np.ascontiguousarray(resize_label(confidence, out_size))
        t2 = time.perf_counter()
        return Segmentation(labels, features, (t1 - t0) * 1e3, (t2 - t0) * 1e3, confidence)


def choose_precision(backend: str, precision: str, device: torch.device | None = None,
                     cpu_features: Sequence[str] | None = None) -> tuple[str, str]:
    """(``fp32`` | ``int8``, why) for a requested precision; ``cpu_features`` replaces this CPU's feature list.

    ``auto`` picks int8 for ONNX Runtime on a CPU with int8 dot products (VNNI or AMX: about 2x fp32 there);
    without them int8 may gain a little or lose (16-bit multiplies): this gives fp32, and :class:`Segmenter` then
    times both exports and keeps int8 only where it is measurably faster, so auto never makes the node slower.
    """
    from swiftcast.hardware import INT8_FEATURES, cpu_int8_features, cpu_model

    check_precision(backend, precision)
    if precision != "auto":
        return precision, "set explicitly"
    if backend != "onnxruntime":
        return "fp32", f"backend {backend} runs fp32 only"
    if device is not None and device.type != "cpu":
        return "fp32", f"int8 is picked for CPUs only (device {device})"
    found = cpu_int8_features(cpu_features)
    cpu = "the CPU" if cpu_features is not None else cpu_model()
    if found:
        return "int8", f"{cpu} has {', '.join(found)} (int8 dot products)"
    return "fp32", f"{cpu} has none of {', '.join(INT8_FEATURES)} (no int8 dot products)"


#: on a CPU without int8 dot products ``precision: auto`` runs int8 only if it is at least this much faster there
INT8_MARGIN = 0.05


def time_exports(paths: Mapping[str, str | os.PathLike[str]], size: Sequence[int], num_threads: int = 0,
                 device: torch.device | None = None, rounds: int = 5) -> dict[str, float]:
    """Median milliseconds of one forward pass of each export (name -> path) on a blank frame, interleaved."""
    sessions = {name: ort_session(path, num_threads, device) for name, path in paths.items()}
    feeds = {name: {s.get_inputs()[0].name: np.zeros((1, 3, *size), np.float32)} for name, s in sessions.items()}
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for r in range(rounds + 1):
        for name, session in sessions.items():
            t0 = time.perf_counter()
            session.run(None, feeds[name])
            if r:  # the first pass allocates and picks kernels
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def faster_of(ms: Mapping[str, float]) -> str:
    """``int8`` if its time is at least :data:`INT8_MARGIN` below fp32's, else ``fp32``."""
    return "int8" if ms["int8"] <= (1.0 - INT8_MARGIN) * ms["fp32"] else "fp32"


def measured_choice(ms: Mapping[str, float]) -> tuple[str, str]:
    """(:func:`faster_of` ``ms``, the times it went by, as the log line says them)."""
    return faster_of(ms), f"measured here: int8 {ms['int8']:.1f} ms, fp32 {ms['fp32']:.1f} ms per frame"


def auto_precision(ms: Mapping[str, float]) -> tuple[str, str]:
    """(precision, why): what ``precision: auto`` runs with ONNX Runtime on this CPU, given both exports' times
    ``ms`` measured here (a benchmark's view of :class:`Segmenter`'s choice, which times them only on a CPU
    without int8 dot products)."""
    chosen, why = choose_precision("onnxruntime", "auto", torch.device("cpu"))
    if chosen == "int8":
        return chosen, why
    precision, measured = measured_choice(ms)
    return precision, f"{why}; {measured}"


def check_precision(backend: str, precision: str) -> None:
    """``precision`` is known and the backend can run it (one-line SwiftcastError otherwise)."""
    if precision not in PRECISIONS:
        raise SwiftcastError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "int8" and backend != "onnxruntime":
        raise SwiftcastError(f"precision int8 needs backend onnxruntime (backend is {backend!r})")


def _config_input_size(config: dict[str, Any], path: os.PathLike[str]) -> tuple[int, int]:
    size = config.get("input_size")
    try:
        checked = check_input_size(size)
    except SwiftcastError:
        checked = None
    if checked is None:
        raise CheckpointError(f"checkpoint {path}: config has no valid input_size [H, W] (got {size!r})")
    return checked
